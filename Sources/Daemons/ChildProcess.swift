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
/// The child leads a process group of its own; cancelling the calling task sends that group
/// SIGTERM, and SIGKILL after `killAfter`.
struct ChildProcess {
    var argv: [String]
    var environment: [String: String]
    var killAfter: Duration = .seconds(30)
    var keptLines = 20
    var logger: Logger

    /// The executable of `argv[0]`: itself if it contains a `/`, else the first match on PATH.
    static func resolve(_ name: String, path: String?) throws -> String {
        if name.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: name) else {
                throw ChildProcessError(description: "\(name) is not an executable file")
            }
            return name
        }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ChildProcessError(description: "\(name) was not found on PATH")
    }

    /// Runs the command to its end and returns how it ended.
    ///
    /// Spawned with posix_spawn rather than Foundation's `Process` so that the child starts
    /// with default signal dispositions and an empty signal mask: the daemon ignores SIGTERM
    /// (ServiceLifecycle watches it), and an ignored signal would otherwise be inherited — a
    /// shell cannot even trap it — so the forwarded SIGTERM would never reach the command.
    func run() async throws -> ChildOutcome {
        guard let name = argv.first, !name.isEmpty else { throw ChildProcessError(description: "the command is empty") }
        let executable = try Self.resolve(name, path: environment["PATH"])
        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        guard pipe(&stdoutPipe) == 0, pipe(&stderrPipe) == 0 else {
            throw ChildProcessError(description: "cannot create pipes for \(name): \(String(cString: strerror(errno)))")
        }
        for fd in stdoutPipe + stderrPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let pid: pid_t
        do {
            pid = try Self.spawn(executable, argv: argv, environment: environment, stdout: stdoutPipe[1], stderr: stderrPipe[1])
        } catch {
            for fd in stdoutPipe + stderrPipe { close(fd) }
            throw error
        }
        // The write ends belong to the child now; keeping ours open would hide its EOF.
        close(stdoutPipe[1])
        close(stderrPipe[1])
        let started = ContinuousClock.now
        let tail = LineTail(keep: keptLines)
        let exited = ExitFlag()
        let status = StatusBox()
        let exit = DispatchGroup()
        exit.enter()
        DispatchQueue.global().async {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            status.value = raw
            exited.set()
            exit.leave()
        }
        let readers = DispatchGroup()
        for (fd, stream) in [(stdoutPipe[0], "stdout"), (stderrPipe[0], "stderr")] {
            readers.enter()
            DispatchQueue.global().async { [logger] in
                Self.readLines(FileHandle(fileDescriptor: fd, closeOnDealloc: true), stream: stream, tail: tail, logger: logger)
                readers.leave()
            }
        }
        let killAfter = killAfter
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                exit.notify(queue: .global()) {
                    // A background process the command left behind may hold its output open:
                    // read what is there, but do not wait for it.
                    _ = readers.wait(timeout: .now() + 2)
                    continuation.resume()
                }
            }
        } onCancel: {
            guard !exited.isSet else { return }
            // The command runs in a process group of its own: SIGTERM reaches all of it.
            kill(-pid, SIGTERM)
            DispatchQueue.global().asyncAfter(deadline: .now() + killAfter.seconds) {
                if !exited.isSet { kill(-pid, SIGKILL) }
            }
        }
        let raw = status.value
        let signal = raw & 0x7f
        let signalled = signal != 0 && signal != 0x7f
        return ChildOutcome(
            exitCode: signalled ? 128 + signal : (raw >> 8) & 0xff, signalled: signalled,
            seconds: (ContinuousClock.now - started).seconds, lastLines: tail.lines)
    }

    /// posix_spawn of `executable` in a new process group, with stdin from /dev/null, the given
    /// stdout/stderr, default signal dispositions and an empty signal mask.
    private static func spawn(_ executable: String, argv: [String], environment: [String: String], stdout: Int32, stderr: Int32) throws
        -> pid_t
    {
        #if canImport(Darwin)
            var actions: posix_spawn_file_actions_t? = nil
            var attributes: posix_spawnattr_t? = nil
        #else
            var actions = posix_spawn_file_actions_t()
            var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let arguments = argv.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in arguments { free(pointer) }
            for pointer in variables { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, arguments, variables)
        guard result == 0 else {
            throw ChildProcessError(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return pid
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

/// The raw wait status, written once by the waiting thread before the group is left.
final class StatusBox: @unchecked Sendable {
    private let lock = NSLock()
    private var raw: Int32 = 0

    var value: Int32 {
        get {
            lock.lock()
            defer { lock.unlock() }
            return raw
        }
        set {
            lock.lock()
            raw = newValue
            lock.unlock()
        }
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
