import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The CPU time this process's connections cost, by application name: the client's (the
/// thread running each of the connection's jobs: encoding parameters, libpq, copying results
/// out) and, when the server runs on this host (a Unix-socket connection), the server's (its
/// backend process, read from `/proc`). Waiting is not work: a statement blocked on a lock or a
/// listener waiting for notifications costs what it computes, not how long it waits. Connections
/// opened with `countsAsWork: false` are not counted at all. Decoding rows into Swift values
/// after a call returns, on the caller's executor, is not included. A call's time is recorded
/// just after it has resumed its caller, so a snapshot can miss the last call of each connection
/// (the connection's next call, or its close, settles it).
public enum ConnectionUsage {
    /// CPU seconds of one application's connections.
    public struct Usage: Sendable, Hashable {
        /// The client's CPU seconds.
        public var client = 0.0
        /// The server backends' CPU seconds, or nil when some connection's server is not on this
        /// host (its backend cannot be seen).
        public var server: Double? = 0

        /// No CPU time yet.
        public init() {}
    }

    private static let totals = Mutex<[String: Usage]>([:])

    /// CPU seconds so far, per application name.
    public static func usage() -> [String: Usage] { totals.withLock { $0 } }

    static func record(client: Double, server: Double?, for application: String) {
        totals.withLock { totals in
            var usage = totals[application, default: Usage()]
            usage.client += client
            if let server, let known = usage.server { usage.server = known + server } else { usage.server = nil }
            totals[application] = usage
        }
    }

    /// This thread's CPU seconds so far.
    static func threadCPU() -> Double {
        var now = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) == 0 else { return 0 }
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// The CPU seconds (user + system) process `pid` has used, from `/proc/PID/stat`; nil if it
    /// cannot be read or is not a PostgreSQL process.
    static func processCPU(_ pid: Int32) -> Double? {
        guard pid > 0, let text = read("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")"),
            text[text.startIndex..<close].hasSuffix("(postgres")
        else { return nil }
        // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ticks > 0 ? (user + system) / ticks : nil
    }

    private static func read(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}
