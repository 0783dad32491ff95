import Buffer
import Export
import Foundation
import Postgres
import Selection
import TestSupport
import Testing

/// A scored iteration 0 with D_0 built, over `prompts` (text or messages).
func exportScenario(in database: TestDatabase, conversational: Bool) async throws -> BufferScenario {
    let buffer = ReplayBuffer(connection: try await database.connect())
    let set = try await buffer.promptSet(named: "export")
    let records = (0..<6).map { i in
        conversational
            ? PromptRecord(messagesJSON: #"[{"content":"question \#(i) \"quoted\"","role":"user"}]"#)
            : PromptRecord(text: "prompt \(i) with \"quotes\", a tab\tand ü")
    }
    _ = try await buffer.storePrompts(records, inSet: set, defaultSplit: .train, source: "test")
    let prompts = try await buffer.promptIDs(inSet: set, split: .train)
    let model = try await buffer.rewardModel(name: "m", version: "1", backend: "test")
    var config = RunConfig()
    config.basePolicy = nil
    let run = try await buffer.createRun(name: "export", promptSetID: set, rewardModelID: model, config: config)
    let policy = try await buffer.registerPolicy(run: run, t: 0, parent: nil, uri: "test://pi0")
    try await buffer.openIteration(run: run, t: 0, policy: policy, rho: 1, strategy: .full)
    try await buffer.enqueueGeneration(run: run, t: 0, policy: policy, purpose: .train, promptIDs: prompts)
    let scenario = BufferScenario(buffer: buffer, setID: set, rewardModel: model, run: run, policy: policy, prompts: prompts)
    try await buffer.insertResponses(scenario.responses())
    let stored = try await buffer.responses(run: run, t: 0)
    try await buffer.recordRewards(
        stored.map { NewReward(response: $0.id, rewardModel: model, score: Double($0.sampleIndex) * 0.25 + Double($0.prompt % 3) * 0.1) })
    _ = try await buffer.connection.run { c in
        try PairBuilder.build(run: run, t: 0, rewardModel: model, beta2: 5, previousPairsRun: nil, on: c)
    }
    return scenario
}

@Suite("Exporting training sets")
struct ExportRoundTripTests {
    func exportLines(_ scenario: BufferScenario, format: ExportFormat, suffix: String = ".jsonl") async throws -> (
        lines: [[String: Any]], summary: Exporter.Summary, path: String
    ) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)\(suffix)").path
        let summary = try await Exporter(format: format).export(buffer: scenario.buffer, run: scenario.run, t: 0, path: path)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        if suffix.hasSuffix(".gz") {
            let unzip = Process()
            unzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
            unzip.arguments = ["-dc", path]
            let pipe = Pipe()
            unzip.standardOutput = pipe
            try unzip.run()
            data = pipe.fileHandleForReading.readDataToEndOfFile()
            unzip.waitUntilExit()
            #expect(unzip.terminationStatus == 0)
        }
        let lines = try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        return (lines, summary, path)
    }

    /// Pairs as SQL sees them, keyed by prompt id.
    func pairsFromSQL(_ scenario: BufferScenario) async throws -> [Int64: (chosen: Int64, rejected: Int64, gap: Double, weight: Double)] {
        var result: [Int64: (Int64, Int64, Double, Double)] = [:]
        try await scenario.buffer.forEachPairPage(run: scenario.run, t: 0) { page in
            for p in page { result[p.prompt] = (p.chosenResponse, p.rejectedResponse, p.gap, p.weight) }
        }
        return result
    }

    @Test func trlExportFollowsTRLsColumnRulesAndMatchesSQL() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await exportScenario(in: database, conversational: false)
            let (lines, summary, path) = try await exportLines(scenario, format: .trl)
            let expected = try await pairsFromSQL(scenario)
            #expect(lines.count == 6 && summary.rows == 6)
            for line in lines {
                // TRL's standard preference format: prompt, chosen and rejected are strings.
                let prompt = try #require(line["prompt"] as? String)
                #expect(prompt.hasPrefix("prompt ") && prompt.contains("\"quotes\"") && prompt.contains("\t"))
                #expect(line["chosen"] is String && line["rejected"] is String)
                let id = Int64(line["prompt_id"] as! Int)
                let pair = try #require(expected[id])
                #expect(Int64(line["chosen_response_id"] as! Int) == pair.chosen)
                #expect(Int64(line["rejected_response_id"] as! Int) == pair.rejected)
                #expect(abs((line["weight"] as! Double) - pair.weight) < 1e-12)
                #expect(abs((line["gap"] as! Double) - pair.gap) < 1e-12)
                #expect(line["chosen_reward"] is Double && line["origin"] as? String == "regenerated")
            }
            // The export is recorded with the file's real size and sha256.
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            var hash = SHA256()
            hash.update(Array(data))
            let row = try await scenario.buffer.connection.query("SELECT rows, bytes, sha256, format FROM optune.exports")[0]
            #expect(try row.decode(0, as: Int.self) == 6)
            #expect(try row.decode(1, as: Int.self) == data.count)
            #expect(try row.decode(2, as: String.self) == hash.hexDigest())
            #expect(try row.decode(3, as: String.self) == "trl")
        }
    }

    @Test func conversationalPromptsExportMessageLists() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await exportScenario(in: database, conversational: true)
            let (lines, _, _) = try await exportLines(scenario, format: .trl)
            #expect(lines.count == 6)
            for line in lines {
                let prompt = try #require(line["prompt"] as? [[String: Any]])
                #expect(prompt.first?["role"] as? String == "user")
                let chosen = try #require(line["chosen"] as? [[String: Any]])
                #expect(chosen.count == 1 && chosen[0]["role"] as? String == "assistant" && chosen[0]["content"] is String)
                #expect((line["rejected"] as? [[String: Any]])?.first?["role"] as? String == "assistant")
            }
        }
    }

    @Test func openRLHFExportHasItsKeysAndTheMargin() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await exportScenario(in: database, conversational: false)
            let (lines, _, _) = try await exportLines(scenario, format: .openrlhf, suffix: ".jsonl.gz")
            let expected = try await pairsFromSQL(scenario)
            #expect(lines.count == 6)
            for line in lines {
                #expect(line["prompt"] is String && line["chosen"] is String && line["rejected"] is String)
                let pair = try #require(expected[Int64(line["prompt_id"] as! Int)])
                #expect(abs((line["margin"] as! Double) - pair.gap) < 1e-12)
            }
        }
    }

    @Test func tokenExportRoundTripsTheIds() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await exportScenario(in: database, conversational: false)
            let (lines, _, _) = try await exportLines(scenario, format: .tokens)
            let responses = try await scenario.buffer.responses(run: scenario.run, t: 0)
            let byID = Dictionary(uniqueKeysWithValues: responses.map { ($0.id, $0.tokens!) })
            #expect(lines.count == 6)
            for line in lines {
                let chosen = (line["chosen_ids"] as! [Int]).map(UInt32.init)
                let rejected = (line["rejected_ids"] as! [Int]).map(UInt32.init)
                #expect(chosen == byID[Int64(line["chosen_response_id"] as! Int)])
                #expect(rejected == byID[Int64(line["rejected_response_id"] as! Int)])
            }
        }
    }
}
