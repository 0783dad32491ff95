import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

/// `optune export` as a real process: failures give one clear line, a non-zero exit, no
/// `optune.exports` row, and never a damaged or partial file.
@Suite("Export failures through the CLI")
struct ExportFailureTests {
    func export(_ scenario: GapScenario, _ database: TestDatabase, output: String, format: String = "trl", extra: [String] = [])
        async throws -> (Int32, String)
    {
        try await OptuneProcess.run(
            ["export", "--run", scenario.name, "--iteration", "0", "--format", format, "-o", output] + extra, databaseURL: database.url)
    }

    /// Files in `directory` other than `keep`.
    func leftovers(in directory: String, keeping keep: Set<String> = []) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { !keep.contains($0) }
    }

    @Test func devFullFailsClearlyAndRecordsNothing() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5, 0.5, 0.5])
            for format in ["trl", "tokens"] {
                let (status, text) = try await export(scenario, database, output: "/dev/full", format: format)
                #expect(status != 0, "export to /dev/full exited 0: \(text)")
                #expect(text.contains("cannot write /dev/full: No space left on device"), "\(text)")
                #expect(!text.contains("exported "))
                // One line of error.
                #expect(text.split(separator: "\n").count == 1, "\(text)")
            }
            #expect(try await scenario.exportRows() == 0)
        }
    }

    @Test func aFailedReExportLeavesThePreviousFileByteIdentical() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5, 0.5, 0.5, 0.5])
            let directory = try scratchDirectory()
            let names = ["d0.jsonl", "d0.jsonl.gz"]
            var good: [String: Data] = [:]
            for name in names {
                let (status, text) = try await export(scenario, database, output: directory + "/" + name, format: "tokens")
                #expect(status == 0, "\(text)")
                good[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
            }
            #expect(try await scenario.exportRows() == 2)
            // Corrupt the last pair's chosen blob: the re-export fails after encoding earlier lines.
            let prompt = try #require(scenario.gapByPrompt.keys.max())
            let bad = try await scenario.chosenResponse(ofPrompt: prompt)
            try await scenario.corruptTokens(ofResponse: bad)
            for name in names {
                let (status, text) = try await export(scenario, database, output: directory + "/" + name, format: "tokens")
                #expect(status != 0 && status != 64, "\(text)")
                #expect(text.contains("corrupt token blob in responses.tokens of response \(bad) (run \(scenario.run), t 0"), "\(text)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)) == good[name])
            }
            #expect(try await scenario.exportRows() == 2)
            #expect(try leftovers(in: directory, keeping: Set(names)).isEmpty)
        }
    }

    @Test func aFileSizeLimitFailsWithoutAPartialFile() async throws {
        try await TestDatabase.withFresh { database in
            // Enough pairs that the output is far over the limit below (1024 bytes in dash's 512-byte blocks).
            let scenario = try await GapScenario.make(in: database, gaps: Array(repeating: 0.5, count: 40))
            let directory = try scratchDirectory()
            let existing = directory + "/previous.jsonl"
            try Data("previous good content\n".utf8).write(to: URL(fileURLWithPath: existing))
            for output in [directory + "/new.jsonl", existing] {
                let child = Process()
                child.executableURL = URL(fileURLWithPath: "/bin/sh")
                child.arguments = [
                    "-c", "ulimit -f 2; exec \"$0\" \"$@\"", try optuneExecutable(),
                    "export", "--run", scenario.name, "--iteration", "0", "--format", "tokens", "-o", output,
                ]
                let (status, signaled, text) = try await runToEnd(child, databaseURL: database.url)
                #expect(!signaled && status != 0, "\(text)")
                #expect(text.contains("File too large"), "\(text)")
            }
            #expect(!FileManager.default.fileExists(atPath: directory + "/new.jsonl"))
            #expect(try String(contentsOfFile: existing, encoding: .utf8) == "previous good content\n")
            #expect(try leftovers(in: directory, keeping: ["previous.jsonl"]).isEmpty)
            #expect(try await scenario.exportRows() == 0)
        }
    }

    @Test func aPipeWhoseReaderLeftFailsClearly() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5, 0.5, 0.5])
            let child = Process()
            child.executableURL = URL(fileURLWithPath: try optuneExecutable())
            child.arguments = ["export", "--run", scenario.name, "--iteration", "0", "-o", "-"]
            let output = Pipe()
            child.standardOutput = output
            let (status, signaled, text) = try await runToEnd(child, databaseURL: database.url) {
                // The reader leaves before the export writes anything.
                try output.fileHandleForReading.close()
            }
            #expect(!signaled, "optune died of a signal: \(text)")
            #expect(status != 0)
            #expect(text.contains("cannot write to standard output: Broken pipe"), "\(text)")
            #expect(try await scenario.exportRows() == 0)

            // The same export to a standard output that stays open succeeds and is recorded.
            let capture = try scratchDirectory() + "/stdout.jsonl"
            _ = FileManager.default.createFile(atPath: capture, contents: nil)
            let reader = Process()
            reader.executableURL = URL(fileURLWithPath: try optuneExecutable())
            reader.arguments = ["export", "--run", scenario.name, "--iteration", "0", "-o", "-"]
            reader.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: capture))
            let (okStatus, _, okText) = try await runToEnd(reader, databaseURL: database.url)
            #expect(okStatus == 0, "\(okText)")
            #expect(try jsonLines(try Data(contentsOf: URL(fileURLWithPath: capture))).count == 3)
            let path: String = try await scenario.buffer.connection.query("SELECT path FROM optune.exports")[0].decode(0)
            #expect(path == "(stdout)")
        }
    }

    @Test func outOfRangeAndMissingIterationsAreClearErrors() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5, 0.5])
            let path = try scratchDirectory() + "/d.jsonl"
            let cases: [([String], String)] = [
                (
                    ["export", "--run", scenario.name, "--iteration", "99999999999", "-o", path],
                    "--iteration must be between 0 and 2147483647"
                ),
                (
                    ["export", "--run", scenario.name, "--iteration", "2147483648", "-o", path],
                    "--iteration must be between 0 and 2147483647"
                ),
                (["export", "--run", scenario.name, "--iteration=-1", "-o", path], "--iteration must be between 0 and 2147483647"),
                (["export", "--run", scenario.name, "--iteration", "99999999999999999999", "-o", path], "--iteration"),
                (["export", "--run", scenario.name, "--iteration", "7", "-o", path], "run \(scenario.name) has no iteration 7"),
                (
                    ["export", "--run", scenario.name, "--iteration", "0", "--min-gap", "nan", "-o", path],
                    "--min-gap must be a finite number"
                ),
                (["export", "--run", scenario.name, "--iteration", "0", "--min-gap=-1", "-o", path], "--min-gap must be a finite number"),
                (["export", "--run", scenario.name, "--iteration", "0", "--min-gap", "5", "-o", path], "left out by the gap filter"),
                (["export", "--run", scenario.name, "--iteration", "0", "--skip-zero-gap", "--keep-zero-gap", "-o", path], "contradict"),
                (
                    ["policy", "register", "--run", scenario.name, "--iteration", "99999999999", "--uri", "m"],
                    "--iteration must be between 0 and 2147483647"
                ),
                (
                    ["policy", "register", "--run", scenario.name, "--iteration=-5", "--uri", "m"],
                    "--iteration must be between 0 and 2147483647"
                ),
            ]
            for (arguments, message) in cases {
                let child = try OptuneProcess(arguments, databaseURL: database.url)
                let status = try #require(await child.waitForExit(timeout: .seconds(120)))
                #expect(!child.terminatedBySignal && status != 0, "\(arguments): \(child.output)")
                #expect(child.output.contains(message), "\(arguments): \(child.output)")
            }
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(try await scenario.exportRows() == 0)
        }
    }

    @Test func gapOptionsThroughTheCLI() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0, 0.2, 0, 0.6, 0.9])
            let directory = try scratchDirectory()
            for (extra, expected) in [([String](), 5), (["--skip-zero-gap"], 3), (["--min-gap", "0.5"], 2)] {
                let path = directory + "/d-\(expected).jsonl"
                let (status, text) = try await export(scenario, database, output: path, extra: extra)
                #expect(status == 0, "\(text)")
                #expect(try jsonLines(try Data(contentsOf: URL(fileURLWithPath: path))).count == expected)
                let rows: Int = try await scenario.buffer.connection.query(
                    "SELECT rows FROM optune.exports WHERE path = $1", [path])[0].decode(0)
                #expect(rows == expected)
            }
        }
    }
}

/// The `optune` executable the tests run: `OPTUNE_BINARY`, else the one built beside the tests.
func optuneExecutable() throws -> String { try OptuneProcess.executablePath() }

/// Runs `child` with the database URL, standard error (and standard output unless set) to a log;
/// `started` runs right after launch. Returns (status, killed by a signal, log).
func runToEnd(
    _ child: Process, databaseURL: String, started: () throws -> Void = {}
) async throws -> (Int32, Bool, String) {
    var environment = ProcessInfo.processInfo.environment
    environment["OPTUNE_DATABASE_URL"] = databaseURL
    child.environment = environment
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("optune-\(UUID().uuidString).log").path
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    child.standardError = handle
    if child.standardOutput == nil { child.standardOutput = handle }
    child.standardInput = FileHandle.nullDevice
    try child.run()
    try started()
    let deadline = ContinuousClock.now + .seconds(120)
    while child.isRunning {
        if ContinuousClock.now > deadline {
            kill(child.processIdentifier, SIGKILL)
            throw TestDatabaseError(message: "optune did not finish in 120 s")
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    try handle.close()
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(atPath: log)
    return (child.terminationStatus, child.terminationReason == .uncaughtSignal, text)
}
