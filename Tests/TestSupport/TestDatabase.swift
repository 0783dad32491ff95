import Buffer
import Foundation
import Postgres

/// A database of its own for one test, created on the server named by
/// `OPTUNE_TEST_DATABASE_URL` and dropped afterwards, so tests run in parallel and in any order.
///
/// `tools/test.sh` starts a throwaway server and sets the variable.
public struct TestDatabase: Sendable {
    /// The database's name (`optune_test_…`).
    public let name: String
    /// A libpq URI for this database, for child processes.
    public let url: String
    let serverURL: String

    /// The server every test database is created on.
    public static func serverURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["OPTUNE_TEST_DATABASE_URL"], !url.isEmpty else {
            throw TestDatabaseError(
                message: """
                    OPTUNE_TEST_DATABASE_URL is not set: run the tests with tools/test.sh, which starts a \
                    throwaway PostgreSQL, or point the variable at a server where you may create databases
                    """)
        }
        return url
    }

    /// Creates a fresh database (migrated unless `migrated` is false), runs `body`, then drops it.
    public static func withFresh<T: Sendable>(
        migrated: Bool = true, _ body: (TestDatabase) async throws -> T
    ) async throws -> T {
        let server = try serverURL()
        let name = "optune_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try await Connection.connect(to: server, applicationName: "optune-tests")
        try await admin.execute("CREATE DATABASE \(try await admin.quoteIdentifier(name))")
        let database = TestDatabase(name: name, url: ConnectionString.replacingDatabase(in: server, with: name), serverURL: server)
        do {
            if migrated {
                let connection = try await database.connect()
                try await Migrator(connection: connection).migrate()
                await connection.close()
            }
            let result = try await body(database)
            try await admin.execute("DROP DATABASE \(try await admin.quoteIdentifier(name)) WITH (FORCE)")
            await admin.close()
            return result
        } catch {
            _ = try? await admin.execute("DROP DATABASE IF EXISTS \(try await admin.quoteIdentifier(name)) WITH (FORCE)")
            await admin.close()
            throw error
        }
    }

    /// A new connection to this test's database.
    public func connect(applicationName: String = "optune-tests") async throws -> Connection {
        try await Connection.connect(to: serverURL, database: name, applicationName: applicationName)
    }
}

/// The test environment is not set up.
public struct TestDatabaseError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
