/// A snapshot of the private cluster, taken without changing anything.
public struct ClusterStatus: Sendable, Equatable {
    /// Whether `initdb` has created the data directory.
    public var isInitialized: Bool
    /// Whether a postmaster is running on the data directory.
    public var isRunning: Bool
    /// The postmaster's process id when running.
    public var pid: Int32?
    public var dataDirectory: String
    public var socketDirectory: String
    public var port: Int
    public var logFile: String
    /// The version of the server programs that would run it, e.g. `15.18`; nil if none are found.
    public var serverVersion: String?
    /// The major version the data directory was created with (`PG_VERSION`), e.g. `15`.
    public var dataVersion: String?
    /// The libpq URI clients connect with.
    public var connectionURL: String
}
