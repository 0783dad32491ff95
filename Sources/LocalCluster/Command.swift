import Foundation

#if canImport(Glibc)
    #if canImport(Glibc)
        import Glibc
    #elseif canImport(Darwin)
        import Darwin
    #endif
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a finished command printed and how it ended.
struct CommandResult: Sendable {
    let arguments: [String]
    /// The exit status, or 128 + the signal number if a signal ended it.
    let status: Int32
    /// Standard output and standard error, interleaved as written.
    let output: String

    var succeeded: Bool { status == 0 }
    var outputTail: String { FileSystem.lastLines(output, count: 20) }
}

/// Runs programs and collects their output.
///
/// Not Foundation's `Process`: on Linux it leaves a socket open in the child to learn of its exit,
/// and a daemon the child starts (the postmaster, through `pg_ctl start`) inherits that socket, so
/// the exit of `pg_ctl` is never noticed. Here the child inherits only standard input, output and
/// error (every other descriptor is closed), and a dedicated thread collects output and the exit.
enum Command {
    /// Runs `arguments` (the first an absolute path) with standard input from /dev/null, the working
    /// directory `/` (which every account can enter) and the environment less `PG*` variables, so a
    /// user's `PGHOST` or `PGOPTIONS` cannot steer the tools to another server.
    static func run(_ arguments: [String]) async throws -> CommandResult {
        let (pid, outputDescriptor) = try spawn(arguments)
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                let (status, data) = collect(pid: pid, descriptor: outputDescriptor)
                continuation.resume(
                    returning: CommandResult(
                        arguments: arguments, status: status, output: String(decoding: data, as: UTF8.self)))
            }
            thread.start()
        }
    }

    static var environment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
    }

    /// The first executable named `name` on `PATH` or in the system folders.
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders =
            path.split(separator: ":").map(String.init)
            + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        for folder in folders where !folder.isEmpty {
            let candidate = folder + "/" + name
            if access(candidate, X_OK) == 0 && !FileSystem.isDirectory(candidate) { return candidate }
        }
        return nil
    }

    // MARK: - Spawning

    #if canImport(Darwin)
        private typealias FileActions = posix_spawn_file_actions_t?
        private typealias Attributes = posix_spawnattr_t?
    #else
        private typealias FileActions = posix_spawn_file_actions_t
        private typealias Attributes = posix_spawnattr_t
    #endif

    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<FileActions>, UnsafePointer<CChar>) -> Int32
    private typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<FileActions>, Int32) -> Int32

    /// Starts the child; returns its pid and the read end of its output pipe.
    private static func spawn(_ arguments: [String]) throws -> (pid_t, Int32) {
        func failure(_ what: String, _ code: Int32) -> LocalClusterError {
            LocalClusterError(
                code: .fileSystem, message: "cannot run \(arguments[0]): \(what): \(SystemError.describe(code))",
                command: arguments)
        }
        var arguments = arguments
        guard access(arguments[0], X_OK) == 0 else { throw failure("not executable", errno) }

        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw failure("pipe", errno) }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer { close(pipeEnds[1]) }

        var actions = FileActions()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        if let closefrom: AddClosefrom = symbol("posix_spawn_file_actions_addclosefrom_np") {
            _ = closefrom(&actions, 3)
        } else {
            for descriptor in openDescriptors() where descriptor > 2 {
                posix_spawn_file_actions_addclose(&actions, descriptor)
            }
        }
        if let chdir: AddChdir = symbol("posix_spawn_file_actions_addchdir_np") {
            _ = chdir(&actions, "/")
        } else {
            arguments = ["/bin/sh", "-c", "cd / && exec \"$@\"", "sh"] + arguments
        }

        var attributes = Attributes()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var signals = sigset_t()
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&attributes, &signals)
        sigfillset(&signals)
        posix_spawnattr_setsigdefault(&attributes, &signals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let status = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard status == 0 else {
            close(pipeEnds[0])
            throw failure("posix_spawn", status)
        }
        return (pid, pipeEnds[0])
    }

    /// Reads the child's output until it has exited, then reaps it. Output a grandchild keeps
    /// writing (holding the pipe open) after the child's exit is not waited for.
    private static func collect(pid: pid_t, descriptor: Int32) -> (Int32, [UInt8]) {
        defer { close(descriptor) }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var waitStatus: Int32 = 0
        var exited = false
        var endOfFile = false
        while true {
            while !endOfFile {  // drain what is there
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    output += buffer[0..<count]
                } else if count == 0 {
                    endOfFile = true
                } else if errno != EINTR {
                    break
                }
            }
            if exited { break }
            let reaped = waitpid(pid, &waitStatus, endOfFile ? 0 : WNOHANG)
            if reaped == pid || (reaped < 0 && errno == ECHILD) {
                exited = true  // and drain once more
            } else if !endOfFile {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&poller, 1, 50)
            }
        }
        return (exitCode(waitStatus), output)
    }

    private static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    private static func symbol<T>(_ name: String) -> T? {
        #if canImport(Glibc)
            let handle = UnsafeMutableRawPointer(bitPattern: 0)  // RTLD_DEFAULT
        #else
            let handle = UnsafeMutableRawPointer(bitPattern: -2)  // RTLD_DEFAULT on Darwin
        #endif
        guard let address = dlsym(handle, name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }

    private static func openDescriptors() -> [Int32] {
        let folder = FileSystem.isDirectory("/proc/self/fd") ? "/proc/self/fd" : "/dev/fd"
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).compactMap { Int32($0) }
    }
}
