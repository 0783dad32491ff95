import Foundation
import Logging

/// How a child command ended.
public struct ChildOutcome: Sendable, Hashable {
    /// The exit status, or 128 + the signal number when a signal ended it.
    public var exitCode: Int32
    /// Whether a signal ended it.
    public var signalled: Bool
    public var seconds: Double
    /// The last lines it wrote (standard output and error, interleaved as read).
    public var lastLines: [String]
}

/// Why a child command could not be started.
public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Runs one command as a child process: argv as given (no shell), each line of its standard
/// output and error sent to the log as it comes, the last lines kept for error reports.
/// Cancelling the calling task sends the child SIGTERM, and SIGKILL after `killAfter`.
struct ChildProcess {
    var argv: [String]
    var environment: [String: String]
    var workingDirectory: String?
    var killAfter: Duration = .seconds(30)
    var keptLines = 20
    var logger: Logger

    /// The executable of `argv[0]`: itself if it contains a `/`, else the first match on PATH.
    static func resolve(_ name: String, path: String?) throws -> String {
        if name.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: name) else { throw ChildProcessError(description: "\(name) is not an executable file") }
            return name
        }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ChildProcessError(description: "\(name) was not found on PATH")
    }

    /// Runs the command to its end and returns how it ended.
    func run() async throws -> ChildOutcome {
        guard let name = argv.first, !name.isEmpty else { throw ChildProcessError(description: "the command is empty") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.resolve(name, path: environment["PATH"]))
        process.arguments = Array(argv.dropFirst())
        process.environment = environment
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let tail = LineTail(keep: keptLines)
        let done = DispatchGroup()
        let exited = ExitFlag()
        done.enter()
        process.terminationHandler = { _ in
            exited.set()
            done.leave()
        }
        let started = ContinuousClock.now
        do {
            try process.run()
        } catch {
            throw ChildProcessError(description: "cannot start \(name): \(error.localizedDescription)")
        }
        // The write ends belong to the child now; keeping ours open would hide its EOF.
        try? stdout.fileHandleForWriting.close()
        try? stderr.fileHandleForWriting.close()
        for (handle, stream) in [(stdout.fileHandleForReading, "stdout"), (stderr.fileHandleForReading, "stderr")] {
            done.enter()
            DispatchQueue.global().async { [logger] in
                Self.readLines(handle, stream: stream, tail: tail, logger: logger)
                done.leave()
            }
        }
        let pid = process.processIdentifier
        let killAfter = killAfter
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                done.notify(queue: .global()) { continuation.resume() }
            }
        } onCancel: {
            guard !exited.isSet else { return }
            kill(pid, SIGTERM)
            DispatchQueue.global().asyncAfter(deadline: .now() + killAfter.seconds) {
                if !exited.isSet { kill(pid, SIGKILL) }
            }
        }
        let signalled = process.terminationReason == .uncaughtSignal
        return ChildOutcome(
            exitCode: signalled ? 128 + process.terminationStatus : process.terminationStatus, signalled: signalled,
            seconds: (ContinuousClock.now - started).seconds, lastLines: tail.lines)
    }

    /// Reads `handle` to its end on a dispatch thread, logging each line.
    private static func readLines(_ handle: FileHandle, stream: String, tail: LineTail, logger: Logger) {
        var pending = Data()
        func emit(_ bytes: Data) {
            var line = String(decoding: bytes, as: UTF8.self)
            if line.hasSuffix("\r") { line.removeLast() }
            tail.append(line)
            logger.info("\(line)", metadata: ["stream": "\(stream)"])
        }
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                emit(pending[pending.startIndex..<newline])
                pending.removeSubrange(pending.startIndex...newline)
            }
            // A line longer than 64 KiB is logged in pieces rather than held without bound.
            if pending.count > 65_536 {
                emit(pending)
                pending.removeAll()
            }
        }
        if !pending.isEmpty { emit(pending) }
    }
}

/// The last lines of a child's output, shared by its reader threads.
final class LineTail: @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [String] = []
    private let keep: Int

    init(keep: Int) {
        self.keep = keep
    }

    func append(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        kept.append(line)
        if kept.count > keep { kept.removeFirst(kept.count - keep) }
    }

    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return kept
    }
}

/// Set once the child has exited, so a late SIGKILL never hits a reused pid.
final class ExitFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
