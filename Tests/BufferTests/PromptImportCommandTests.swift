import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

/// `optune prompts import` as a process: standard input, exit codes and one-line errors.
@Suite("optune prompts import, run as a process")
struct PromptImportCommandTests {
    func count(_ sql: String, _ connection: Connection) async throws -> Int64 {
        try await connection.query(sql)[0].decode(0, as: Int64.self)
    }

    @Test func standardInputPlainAndGzipImports() async throws {
        try await TestDatabase.withFresh { database in
            let plain = try PromptFixtures.write(PromptFixtures.hhRLHF)
            let (status, output) = try await OptuneProcess.run(
                ["prompts", "import", "-", "--set", "hh"], databaseURL: database.url, standardInput: plain)
            #expect(status == 0, "\(output)")
            #expect(output.contains("imported 3"))
            let gz = try PromptFixtures.writeGzip(PromptFixtures.ultraFeedback)
            let (gzStatus, gzOutput) = try await OptuneProcess.run(
                ["prompts", "import", "-", "--set", "uf"], databaseURL: database.url, standardInput: gz)
            #expect(gzStatus == 0, "\(gzOutput)")
            let connection = try await database.connect()
            #expect(
                try await count(
                    "SELECT count(*) FROM optune.prompt_set_members m JOIN optune.prompt_sets s ON s.id = m.set_id WHERE s.name = 'uf'",
                    connection) == 3)
            #expect(try await count("SELECT count(*) FROM optune.prompts WHERE source = '<stdin>'", connection) == 6)
        }
    }

    @Test func oneBadLineFailsTheExitStatusUnlessAllowed() async throws {
        try await TestDatabase.withFresh { database in
            let path = try PromptFixtures.write([#"{"prompt": "good 1"}"#, #"{"prompt": null}"#, #"{"prompt": "good 2"}"#])
            let (status, output) = try await OptuneProcess.run(["prompts", "import", path, "--set", "a"], databaseURL: database.url)
            #expect(status == 1, "\(output)")
            #expect(output.contains("\(path):2: field \"prompt\" is null"))
            #expect(output.contains("1 line(s) rejected, more than --allow-errors 0"))
            let (allowed, allowedOutput) = try await OptuneProcess.run(
                ["prompts", "import", path, "--set", "b", "--allow-errors", "1"], databaseURL: database.url)
            #expect(allowed == 0, "\(allowedOutput)")
            let connection = try await database.connect()
            // Both runs imported the good lines (the first into set a, despite its status).
            #expect(try await count("SELECT count(*) FROM optune.prompt_set_members", connection) == 4)
        }
    }

    @Test func directoriesMissingFilesAndEmptyInputsFailWithOneLine() async throws {
        try await TestDatabase.withFresh { database in
            let empty = try PromptFixtures.write([""])
            for (arguments, expected) in [
                (["prompts", "import", FileManager.default.temporaryDirectory.path, "--set", "x"], "is a directory"),
                (["prompts", "import", "/nonexistent/p.jsonl", "--set", "x"], "cannot read /nonexistent/p.jsonl"),
                (["prompts", "import", empty, "--set", "x"], "nothing imported"),
                // Opens, but every read fails (EIO): the crash of issue 9 was a read error.
                (["prompts", "import", "/proc/self/mem", "--set", "x"], "cannot read /proc/self/mem"),
            ] {
                let child = try OptuneProcess(arguments, databaseURL: database.url)
                let status = await child.waitForExit(timeout: .seconds(60))
                #expect(!child.terminatedBySignal)
                #expect(status == 1, "\(child.output)")
                let errorLines = child.output.split(separator: "\n").filter { $0.hasPrefix("error:") }
                #expect(errorLines.count == 1 && errorLines[0].contains(expected), "\(child.output)")
            }
            let connection = try await database.connect()
            #expect(try await count("SELECT count(*) FROM optune.prompt_sets", connection) == 0)
        }
    }
}
