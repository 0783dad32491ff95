import Postgres
import Testing

/// A malformed connection string is reported without its password (issue 9 item 7).
@Suite("Connection strings in errors never show a password")
struct ConnectionStringRedactionTests {
    static let malformed: [String] = [
        "postgresql://u:hunter2@[::1",
        "postgresql://u:hun%zzter2@localhost/db",
        "postgres://u:hunter2@localhost/db?password=hunter2&bogus",
        "postgresql://u:hunter2@host/db?sslmode=verify-full&application_name",
        "host=localhost password='hunter2' user",
        "host=localhost password=hunter2 'unterminated",
        "password='hun ter2' host=localhost port",
    ]

    @Test(arguments: malformed.indices)
    func validationNamesTheProblemWithoutThePassword(case index: Int) throws {
        let conninfo = Self.malformed[index]
        let error = try #require(throws: PostgresError.self) { try ConnectionString.validate(conninfo) }
        #expect(error.message.hasPrefix("invalid URI: ") || error.message.hasPrefix("invalid connection string: "), "\(error.message)")
        #expect(
            !error.description.contains("hunter2") && !error.description.contains("hun%zzter2") && !error.description.contains("hun ter2"))
        #expect(!error.description.contains("\n"))
    }

    @Test(arguments: malformed.indices)
    func connectingFailsTheSameWayBeforeReachingAServer(case index: Int) async throws {
        let conninfo = Self.malformed[index]
        let error = await #expect(throws: PostgresError.self) { _ = try await Connection.connect(to: conninfo) }
        let text = try #require(error).description
        #expect(!text.contains("hunter2") && !text.contains("zzter2") && !text.contains("hun ter2"), "\(text)")
        #expect(text.hasPrefix("invalid URI: ") || text.hasPrefix("invalid connection string: "), "\(text)")
    }

    @Test func aWellFormedStringPassesAndRedactsToStars() throws {
        try ConnectionString.validate("postgresql://u:hunter2@localhost:5432/db?sslmode=disable")
        try ConnectionString.validate("host=/tmp port=5432 password='a b\\'c' dbname=x")
        #expect(ConnectionString.redacted("postgresql://u:hunter2@localhost/db") == "postgresql://u:***@localhost/db")
        #expect(ConnectionString.redacted("postgresql:///db?password=hunter2&host=/tmp") == "postgresql:///db?password=***&host=/tmp")
        #expect(ConnectionString.redacted("host=x password='a b\\'c' dbname=y") == "host=x password='***' dbname=y")
        #expect(ConnectionString.redacting("token \"hunter2\"", conninfo: "postgresql://u:hunter%32@h") == "token \"***\"")
    }
}
