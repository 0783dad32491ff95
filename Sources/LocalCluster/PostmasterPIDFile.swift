import Foundation

/// The `postmaster.pid` lock file a running server keeps in its data directory.
///
/// Lines: pid, data directory, start time, port, first socket directory, listen address,
/// shared memory key, state (`starting`, `ready`, `stopping`).
struct PostmasterPIDFile: Sendable, Equatable {
    let pid: pid_t
    let port: Int?
    let socketDirectory: String?
    /// The id of the server's System V shared memory segment.
    let sharedMemoryID: Int32?

    init(pid: pid_t, port: Int? = nil, socketDirectory: String? = nil, sharedMemoryID: Int32? = nil) {
        self.pid = pid
        self.port = port
        self.socketDirectory = socketDirectory
        self.sharedMemoryID = sharedMemoryID
    }

    /// The file's contents, or nil if it is absent, unreadable or has no valid pid.
    static func read(_ path: String) -> PostmasterPIDFile? {
        guard let text = FileSystem.readText(path) else { return nil }
        return parse(text)
    }

    static func parse(_ text: String) -> PostmasterPIDFile? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard let first = lines.first, let pid = pid_t(first), pid > 0 else { return nil }
        let port = lines.count > 3 ? Int(lines[3]) : nil
        let socket = lines.count > 4 && !lines[4].isEmpty ? lines[4] : nil
        let memory = lines.count > 6 ? lines[6].split(separator: " ").last.flatMap { Int32($0) } : nil
        return PostmasterPIDFile(pid: pid, port: port, socketDirectory: socket, sharedMemoryID: memory)
    }
}

/// Questions about other processes, answered from `kill(pid, 0)` and Linux's `/proc`.
enum ProcessProbe {
    /// Whether the id belongs to any process, a zombie included: what PostgreSQL itself checks.
    static func isInUse(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Whether a live process with this id exists (possibly another user's; zombies do not count).
    static func exists(_ pid: pid_t) -> Bool {
        isInUse(pid) && !isZombie(pid)
    }

    /// A killed postmaster is not our child: until an init process reaps it, it stays a zombie.
    static func isZombie(_ pid: pid_t) -> Bool {
        // /proc/<pid>/stat: "pid (comm) S ..."; the command may itself hold ") ".
        guard let stat = FileSystem.readText("/proc/\(pid)/stat"),
            let close = stat.range(of: ") ", options: .backwards)
        else { return false }
        return stat[close.upperBound...].first == "Z"
    }

    static var hasProcFileSystem: Bool { FileSystem.isDirectory("/proc/self/fd") }

    /// Whether `pid` is a PostgreSQL server process working in `dataDirectory`.
    ///
    /// A server process runs the `postgres` program with the data directory as its working
    /// directory; a process we may not inspect is not ours. Without `/proc`, any live process
    /// counts, as `pg_ctl` would judge.
    static func isServer(_ pid: pid_t, dataDirectory: String) -> Bool {
        guard exists(pid) else { return false }
        guard hasProcFileSystem else { return true }
        return isServer(procEntry: "/proc/\(pid)", dataDirectory: FileSystem.realPath(dataDirectory))
    }

    /// The ids of all PostgreSQL processes working in `dataDirectory` (Linux only; else empty).
    static func serverProcesses(dataDirectory: String) -> [pid_t] {
        guard hasProcFileSystem, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else {
            return []
        }
        let resolved = FileSystem.realPath(dataDirectory)
        return entries.compactMap { entry in
            guard let pid = pid_t(entry), isServer(procEntry: "/proc/" + entry, dataDirectory: resolved) else {
                return nil
            }
            return pid
        }.sorted()
    }

    private static func isServer(procEntry: String, dataDirectory: String) -> Bool {
        guard let workingDirectory = readLink(procEntry + "/cwd"), workingDirectory == dataDirectory,
            let program = readLink(procEntry + "/exe")
        else { return false }
        let name = (program as NSString).lastPathComponent
        return name.hasPrefix("postgres") || name.hasPrefix("postmaster")
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = readlink(path, &buffer, 4096)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
