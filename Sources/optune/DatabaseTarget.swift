import Foundation
import LocalCluster
import Postgres

/// Where a command's database is: `OPTUNE_DATABASE_URL`, or the embedded cluster.
struct DatabaseTarget {
    /// The embedded cluster, when no URL is configured.
    let cluster: LocalCluster?
    private let externalURL: String?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let url = environment["OPTUNE_DATABASE_URL"], !url.isEmpty {
            externalURL = url
            cluster = nil
        } else {
            externalURL = nil
            cluster = LocalCluster(configuration: LocalClusterConfiguration())
        }
    }

    /// The connection string, starting the embedded cluster first if it is not running.
    ///
    /// A malformed `OPTUNE_DATABASE_URL` is an error that names the variable and what is wrong,
    /// with the password replaced by `***`.
    func connectionURL(progress: (String) -> Void = { _ in }) async throws -> String {
        if let externalURL {
            do { try ConnectionString.validate(externalURL) } catch { throw DatabaseURLError(message: "OPTUNE_DATABASE_URL: \(error.message)") }
            return externalURL
        }
        guard let cluster else { throw DatabaseURLError(message: "no OPTUNE_DATABASE_URL and no embedded cluster") }
        if try await cluster.start() == .started {
            progress("started the embedded PostgreSQL in \(cluster.configuration.root)")
        }
        return cluster.connectionURL
    }

    /// A new connection, starting the embedded cluster if needed.
    func connect(applicationName: String = "optune") async throws -> Connection {
        try await Connection.connect(to: try await connectionURL(progress: { note($0) }), applicationName: applicationName)
    }
}

/// `OPTUNE_DATABASE_URL` is unusable; the message never contains its password.
struct DatabaseURLError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Prints a progress or status note to standard error, keeping standard output for data.
func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
