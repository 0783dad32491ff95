import Postgres

/// Runs `sql` and returns the server error it raised, or nil if it succeeded: for tests that
/// check which constraint a statement breaks.
public func postgresError(
    running sql: String, _ parameters: [(any PostgresEncodable)?] = [], on connection: Connection
) async throws -> PostgresError? {
    do {
        try await connection.execute(sql, parameters)
        return nil
    } catch let error as PostgresError {
        return error
    }
}
