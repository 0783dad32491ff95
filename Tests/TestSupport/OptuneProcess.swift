import Foundation

/// The `optune` executable built beside the tests, run as a child process for tests that need
/// real processes (kill -9, SIGTERM, several workers).
public final class OptuneProcess {
    private let process: Process
    /// Where the child's standard output and error go.
    public let outputPath: String

    /// Starts `optune ARGUMENTS` with `OPTUNE_DATABASE_URL` set to `databaseURL` (and any
    /// `environment` added), reading standard input from the file `standardInput` (default: nothing).
    public init(_ arguments: [String], databaseURL: String, standardInput: String? = nil, environment extra: [String: String] = [:]) throws
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executablePath())
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OPTUNE_DATABASE_URL"] = databaseURL
        environment.merge(extra) { $1 }
        process.environment = environment
        outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("optune-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardOutput = output
        process.standardError = output
        if let standardInput {
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: standardInput))
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        self.process = process
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// Sends `signal` (e.g. SIGKILL, SIGTERM).
    public func send(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits up to `timeout` for the process to exit; returns its status, or nil if it is still running.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// How the process ended: by `exit` or by a signal.
    /// Whether the process has ended.
    public var hasExited: Bool { !process.isRunning }

    public var terminatedBySignal: Bool { process.terminationReason == .uncaughtSignal }

    /// What the process has written so far.
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Runs `optune ARGUMENTS` to completion and returns (status, output).
    public static func run(
        _ arguments: [String], databaseURL: String, standardInput: String? = nil, timeout: Duration = .seconds(300)
    ) async throws -> (Int32, String) {
        let child = try OptuneProcess(arguments, databaseURL: databaseURL, standardInput: standardInput)
        guard let status = await child.waitForExit(timeout: timeout) else {
            child.send(SIGKILL)
            throw TestDatabaseError(message: "optune \(arguments.joined(separator: " ")) did not finish in \(timeout)\n\(child.output)")
        }
        return (status, child.output)
    }

    /// The built executable: `OPTUNE_BINARY`, else `optune` beside the test bundle.
    public static func executablePath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["OPTUNE_BINARY"] { return path }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("optune").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw TestDatabaseError(
            message: "cannot find the optune executable next to \(CommandLine.arguments[0]); build it (swift build) or set OPTUNE_BINARY")
    }
}
