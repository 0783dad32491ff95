import Buffer
import Export
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Export options: schema, gap filters, prompt ids, corrupt blobs")
struct ExportOptionsTests {
    func export(_ scenario: GapScenario, format: ExportFormat, options: ExportOptions = ExportOptions()) async throws -> (
        lines: [[String: Any]], summary: ExportSummary
    ) {
        let path = try scratchDirectory() + "/d0.jsonl"
        let summary = try await Exporter.export(
            buffer: scenario.buffer, run: scenario.run, t: 0, format: format, to: path, options: options)
        #expect(summary.path == path)
        return (try jsonLines(try Data(contentsOf: URL(fileURLWithPath: path))), summary)
    }

    @Test func aMixedTextAndChatSetExportsConversationalOnEveryLine() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: Array(repeating: 0.5, count: 6), isChat: { $0 % 2 == 0 })
            for format in [ExportFormat.trl, .openrlhf] {
                let (lines, summary) = try await export(scenario, format: format)
                #expect(lines.count == 6 && summary.conversational)
                var sawText = 0
                var sawChat = 0
                for line in lines {
                    let id = Int64(try #require(line["prompt_id"] as? Int))
                    let prompt = try #require(line["prompt"] as? [[String: Any]], "prompt of \(id) is not a message list")
                    #expect(prompt.count == 1 && prompt[0]["role"] as? String == "user")
                    let content = try #require(prompt[0]["content"] as? String)
                    if scenario.chatPrompts.contains(id) {
                        #expect(content.hasPrefix("chat question "))
                        sawChat += 1
                    } else {
                        // The text prompt, wrapped as one user message with its exact content.
                        #expect(content.hasPrefix("text prompt ") && content.hasSuffix("with \"quotes\""))
                        sawText += 1
                    }
                    for side in ["chosen", "rejected"] {
                        let messages = try #require(line[side] as? [[String: Any]], "\(side) of \(id) is not a message list")
                        #expect(messages.count == 1 && messages[0]["role"] as? String == "assistant" && messages[0]["content"] is String)
                    }
                }
                #expect(sawText == 3 && sawChat == 3)
                // One schema: every line has the same keys.
                #expect(Set(lines.map { $0.keys.sorted().joined(separator: ",") }).count == 1)
            }
        }
    }

    @Test func aTextOnlySetStaysStandard() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5, 0.5])
            let (lines, summary) = try await export(scenario, format: .trl)
            #expect(!summary.conversational && lines.count == 2)
            #expect(lines.allSatisfy { $0["prompt"] is String && $0["chosen"] is String && $0["rejected"] is String })
        }
    }

    @Test func gapFiltersLeaveOutTheRightPairs() async throws {
        try await TestDatabase.withFresh { database in
            let gaps = [0, 0.1, 0, 0.5, 1.0, 0, 0.3]
            let scenario = try await GapScenario.make(in: database, gaps: gaps)
            let zeroInSQL: Int = try await scenario.buffer.connection.query(
                "SELECT count(*) FROM optune.pairs WHERE run_id = $1 AND zero_gap", [scenario.run])[0].decode(0)
            #expect(zeroInSQL == 3)

            let (all, allSummary) = try await export(scenario, format: .trl, options: ExportOptions(zeroGap: .followRun))
            #expect(all.count == gaps.count && allSummary.skipped == 0)

            let (nonZero, nonZeroSummary) = try await export(scenario, format: .trl, options: ExportOptions(zeroGap: .skip))
            #expect(nonZero.count == gaps.count - zeroInSQL && nonZeroSummary.skipped == zeroInSQL)
            #expect(nonZero.allSatisfy { ($0["gap"] as? Double ?? 0) > 0 })

            let (wide, wideSummary) = try await export(scenario, format: .tokens, options: ExportOptions(zeroGap: .keep, minGap: 0.3))
            let expectedWide = gaps.filter { $0 >= 0.3 }.count
            #expect(wide.count == expectedWide && wideSummary.skipped == gaps.count - expectedWide)
            for line in wide {
                let id = Int64(try #require(line["prompt_id"] as? Int))
                #expect(try #require(scenario.gapByPrompt[id]) >= 0.3)
            }

            // The library checks the minimum gap too.
            await #expect(throws: ExportError.self) {
                _ = try await export(scenario, format: .trl, options: ExportOptions(minGap: -.infinity))
            }
        }
    }

    @Test func theLibraryRefusesIterationsThatDoNotExist() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5])
            let path = try scratchDirectory() + "/d.jsonl"
            for t in [3, -1, Int(Int32.max) + 1, Int.max] {
                await #expect(throws: ExportError.self, "t = \(t)") {
                    _ = try await Exporter.export(buffer: scenario.buffer, run: scenario.run, t: t, format: .trl, to: path)
                }
            }
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(try await scenario.exportRows() == 0)
            // Out-of-range t on the Buffer read paths is an error, not a trap.
            await #expect(throws: BufferError.self) { _ = try await scenario.buffer.trainingPairs(run: scenario.run, t: Int.max) }
            await #expect(throws: BufferError.self) { _ = try await scenario.buffer.responses(run: scenario.run, t: -1) }
        }
    }

    @Test func aSymlinkKeepsPointingAtTheExportedFile() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5, 0.5])
            let directory = try scratchDirectory()
            let file = directory + "/real.jsonl"
            let link = directory + "/latest.jsonl"
            try Data("old\n".utf8).write(to: URL(fileURLWithPath: file))
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: file)
            let summary = try await Exporter.export(buffer: scenario.buffer, run: scenario.run, t: 0, format: .trl, to: link)
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == file)
            #expect(try jsonLines(try Data(contentsOf: URL(fileURLWithPath: file))).count == summary.rows)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: directory)) == ["real.jsonl", "latest.jsonl"])
        }
    }

    @Test func theDefaultFollowsTheRunsSkipZeroGap() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0, 0.2, 0, 0.4], skipZeroGap: true)
            let (followed, summary) = try await export(scenario, format: .trl)
            #expect(followed.count == 2 && summary.skipped == 2)
            let (kept, _) = try await export(scenario, format: .trl, options: ExportOptions(zeroGap: .keep))
            #expect(kept.count == 4)
        }
    }

    @Test func tokensFormatCarriesStoredPromptIDs() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5, 0.5, 0.5])
            let prompts = scenario.gapByPrompt.keys.sorted()
            // Prompt 0: ids as the generation server reported them (responses.prompt_tokens);
            // prompt 1: ids stored with the prompt, which win; prompt 2: none stored.
            try await scenario.buffer.connection.execute(
                "UPDATE optune.responses SET prompt_tokens = tokens WHERE prompt_id = $1", [prompts[0]])
            try await scenario.buffer.connection.execute(
                """
                UPDATE optune.prompts SET tokens = (SELECT tokens FROM optune.responses WHERE prompt_id = $1 AND sample_index = 1)
                WHERE id = $1
                """, [prompts[1]])
            let responses = try await scenario.buffer.responses(run: scenario.run, t: 0)
            func ids(prompt: Int64, sample: Int) throws -> [UInt32] {
                try #require(responses.first { $0.prompt == prompt && $0.sampleIndex == sample }?.tokens)
            }
            let (lines, _) = try await export(scenario, format: .tokens)
            let byPrompt = Dictionary(uniqueKeysWithValues: lines.map { (Int64($0["prompt_id"] as? Int ?? -1), $0) })
            let chosenOfFirst = try #require(byPrompt[prompts[0]]?["chosen_response_id"] as? Int)
            let chosenResponse = try #require(responses.first { $0.id == Int64(chosenOfFirst) })
            #expect((byPrompt[prompts[0]]?["prompt_ids"] as? [Int])?.map(UInt32.init) == chosenResponse.tokens)
            #expect((byPrompt[prompts[1]]?["prompt_ids"] as? [Int])?.map(UInt32.init) == (try ids(prompt: prompts[1], sample: 1)))
            #expect(byPrompt[prompts[2]]?["prompt_ids"] is NSNull)
        }
    }

    @Test func aCorruptBlobNamesTheResponseOnEveryReadPath() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5, 0.5, 0.5])
            let prompt = try #require(scenario.gapByPrompt.keys.sorted().last)
            let bad = try await scenario.chosenResponse(ofPrompt: prompt)
            try await scenario.corruptTokens(ofResponse: bad)
            func check(_ read: () async throws -> Void) async {
                do {
                    try await read()
                    Issue.record("reading a corrupt blob succeeded")
                } catch let error as CorruptTokenBlob {
                    #expect(error.response == bad && error.run == scenario.run && error.t == 0 && error.prompt == prompt)
                    #expect(error.column == .responseTokens)
                    #expect(error.description.contains("response \(bad) (run \(scenario.run), t 0"))
                    #expect(!error.description.contains("\n"))
                } catch {
                    Issue.record("expected CorruptTokenBlob, got \(error)")
                }
            }
            let buffer = scenario.buffer
            let run = scenario.run
            await check { _ = try await buffer.trainingPairs(run: run, t: 0) }
            await check { _ = try await buffer.responses(run: run, t: 0) }
            await check { _ = try await buffer.responses(run: run, t: 0, prompts: [prompt]) }
            await check { try await buffer.forEachExportPage(run: run, t: 0, content: .tokens) { _ in } }
            let path = try scratchDirectory() + "/d0.jsonl"
            await check { _ = try await Exporter.export(buffer: buffer, run: run, t: 0, format: .tokens, to: path) }
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(try await scenario.exportRows() == 0)
            // Formats that need only text do not read the blob.
            _ = try await Exporter.export(buffer: buffer, run: run, t: 0, format: .trl, to: path)
            #expect(try await scenario.exportRows() == 1)
        }
    }
}
