import Foundation
import Logging

/// The private PostgreSQL cluster of the embedded default (DESIGN §7).
///
/// It lives in a project-local folder, is created with `initdb` on first start, listens on a
/// Unix socket only (no TCP) and trusts the connections the socket's permissions let through:
/// those of the user who runs it (and root). Start, stop and creation take an exclusive lock on
/// `<root>/lock`, so concurrent calls, in one process or several, do not step on each other.
///
/// As root, the server programs run as the unprivileged `postgres` user (they refuse root).
public struct LocalCluster: Sendable {
    public let configuration: LocalClusterConfiguration
    let layout: ClusterLayout
    let logger: Logger

    public init(
        configuration: LocalClusterConfiguration = LocalClusterConfiguration(),
        logger: Logger = Logger(label: "optune.local-cluster")
    ) {
        var configuration = configuration
        configuration.root = LocalClusterConfiguration.absolutePath(
            configuration.root, from: FileManager.default.currentDirectoryPath)
        self.configuration = configuration
        self.layout = ClusterLayout(root: configuration.root, port: configuration.port)
        self.logger = logger
    }

    /// The folder `initdb` creates the cluster in: `<root>/pgdata`.
    public var dataDirectory: String { layout.dataDirectory }

    /// The folder of the server's socket: `<root>/run`, or a short folder under /tmp
    /// (named for a hash of the root) when the socket path would exceed the system's limit.
    public var socketDirectory: String { layout.socketDirectory }

    /// The server log: `<root>/log/postgres.log`.
    public var logFile: String { layout.logFile }

    /// The libpq URI to connect with, e.g.
    /// `postgresql:///optune?host=/home/me/project/.optune/run&port=5432&user=optune`.
    public var connectionURL: String {
        "postgresql:///\(Self.percentEncoded(configuration.database))"
            + "?host=\(Self.percentEncoded(layout.socketDirectory))"
            + "&port=\(configuration.port)"
            + "&user=\(Self.percentEncoded(configuration.superuser))"
    }

    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// How long start and stop wait for another start or stop of the same cluster.
    var lockTimeout: Duration { .seconds(2 * configuration.timeoutSeconds + 60) }

    /// The major version in `PG_VERSION`, if the cluster has been created.
    var dataVersion: String? {
        FileSystem.readText(layout.versionFile)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The postmaster's lock file if a live server owns it.
    func runningServer() -> PostmasterPIDFile? {
        guard let pidFile = PostmasterPIDFile.read(layout.pidFile),
            ProcessProbe.isServer(pidFile.pid, dataDirectory: layout.dataDirectory)
        else { return nil }
        return pidFile
    }

    func locateBinaries() async throws -> PostgresBinaries {
        try await PostgresBinaries.locate(
            override: configuration.binDirectory, preferredMajor: dataVersion.flatMap { Int($0) })
    }

    func serverLogTail() -> String? { FileSystem.tail(layout.logFile, lines: 20) }
}
