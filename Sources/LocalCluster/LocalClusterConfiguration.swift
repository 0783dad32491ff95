import Foundation

/// Where and how the private PostgreSQL cluster of the embedded default lives.
///
/// Everything sits under ``root``: the data directory `pgdata/`, the socket directory `run/`,
/// the server log `log/postgres.log` and the lock file `lock`.
public struct LocalClusterConfiguration: Sendable {
    /// The folder that holds the cluster; a relative path is taken from the current directory.
    public var root: String
    /// The database the cluster serves; created on first start.
    public var database: String
    /// The superuser role `initdb` creates; clients connect as this role (trust over the socket).
    public var superuser: String
    /// The port; with no TCP listener it only names the socket file `.s.PGSQL.<port>`.
    public var port: Int
    /// Whether the server flushes to disk. Turn off only for throwaway clusters (tests).
    public var fsync: Bool
    /// Further `postgresql.conf` settings, written verbatim as `name = value`.
    public var serverSettings: [String: String]
    /// The folder holding `initdb`, `pg_ctl` and `postgres`; found automatically when nil.
    public var binDirectory: String?
    /// How long `pg_ctl` waits for the server to start or stop.
    public var timeoutSeconds: Int

    public init(
        root: String? = nil,
        database: String = "optune",
        superuser: String = "optune",
        port: Int = 5432,
        fsync: Bool = true,
        serverSettings: [String: String] = LocalClusterConfiguration.replayBufferSettings,
        binDirectory: String? = nil,
        timeoutSeconds: Int = 60
    ) {
        self.root = root ?? Self.defaultRoot()
        self.database = database
        self.superuser = superuser
        self.port = port
        self.fsync = fsync
        self.serverSettings = serverSettings
        self.binDirectory = binDirectory
        self.timeoutSeconds = timeoutSeconds
    }

    /// `$OPTUNE_HOME` if set and not empty, else `./.optune`, as an absolute path.
    /// Server settings for a write-heavy replay buffer: more shared memory than PostgreSQL's
    /// 128 MB default, and room for bulk ingest between checkpoints (each checkpoint makes the
    /// next writes log whole pages). No JIT: the buffer's statements are index-driven and short,
    /// and compiling one whose estimated cost is high (a 1M-row selection) takes longer than it.
    public static let replayBufferSettings: [String: String] = [
        "shared_buffers": "512MB",
        "max_wal_size": "4GB",
        "wal_buffers": "16MB",
        "jit": "off",
    ]

    public static func defaultRoot(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        currentDirectory: String = FileManager.default.currentDirectoryPath
    ) -> String {
        let chosen = environment["OPTUNE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ".optune"
        return absolutePath(chosen, from: currentDirectory)
    }

    static func absolutePath(_ path: String, from directory: String) -> String {
        let url =
            path.hasPrefix("/")
            ? URL(fileURLWithPath: path)
            : URL(fileURLWithPath: directory).appendingPathComponent(path)
        var standardized = url.standardizedFileURL.path
        while standardized.count > 1 && standardized.hasSuffix("/") { standardized.removeLast() }
        return standardized
    }
}
