import Postgres
import TestSupport
import Testing

/// Counts the wire protocol cannot carry are errors, not traps (issue 9 item 7).
@Suite("Protocol limits are errors")
struct ParameterLimitTests {
    @Test func moreThan65535ParametersIsAnErrorAndTheConnectionStaysUsable() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            let parameters: [(any PostgresEncodable)?] = Array(repeating: Int64(1), count: 70_000)
            let error = await #expect(throws: PostgresError.self) { try await connection.query("SELECT $1::int8", parameters) }
            #expect(error?.code == .invalidParameter)
            #expect(try await connection.query("SELECT 2::int8")[0].decode(0, as: Int64.self) == 2)
        }
    }

    @Test func aCopyRowWithMoreFieldsThanTheFormatAllowsAbortsTheCopy() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            try await connection.simpleQuery("CREATE TABLE t (a int8)")
            let error = await #expect(throws: PostgresError.self) {
                try await connection.copyFromBinary("COPY t (a) FROM STDIN (FORMAT binary)") { writer in
                    try writer.beginRow(fieldCount: 40_000)
                }
            }
            #expect(error?.code == .copyFailed)
            #expect(try await connection.query("SELECT count(*) FROM t")[0].decode(0, as: Int64.self) == 0)
        }
    }
}
