import Buffer
import Foundation
import Postgres
import Testing

@testable import LocalCluster

@Suite("The embedded database keeps its data", .timeLimit(.minutes(3)))
struct EmbeddedDatabaseTests {
    @Test func startMigrateStopStartKeepsTheData() async throws {
        try await withTemporaryCluster { cluster in
            #expect(try await cluster.start() == .started)
            var connection = try await Connection.connect(to: cluster.connectionURL)
            let applied = try await Migrator(connection: connection).migrate()
            #expect(!applied.isEmpty)
            let buffer = ReplayBuffer(connection: connection)
            let set = try await buffer.promptSet(named: "kept")
            try await buffer.storePrompts(
                [PromptRecord(text: "still here after a restart")], inSet: set, defaultSplit: .train, source: "test")
            await connection.close()

            #expect(try await cluster.stop() == .stopped)
            #expect(try await cluster.start() == .started)

            connection = try await Connection.connect(to: cluster.connectionURL)
            #expect(try await Migrator(connection: connection).migrate().isEmpty)
            let text = try await connection.query("SELECT text FROM optune.prompts")[0].decode(0, as: String.self)
            #expect(text == "still here after a restart")
            await connection.close()
        }
    }
}
