import Buffer
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@Suite("Importing prompts from JSONL")
struct PromptImportTests {
    func write(_ lines: [String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prompts-\(UUID().uuidString).jsonl").path
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func count(_ sql: String, _ buffer: ReplayBuffer) async throws -> Int64 {
        try await buffer.connection.query(sql)[0].decode(0, as: Int64.self)
    }

    @Test func eachMalformedLineIsReportedAtItsLineWithTheReason() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let path = try write([
                #"{"prompt": "fine"}"#,  // 1
                #"{"prompt": 42}"#,  // 2 wrong type
                #"not json"#,  // 3
                #"{"messages": [{"role": "user"}]}"#,  // 4 message without content
                #"{"text": "wrong key"}"#,  // 5 no prompt
                #"{"prompt": "ok", "split": "test"}"#,  // 6 bad split
                #"[1, 2]"#,  // 7 not an object
                "",  // 8 blank
                #"{"prompt": "x", "metadata": "nope"}"#,  // 9 metadata not object
                #"{"prompt": "", "chosen": "a", "rejected": "b"}"#,  // 10 empty prompt
                #"{"prompt": "kept too", "chosen": "a", "rejected": "b"}"#,  // 11 preference line, kept
            ])
            let errors = Mutex<[PromptLineError]>([])
            let summary = try await PromptImporter(setName: "s").run(
                files: [path], buffer: buffer, rejected: { e in errors.withLock { $0.append(e) } })
            let reported = errors.withLock { $0 }
            #expect(reported.map(\.line) == [2, 3, 4, 5, 6, 7, 9, 10])
            #expect(reported.allSatisfy { $0.file == path })
            #expect(reported[0].reason.contains("\"prompt\" must be a string or a list"))
            #expect(reported[1].reason.contains("not valid JSON"))
            #expect(reported[2].reason.contains("content"))
            #expect(reported[3].reason.contains("missing field \"prompt\""))
            #expect(reported[4].reason.contains("\"train\" or \"eval\""))
            #expect(reported[5].reason.contains("expected a JSON object"))
            #expect(reported[6].reason.contains("metadata"))
            #expect(reported[7].reason.contains("empty"))
            #expect(summary.rejected == 8)
            #expect(summary.blank == 1)
            #expect(summary.imported == 2)
            #expect(try await count("SELECT count(*) FROM optune.prompts", buffer) == 2)
        }
    }

    @Test func duplicatesAreCountedNotStoredTwice() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let path = try write([
                #"{"prompt": "a"}"#, #"{"prompt": "b"}"#, #"{"prompt": "a", "id": 7}"#,
                #"{"messages": [{"role": "user", "content": "hi"}]}"#,
                #"{"prompt": [{"content": "hi", "role": "user"}]}"#,  // same conversation, other key order
            ])
            let first = try await PromptImporter(setName: "s").run(files: [path], buffer: buffer)
            #expect(first.imported == 3)
            #expect(first.duplicates == 2)
            let second = try await PromptImporter(setName: "s").run(files: [path], buffer: buffer)
            #expect(second.imported == 0)
            #expect(second.duplicates == 5)
            let other = try await PromptImporter(setName: "other").run(files: [path], buffer: buffer)
            #expect(other.stored == 0 && other.linked == 3)
            #expect(try await count("SELECT count(*) FROM optune.prompts", buffer) == 3)
            #expect(try await count("SELECT count(*) FROM optune.prompt_set_members", buffer) == 6)
        }
    }

    @Test func splitsAndConversationalPromptsAreKept() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let path = try write([
                #"{"prompt": "t1"}"#, #"{"prompt": "e1", "split": "eval"}"#,
                #"{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], "split": "eval"}"#,
            ])
            _ = try await PromptImporter(setName: "s").run(files: [path], buffer: buffer)
            let set = try await buffer.promptSet(named: "s")
            #expect(try await buffer.promptIDs(inSet: set, split: .train).count == 1)
            #expect(try await buffer.promptIDs(inSet: set, split: .eval).count == 2)
            let roles = try await buffer.connection.query(
                "SELECT messages->1->>'role' FROM optune.prompts WHERE messages IS NOT NULL")[0].decode(0, as: String.self)
            #expect(roles == "user")
        }
    }

    @Test func strictModeStoresNothingWhenALineIsMalformed() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let path = try write((0..<50).map { #"{"prompt": "p\#($0)"}"# } + ["{broken"])
            var importer = PromptImporter(setName: "strict")
            importer.strict = true
            importer.batchSize = 10
            let summary = try await importer.run(files: [path], buffer: buffer)
            #expect(summary.rolledBack)
            #expect(summary.rejected == 1)
            #expect(try await count("SELECT count(*) FROM optune.prompts", buffer) == 0)
            #expect(try await count("SELECT count(*) FROM optune.prompt_sets", buffer) == 0)
        }
    }
}
