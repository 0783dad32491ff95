import Migrations
import Postgres

/// The state of one migration in a database.
public struct MigrationStatus: Sendable, Hashable {
    public enum State: String, Sendable {
        /// Applied, and the file still has the checksum it was applied with.
        case applied
        /// Not applied yet.
        case pending
        /// Applied, but the file has been edited since: the database and the file disagree.
        case modified
        /// Applied to the database but unknown to this build (a newer optune applied it).
        case unknown
    }

    public var name: String
    public var state: State
    public var checksum: String?
}

/// A migration could not be applied; nothing of it was committed.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Applies `Migrations/sql/NNNN_*.sql` in order, each in its own transaction, recording name and
/// checksum in `optune.schema_migrations`.
///
/// Concurrent runs are safe: each takes a session advisory lock first, so the second waits and
/// then finds nothing left to do. An applied file that has since been edited is refused.
public struct Migrator: Sendable {
    public let files: [MigrationFile]
    let connection: Connection

    /// The key of the advisory lock every migrator takes ("optune.migrate").
    static let lockKey: Int64 = 0x6F70_7475_6E65_6D67

    public init(connection: Connection, files: [MigrationFile]) {
        self.connection = connection
        self.files = files
    }

    /// A migrator for the migrations shipped with this build.
    public init(connection: Connection) throws {
        self.init(connection: connection, files: try MigrationFiles.bundled())
    }

    /// Every migration, applied or pending, in order.
    public func status() async throws -> [MigrationStatus] {
        let files = files
        return try await connection.transaction { connection in
            try Self.status(of: files, on: connection)
        }
    }

    /// Applies every pending migration and returns the names applied (empty when up to date).
    /// Throws ``MigrationError`` without applying anything if an applied file was edited.
    @discardableResult
    public func migrate() async throws -> [String] {
        let files = files
        return try await connection.withAdvisoryLock(Self.lockKey) { connection in
            try Self.ensureBookkeeping(on: connection)
            let states = try Self.status(of: files, on: connection)
            let modified = states.filter { $0.state == .modified }.map(\.name)
            guard modified.isEmpty else {
                throw MigrationError(
                    message: """
                        refusing to migrate: \(modified.joined(separator: ", ")) changed after being applied \
                        (a landed migration is never edited; add a new one instead)
                        """)
            }
            var applied: [String] = []
            for file in files where states.first(where: { $0.name == file.name })?.state == .pending {
                try connection.simpleQuery("BEGIN")
                do {
                    try connection.simpleQuery(file.sql)
                    try connection.execute(
                        """
                        INSERT INTO optune.schema_migrations (name, checksum)
                        VALUES ($1, encode(sha256(convert_to($2, 'UTF8')), 'hex'))
                        """, [file.name, file.sql])
                    try connection.simpleQuery("COMMIT")
                } catch {
                    try? connection.simpleQuery("ROLLBACK")
                    throw MigrationError(message: "migration \(file.name) failed and was rolled back: \(error)")
                }
                applied.append(file.name)
            }
            return applied
        }
    }

    private static func ensureBookkeeping(on connection: isolated Connection) throws {
        try connection.simpleQuery(
            """
            CREATE SCHEMA IF NOT EXISTS optune;
            CREATE TABLE IF NOT EXISTS optune.schema_migrations (
                name text PRIMARY KEY,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON TABLE optune.schema_migrations IS
                'Migrations applied by `optune db migrate`: file name and sha256 of its text.';
            """)
    }

    private static func status(of files: [MigrationFile], on connection: isolated Connection) throws -> [MigrationStatus] {
        let exists = try connection.query("SELECT to_regclass('optune.schema_migrations') IS NOT NULL")
        var applied: [String: String] = [:]
        if try exists[0].decode(0, as: Bool.self) {
            for row in try connection.query("SELECT name, checksum FROM optune.schema_migrations") {
                applied[try row.decode(0, as: String.self)] = try row.decode(1, as: String.self)
            }
        }
        var result: [MigrationStatus] = []
        let checksums = try connection.query(
            "SELECT encode(sha256(convert_to(f, 'UTF8')), 'hex') FROM unnest($1::text[]) WITH ORDINALITY AS t(f, i) ORDER BY i",
            [files.map(\.sql)])
        for (file, row) in zip(files, checksums) {
            let checksum = try row.decode(0, as: String.self)
            switch applied.removeValue(forKey: file.name) {
            case nil: result.append(MigrationStatus(name: file.name, state: .pending, checksum: checksum))
            case checksum: result.append(MigrationStatus(name: file.name, state: .applied, checksum: checksum))
            case let other: result.append(MigrationStatus(name: file.name, state: .modified, checksum: other))
            }
        }
        for (name, checksum) in applied.sorted(by: { $0.key < $1.key }) {
            result.append(MigrationStatus(name: name, state: .unknown, checksum: checksum))
        }
        return result
    }
}
