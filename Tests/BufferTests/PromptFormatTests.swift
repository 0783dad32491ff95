import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@testable import Buffer

/// Fixtures in the shapes of the datasets people have, written for these tests.
enum PromptFixtures {
    /// HuggingFaceH4/ultrafeedback_binarized (train_prefs): prompt, prompt_id, chosen/rejected
    /// conversations, messages (= chosen), scores.
    static let ultraFeedback = [
        #"{"prompt": "Write a haiku about rain.", "prompt_id": "a1", "chosen": [{"content": "Write a haiku about rain.", "role": "user"}, {"content": "Soft rain on tin roofs", "role": "assistant"}], "rejected": [{"content": "Write a haiku about rain.", "role": "user"}, {"content": "Rain.", "role": "assistant"}], "messages": [{"content": "Write a haiku about rain.", "role": "user"}, {"content": "Soft rain on tin roofs", "role": "assistant"}], "score_chosen": 8.0, "score_rejected": 3.0}"#,
        #"{"prompt": "Name three primes.", "prompt_id": "a2", "chosen": [{"content": "Name three primes.", "role": "user"}, {"content": "2, 3, 5", "role": "assistant"}], "rejected": [{"content": "Name three primes.", "role": "user"}, {"content": "1, 2, 3", "role": "assistant"}], "messages": [{"content": "Name three primes.", "role": "user"}, {"content": "2, 3, 5", "role": "assistant"}], "score_chosen": 9.0, "score_rejected": 2.0}"#,
        // The SFT split's shape: messages only; the prompt is the conversation minus its answer.
        #"{"prompt_id": "a3", "messages": [{"content": "Be terse.", "role": "system"}, {"content": "Capital of Peru?", "role": "user"}, {"content": "Lima", "role": "assistant"}]}"#,
    ]

    /// Anthropic/hh-rlhf: chosen/rejected transcripts, no prompt field.
    static let hhRLHF = [
        #"{"chosen": "\n\nHuman: What is a good name for a cat?\n\nAssistant: Whiskers is a classic.", "rejected": "\n\nHuman: What is a good name for a cat?\n\nAssistant: Dog."}"#,
        #"{"chosen": "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke.\n\nAssistant: Why did the chicken cross the road?", "rejected": "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke.\n\nAssistant: No."}"#,
        #"{"chosen": "\n\nHuman: How do I boil an egg?\n\nAssistant: Put it in boiling water for 8 minutes.", "rejected": "\n\nHuman: How do I boil an egg?\n\nAssistant: Microwave it."}"#,
    ]

    /// TRL's conversational preference format (prompt as a message list), and its implicit-prompt form.
    static let trlConversational = [
        #"{"prompt": [{"role": "user", "content": "What color is the sky?"}], "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Green."}]}"#,
        #"{"prompt": [{"role": "system", "content": "You are kind."}, {"role": "user", "content": "Say hi."}], "chosen": [{"role": "assistant", "content": "Hi!"}], "rejected": [{"role": "assistant", "content": "No."}]}"#,
        #"{"chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}], "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}]}"#,
        #"{"prompt": [{"role": "user", "content": "What is TRL?"}]}"#,
    ]

    static func write(_ lines: [String], suffix: String = "jsonl") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prompts-\(UUID().uuidString).\(suffix)").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `gzip -c` of `lines` (the system gzip, so the reader is checked against a real encoder).
    static func writeGzip(_ lines: [String]) throws -> String {
        let plain = try write(lines)
        let path = plain + ".gz"
        try runGzip(["-c", plain], to: path)
        return path
    }

    static func runGzip(_ arguments: [String], to path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip"] + arguments
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestDatabaseError(message: "gzip \(arguments) failed") }
    }
}

@Suite("Importing the datasets people have")
struct PromptFormatTests {
    func count(_ sql: String, _ buffer: ReplayBuffer) async throws -> Int64 {
        try await buffer.connection.query(sql)[0].decode(0, as: Int64.self)
    }

    func importing(_ path: String, _ buffer: ReplayBuffer, set: String = "s", configure: (inout PromptImporter) -> Void = { _ in })
        async throws -> (PromptImporter.Summary, [PromptLineError])
    {
        let errors = Mutex<[PromptLineError]>([])
        var importer = PromptImporter(setName: set)
        configure(&importer)
        let summary = try await importer.run(files: [path], buffer: buffer, rejected: { e in errors.withLock { $0.append(e) } })
        return (summary, errors.withLock { $0 })
    }

    @Test func ultraFeedbackBinarizedTakesThePromptOrTheConversationWithoutItsAnswer() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let (summary, errors) = try await importing(try PromptFixtures.write(PromptFixtures.ultraFeedback), buffer)
            #expect(errors.isEmpty)
            #expect(summary.imported == 3 && summary.rejected == 0)
            let texts = try await buffer.connection.query("SELECT text FROM optune.prompts WHERE text IS NOT NULL ORDER BY text")
                .map { try $0.decode(0, as: String.self) }
            #expect(texts == ["Name three primes.", "Write a haiku about rain."])
            let conversation = try await buffer.connection.query(
                "SELECT jsonb_array_length(messages), messages->-1->>'role', messages->-1->>'content' FROM optune.prompts WHERE messages IS NOT NULL"
            )
            #expect(conversation.count == 1)
            #expect(try conversation[0].decode(0, as: Int.self) == 2)
            #expect(try conversation[0].decode(1, as: String.self) == "user")
            #expect(try conversation[0].decode(2, as: String.self) == "Capital of Peru?")
        }
    }

    @Test func hhRLHFTranscriptsBecomeChatMessagesBeforeTheLastAssistantTurn() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let (summary, errors) = try await importing(try PromptFixtures.write(PromptFixtures.hhRLHF), buffer)
            #expect(errors.isEmpty)
            #expect(summary.imported == 3)
            #expect(
                try await count("SELECT count(*) FROM optune.prompts WHERE text IS NULL AND messages->-1->>'role' = 'user'", buffer) == 3)
            let multiTurn = try await buffer.connection.query(
                "SELECT messages::text FROM optune.prompts WHERE jsonb_array_length(messages) = 3")
            #expect(multiTurn.count == 1)
            let json = try multiTurn[0].decode(0, as: String.self)
            #expect(
                json
                    == #"[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": "Tell me a joke."}]"#
            )
        }
    }

    @Test func hhTranscriptSplitting() {
        let turns = PromptLineParser.hhTurns("\n\nHuman: a\n\nAssistant: b\n\nHuman: c") as? [[String: String]]
        #expect(turns == [["role": "user", "content": "a"], ["role": "assistant", "content": "b"], ["role": "user", "content": "c"]])
        #expect(PromptLineParser.hhTurns("Human: a\n\nAssistant: b")?.count == 2)
        #expect(PromptLineParser.hhTurns("The sky is blue.") == nil)
        #expect(PromptLineParser.hhTurns("preamble\n\nHuman: a") == nil)
    }

    @Test func trlConversationalPromptsAreStoredAsMessages() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let (summary, errors) = try await importing(try PromptFixtures.write(PromptFixtures.trlConversational), buffer)
            #expect(errors.isEmpty)
            #expect(summary.imported == 4)
            #expect(try await count("SELECT count(*) FROM optune.prompts WHERE messages IS NOT NULL AND text IS NULL", buffer) == 4)
            // The implicit-prompt line keeps the user turn only.
            #expect(
                try await count(#"SELECT count(*) FROM optune.prompts WHERE messages = '[{"role": "user", "content": "2+2?"}]'"#, buffer)
                    == 1)
        }
    }

    @Test func gzipFilesImportLikeTheirPlainText() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let gz = try PromptFixtures.writeGzip(PromptFixtures.hhRLHF + PromptFixtures.ultraFeedback)
            let (summary, errors) = try await importing(gz, buffer)
            #expect(errors.isEmpty)
            #expect(summary.imported == 6)
            // Two gzip members back to back (cat a.gz b.gz) are one stream.
            let first = try PromptFixtures.writeGzip(PromptFixtures.trlConversational)
            let second = try PromptFixtures.writeGzip([#"{"prompt": "one more"}"#])
            let joined = first + ".joined.gz"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: first))
            bytes.append(try Data(contentsOf: URL(fileURLWithPath: second)))
            try bytes.write(to: URL(fileURLWithPath: joined))
            let (members, _) = try await importing(joined, buffer, set: "t")
            #expect(members.imported == 5)
            // A truncated stream is an error naming the file, not a crash or a silent short import.
            let truncated = first + ".cut.gz"
            try Data(contentsOf: URL(fileURLWithPath: first)).dropLast(10).write(to: URL(fileURLWithPath: truncated))
            await #expect(throws: LineReaderError.self) { _ = try await importing(truncated, buffer, set: "u") }
            #expect(try await buffer.existingPromptSet(named: "u") == nil)
            // So is a corrupt one (zlib's CRC check at the latest).
            var corrupt = try Data(contentsOf: URL(fileURLWithPath: first))
            // (Past the header, which holds the original file name: the middle of the deflate data.)
            for offset in (corrupt.count / 2)..<(corrupt.count / 2 + 8) { corrupt[offset] ^= 0x5A }
            let corruptPath = first + ".bad.gz"
            try corrupt.write(to: URL(fileURLWithPath: corruptPath))
            await #expect(throws: LineReaderError.self) { _ = try await importing(corruptPath, buffer, set: "v") }
        }
    }

    @Test func nullNulAndOversizedLinesAreReportedAtTheirLineAndTheRestIsImported() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let long = String(repeating: "x", count: 300)
            let path = try PromptFixtures.write([
                #"{"prompt": "first"}"#,  // 1
                #"{"prompt": null}"#,  // 2
                #"{"prompt": "nul \u0000 inside"}"#,  // 3
                #"{"messages": [{"role": "user", "content": "a\u0000"}]}"#,  // 4
                #"{"prompt": "ok", "metadata": {"k": "v\u0000"}}"#,  // 5
                #"{"prompt": "\#(long)"}"#,  // 6 over the limit
                #"{"prompt": "after"}"#,  // 7
                #"{"messages": [{"role": "assistant", "content": "only an answer"}]}"#,  // 8
                #"{"prompt": "last"}"#,  // 9
            ])
            let (summary, errors) = try await importing(path, buffer) {
                $0.maxLineBytes = 200; $0.batchSize = 2
            }
            #expect(errors.map(\.line) == [2, 3, 4, 5, 6, 8])
            #expect(errors.allSatisfy { $0.description.hasPrefix("\(path):\($0.line): ") })
            #expect(errors[0].reason.contains("null"))
            #expect(errors[1].reason.contains("NUL"))
            #expect(errors[2].reason.contains("NUL"))
            #expect(errors[3].reason.contains("metadata"))
            #expect(errors[4].reason.contains("longer than the limit of 200 bytes"))
            #expect(errors[5].reason.contains("empty list"))
            #expect(summary.imported == 3)
            #expect(summary.rejected == 6)
            let texts = try await buffer.connection.query("SELECT text FROM optune.prompts ORDER BY id").map {
                try $0.decode(0, as: String.self)
            }
            #expect(texts == ["first", "after", "last"])
        }
    }

    @Test func customKeysAndAsChat() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let path = try PromptFixtures.write([
                #"{"instruction": "Translate: chat", "prompt": "ignored"}"#,
                #"{"instruction": "Translate: chien"}"#,
                #"{"prompt": "no instruction"}"#,
            ])
            let (summary, errors) = try await importing(path, buffer) {
                $0.options = PromptLineOptions(promptKey: "instruction", asChat: true)
            }
            #expect(summary.imported == 2)
            #expect(errors.map(\.line) == [3])
            #expect(errors.first?.reason.contains(#"missing field "instruction""#) == true)
            #expect(
                try await count(
                    #"SELECT count(*) FROM optune.prompts WHERE text IS NULL AND messages = '[{"role": "user", "content": "Translate: chat"}]'"#,
                    buffer) == 1)
            let convo = try PromptFixtures.write([
                #"{"dialog": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "messages": "not read"}"#
            ])
            let (second, secondErrors) = try await importing(convo, buffer, set: "d") {
                $0.options = PromptLineOptions(messagesKey: "dialog")
            }
            #expect(secondErrors.isEmpty && second.imported == 1)
            #expect(
                try await count(#"SELECT count(*) FROM optune.prompts WHERE messages = '[{"role": "user", "content": "q"}]'"#, buffer) == 1)
        }
    }

    @Test func anImportThatStoresNothingLeavesNoSet() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let path = try PromptFixtures.write([#"{"prompt": null}"#, "", #"{"text": "wrong key"}"#])
            let (summary, errors) = try await importing(path, buffer, set: "nothing")
            #expect(summary.accepted == 0 && errors.count == 2)
            #expect(try await buffer.existingPromptSet(named: "nothing") == nil)
            #expect(try await count("SELECT count(*) FROM optune.prompt_sets", buffer) == 0)
        }
    }

    @Test func aDirectoryOrAMissingFileIsAReadErrorNamingIt() async throws {
        let directory = FileManager.default.temporaryDirectory.path
        #expect(throws: LineReaderError.self) { try LineReader(path: directory).validate() }
        do {
            try LineReader(path: directory).validate()
        } catch {
            #expect(error.description.contains("is a directory"))
        }
        #expect(throws: LineReaderError.self) { try LineReader(path: "/nonexistent/\(UUID().uuidString).jsonl").validate() }
    }

    @Test func aLargeHighlyCompressibleGzipDecodesCompletely() throws {
        // ~3 MB of near-identical lines compress to a few KB: one read holds the whole file and
        // inflates to many output buffers.
        let lines = (0..<40_000).map { #"{"prompt": "Please repeat the number \#($0) back to me, exactly as written here."}"# }
        let reader = try LineReader(path: try PromptFixtures.writeGzip(lines)).open()
        var count = 0
        var last = ""
        while let line = try reader.next() {
            guard case .bytes(let bytes) = line.content else { continue }
            count += 1
            last = String(decoding: bytes, as: UTF8.self)
        }
        #expect(count == 40_000)
        #expect(last == lines[39_999])
    }

    @Test func linesSurviveSmallChunksAndLongLinesAreSkippedAcrossChunks() throws {
        let path = try PromptFixtures.write(["short", String(repeating: "y", count: 50), "", "tail\r"])
        let reader = try LineReader(path: path, maxLineBytes: 20, chunkSize: 7).open()
        var seen: [String] = []
        while let line = try reader.next() {
            switch line.content {
            case .bytes(let bytes): seen.append("\(line.number):" + String(decoding: bytes, as: UTF8.self))
            case .tooLong(let count): seen.append("\(line.number):long \(count)")
            }
        }
        #expect(seen == ["1:short", "2:long 50", "3:", "4:tail"])
    }
}
