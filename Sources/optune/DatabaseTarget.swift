import Buffer
import Foundation
import LocalCluster

/// Where a command's database is: `OPTUNE_DATABASE_URL`, or the embedded cluster.
struct DatabaseTarget {
    /// The embedded cluster, when no URL is configured.
    let cluster: LocalCluster?
    private let externalURL: String?
    /// Whether `OPTUNE_HOME` chose the embedded cluster's folder (else `./.optune`).
    private let homeFromEnvironment: Bool

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        homeFromEnvironment = !(environment["OPTUNE_HOME"] ?? "").isEmpty
        if let url = environment["OPTUNE_DATABASE_URL"], !url.isEmpty {
            externalURL = url
            cluster = nil
        } else {
            externalURL = nil
            cluster = LocalCluster(
                configuration: LocalClusterConfiguration(root: LocalClusterConfiguration.defaultRoot(environment: environment)))
        }
    }

    /// The connection string, starting the embedded cluster first if it is not running. When
    /// the cluster's folder does not exist yet and `OPTUNE_HOME` is unset, says where it looked
    /// and how to point at another home before creating it.
    /// A malformed `OPTUNE_DATABASE_URL` is an error that names the variable and what is wrong,
    /// with the password replaced by `***`.
    func connectionURL(progress: (String) -> Void = { _ in }) async throws -> String {
        if let externalURL {
            if let problem = ReplayBuffer.connectionStringProblem(externalURL) {
                throw DatabaseURLError(message: "OPTUNE_DATABASE_URL: \(problem)")
            }
            return externalURL
        }
        guard let cluster else { throw CLIError("no database configured", hint: "set OPTUNE_DATABASE_URL or OPTUNE_HOME") }
        let root = cluster.configuration.root
        if !homeFromEnvironment && !FileManager.default.fileExists(atPath: root) {
            progress(
                """
                no .optune in \(FileManager.default.currentDirectoryPath) and OPTUNE_HOME is unset: creating a new embedded database in \(root)
                (earlier runs live in the .optune folder of the directory they were started from: cd there, or set OPTUNE_HOME=/path/to/.optune, or OPTUNE_DATABASE_URL for a server)
                """)
        }
        if try await cluster.start() == .started {
            progress("started the embedded PostgreSQL in \(root)")
        }
        return cluster.connectionURL
    }

    /// The connection string of a database with this build's schema: an embedded cluster is
    /// started and migrated; an external database missing migrations is refused with the
    /// command that applies them.
    func schemaURL() async throws -> String {
        let url = try await connectionURL(progress: { note($0) })
        let buffer = try await ReplayBuffer.connect(to: url, applicationName: "optune-schema")
        do {
            try await ensureSchema(on: buffer)
        } catch {
            await buffer.close()
            throw error
        }
        await buffer.close()
        return url
    }

    /// A buffer on a new connection, starting the embedded cluster if needed; with
    /// `requiringSchema` (the default) the schema is brought up to date or its absence explained
    /// (see ``schemaURL()``).
    func connect(applicationName: String = "optune", requiringSchema: Bool = true) async throws -> ReplayBuffer {
        let buffer = try await ReplayBuffer.connect(to: try await connectionURL(progress: { note($0) }), applicationName: applicationName)
        if requiringSchema {
            do {
                try await ensureSchema(on: buffer)
            } catch {
                await buffer.close()
                throw error
            }
        }
        return buffer
    }

    /// Migrates the embedded cluster (a no-op when it is up to date); checks an external one.
    func ensureSchema(on buffer: ReplayBuffer) async throws {
        if cluster != nil {
            let applied = try await buffer.migrate()
            if !applied.isEmpty { note("prepared the embedded database (applied \(applied.count) migration(s))") }
            return
        }
        let states = try await buffer.migrationStatus()
        let pending = states.filter { $0.state == .pending }
        guard pending.isEmpty else {
            let what =
                pending.count == states.count
                ? "the database of OPTUNE_DATABASE_URL has no optune schema yet"
                : "the database of OPTUNE_DATABASE_URL lacks \(pending.count) of \(states.count) migrations (first: \(pending[0].name))"
            throw CLIError(what, hint: "run `optune db migrate` (with the same OPTUNE_DATABASE_URL) first")
        }
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
