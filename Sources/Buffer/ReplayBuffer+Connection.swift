import Migrations
import Postgres

extension ReplayBuffer {
    /// Drops this buffer's session and opens a new one (LISTENs included). Throws, and stays
    /// closed, while the server cannot be reached: call it again later.
    public func reconnect() async throws {
        try await connection.reconnect()
    }

    /// Closes this buffer's connection; later calls fail.
    public func close() async {
        await connection.close()
    }

    /// Whether `error` is a database failure that repeating the work fixes: a lost connection, a
    /// serialization failure or a deadlock.
    public static func isRetryable(_ error: any Error) -> Bool {
        if isConnectionLoss(error) { return true }
        switch error {
        case let error as PostgresError: return error.isTransient
        case let error as BufferError: return error.underlying?.isTransient ?? false
        default: return false
        }
    }

    /// Whether `error` means the database connection was lost or refused (the server restarted,
    /// is shutting down or starting, or the network failed), so reconnecting later can fix it.
    /// The statement that failed may or may not have taken effect.
    public static func isConnectionLoss(_ error: any Error) -> Bool {
        switch error {
        case let error as PostgresError: error.isConnectionLoss
        case let error as BufferError: error.underlying?.isConnectionLoss ?? false
        default: false
        }
    }
}

extension ReplayBuffer {
    /// Applies the bundled schema migrations that this database has not applied yet; returns
    /// their names.
    @discardableResult
    public func migrate() async throws -> [String] {
        try await Migrator(connection: connection).migrate()
    }

    /// The server's version string (`server_version`).
    public func serverVersion() async throws -> String {
        try await connection.query("SELECT current_setting('server_version')")[0].decode(0, as: String.self)
    }
}

extension ReplayBuffer {
    /// Every bundled migration with its state here (applied, pending, or modified after it was
    /// applied).
    public func migrationStatus() async throws -> [MigrationStatus] {
        try await Migrator(connection: connection).status()
    }

    /// How many migrations this build ships.
    public static func bundledMigrationCount() throws -> Int {
        try MigrationFiles.bundled().count
    }
}

extension ReplayBuffer {
    /// What is wrong with `conninfo` (a libpq URI or key=value string), with every password in
    /// it replaced by `***`; nil when libpq can parse it.
    public static func connectionStringProblem(_ conninfo: String) -> String? {
        do {
            try ConnectionString.validate(conninfo)
            return nil
        } catch {
            return error.message
        }
    }
}

/// A database error as one line for a person, with a hint where one helps.
public struct DatabaseErrorReport: Sendable {
    public var message: String
    public var hint: String?

    /// The report of `error` if it came from the database (or the connection to it), else nil.
    public init?(_ error: any Error) {
        guard let error = (error as? PostgresError) ?? (error as? BufferError)?.underlying else { return nil }
        if error.sqlState == "42P01" || error.sqlState == "3F000" {
            message = "the database has no optune schema (\(error.message))"
            hint = "run `optune db migrate`"
            return
        }
        message = "\(error.sqlState.map { "\($0) " } ?? "")\(error.message)"
        hint = error.hint
    }
}
