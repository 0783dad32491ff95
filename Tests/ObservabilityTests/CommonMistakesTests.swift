import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Common mistakes and what they print: runtime errors exit 1 with one `error: …` line (and a
/// `hint: …`), usage errors exit 64 with the subcommand's usage.
@Suite("Common mistakes")
struct CommonMistakesTests {
    struct Mistake: CustomStringConvertible {
        var arguments: [String]
        var status: Int32
        var firstLine: String
        /// Further text stderr must hold (a hint, the subcommand's usage).
        var also: String? = nil
        var description: String { "optune " + arguments.joined(separator: " ") }
    }

    @Test func eachMistakeExitsWithItsCodeAndSaysWhatIsWrong() async throws {
        try await TestDatabase.withFresh { database in
            let env = ["OPTUNE_DATABASE_URL": database.url]
            let created = try await runOptune(
                ["run", "--create-only", "--name", "exists", "--iterations", "1", "--train-prompts", "20", "--eval-prompts", "10"],
                environment: env,
                timeout: .seconds(300))
            #expect(created.status == 0, "\(created.stderr)")
            let busy = try ListeningSocket()
            let mistakes: [Mistake] = [
                .init(
                    arguments: ["bogus"], status: 64, firstLine: "Error: Unexpected argument 'bogus'", also: "Usage: optune <subcommand>"),
                .init(
                    arguments: ["db", "bogus"], status: 64, firstLine: "Error: Unexpected argument 'bogus'",
                    also: "Usage: optune db <subcommand>"),
                .init(
                    arguments: ["status", "--run", "nope"], status: 1, firstLine: "error: no run named nope",
                    also: "hint: `optune status` lists"),
                .init(
                    arguments: ["export", "--run", "nope", "--iteration", "0", "-o", "x.jsonl"], status: 1,
                    firstLine: "error: no run named nope"),
                .init(
                    arguments: ["policy", "register", "--run", "nope", "--iteration", "0", "--uri", "m"], status: 1,
                    firstLine: "error: no run named nope"),
                .init(arguments: ["coordinate", "--run", "nope"], status: 1, firstLine: "error: no run named nope"),
                .init(arguments: ["generate", "--run", "nope"], status: 1, firstLine: "error: no run named nope"),
                .init(
                    arguments: ["run", "--create-only", "--name", "exists"], status: 1,
                    firstLine: "error: a run named exists already exists",
                    also: "hint: pick another --name"),
                .init(
                    arguments: ["export", "--run", "exists", "--iteration", "9", "-o", "x.jsonl"], status: 1,
                    firstLine: "error: run exists has no iteration 9"),
                .init(
                    arguments: ["policy", "register", "--run", "exists", "--iteration", "0", "--uri", "m"], status: 1,
                    firstLine: "error: iteration 0 of run exists is not waiting for training"),
                .init(
                    arguments: ["report", "--run", "exists", "-o", "/nonexistent/dir/r.html"], status: 1,
                    firstLine: "error: /nonexistent/dir/r.html: No such file or directory"),
                .init(
                    arguments: ["prompts", "import", "/nonexistent/p.jsonl", "--set", "s"], status: 1,
                    firstLine: "error: cannot read /nonexistent/p.jsonl: No such file or directory"),
                .init(
                    arguments: ["generate", "--metrics-port", "\(busy.port)"], status: 1,
                    firstLine: "error: cannot serve metrics on port \(busy.port): Address already in use",
                    also: "hint: pick another --metrics-port"),
                .init(
                    arguments: ["run", "--fork", "bad"], status: 64,
                    firstLine: "Error: --fork must look like NAME@t with 0 ≤ t < 1000000, e.g. baseline@0",
                    also: "Usage: optune run"),
                .init(
                    arguments: ["generate", "--backend", "openai"], status: 64,
                    firstLine: "Error: --backend openai needs --base-url, e.g. --base-url http://gpu1:8000",
                    also: "Usage: optune generate"),
                .init(
                    arguments: ["generate", "--metrics-port", "70000"], status: 64,
                    firstLine: "Error: --metrics-port must be in 0…65535, got 70000"),
                .init(
                    arguments: ["coordinate", "--run", "exists", "--log-format", "xml"], status: 64,
                    firstLine: "Error: The value 'xml' is invalid for '--log-format <log-format>'. Please provide one of 'text' and 'json'."
                ),
                .init(
                    arguments: ["export"], status: 64, firstLine: "Error: Missing expected argument '--run <run>'",
                    also: "Usage: optune export"),
                .init(
                    arguments: ["status", "--interval", "0"], status: 64, firstLine: "Error: --interval must be in [0.1, 86400] seconds",
                    also: "Usage: optune status"),
                .init(
                    arguments: ["status", "--interval", "-2"], status: 64, firstLine: "Error: --interval must be in [0.1, 86400] seconds"),
            ]
            for mistake in mistakes {
                let finished = try await runOptune(mistake.arguments, environment: env)
                #expect(finished.status == mistake.status, "\(mistake): \(finished.stderr)")
                #expect(finished.firstErrorLine == mistake.firstLine, "\(mistake)")
                if let also = mistake.also { #expect(finished.stderr.contains(also), "\(mistake): \(finished.stderr)") }
                #expect(
                    !finished.stderr.contains("NSCocoaErrorDomain") && !finished.stderr.contains("QUERY:"), "\(mistake): \(finished.stderr)"
                )
            }
        }
    }

    @Test func versionNamesTheSchemaItExpects() async throws {
        let finished = try await runOptune(["--version"], environment: [:])
        #expect(finished.status == 0)
        let migrations = try FileManager.default.contentsOfDirectory(atPath: migrationsFolder()).filter { $0.hasSuffix(".sql") }.sorted()
        let last = try #require(migrations.last).replacingOccurrences(of: ".sql", with: "")
        #expect(finished.stdout.hasPrefix("optune "))
        #expect(finished.stdout.contains("(schema \(last))"), "\(finished.stdout)")
    }

    @Test func anExternalDatabaseWithoutTheSchemaNamesTheCommandToRun() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let finished = try await runOptune(["status"], environment: ["OPTUNE_DATABASE_URL": database.url])
            #expect(finished.status == 1)
            #expect(finished.firstErrorLine == "error: the database of OPTUNE_DATABASE_URL has no optune schema yet")
            #expect(finished.stderr.contains("hint: run `optune db migrate`"))
        }
    }

    @Test func aFreshHomeIsCreatedMigratedAndExplained() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("optune-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let finished = try await runOptune(["status"], environment: [:], in: folder, timeout: .seconds(180))
        let stopped = try await runOptune(["db", "stop"], environment: [:], in: folder)
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(finished.stderr.contains("no .optune in \(folder.path) and OPTUNE_HOME is unset"), "\(finished.stderr)")
        #expect(finished.stderr.contains("set OPTUNE_HOME=/path/to/.optune"))
        #expect(finished.stderr.contains("prepared the embedded database"))
        #expect(finished.stdout.hasPrefix("ITERATIONS"))
    }

    /// Migrations/sql of the source tree (this file is Tests/ObservabilityTests/…).
    func migrationsFolder() -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Migrations/sql").path
    }
}

/// A TCP port held open, to see what a daemon says when its --metrics-port is taken.
final class ListeningSocket {
    let descriptor: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: INADDR_ANY)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 1) == 0 else { throw TestDatabaseError(message: "cannot listen on a port") }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        descriptor = fd
        port = Int(UInt16(bigEndian: actual.sin_port))
    }

    deinit { close(descriptor) }
}
