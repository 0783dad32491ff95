import Foundation
import Postgres
import TestSupport

/// Small SQL probes the process tests poll.
enum Probe {
    static func count(_ sql: String, _ parameters: [(any PostgresEncodable)?] = [], on connection: Connection) async throws -> Int {
        try await connection.query(sql, parameters)[0].decode(0, as: Int.self)
    }

    /// Polls `condition` every 100 ms until it holds or `timeout` passes.
    static func eventually(timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }
}

/// A small built-in run, created through the CLI.
func createRun(_ name: String, in database: TestDatabase, rho: Double = 0.5, iterations: Int = 1, train: Int = 60, eval: Int = 20)
    async throws
{
    let (status, output) = try await OptuneProcess.run(
        [
            "run", "--create-only", "--name", name, "--rho", "\(rho)", "--iterations", "\(iterations)",
            "--train-prompts", "\(train)", "--eval-prompts", "\(eval)", "--epochs", "1",
        ],
        databaseURL: database.url)
    guard status == 0 else { throw TestDatabaseError(message: "optune run --create-only failed:\n\(output)") }
}
