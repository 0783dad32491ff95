import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Training elsewhere: export, register, status")
struct ExternalTrainingTests {
    @Test func anExportedIterationCanBeTrainedElsewhereAndRegistered() async throws {
        try await TestDatabase.withFresh { database in
            try await createRun("ext", in: database, iterations: 2)
            let connection = try await database.connect()
            // Everything but a trainer: iteration 0 stops in state training.
            let coordinator = try OptuneProcess(["coordinate", "--run", "ext", "--log-level", "warning"], databaseURL: database.url)
            let workers = try [["generate"], ["score"]].map {
                try OptuneProcess($0 + ["--log-level", "warning", "--poll-milliseconds", "100"], databaseURL: database.url)
            }
            let waiting = try await Probe.eventually(timeout: .seconds(120)) {
                try await Probe.count("SELECT count(*) FROM optune.iterations WHERE t = 0 AND state = 'training'", on: connection) == 1
            }
            #expect(waiting)

            let (statusCode, status) = try await OptuneProcess.run(["status", "--run", "ext"], databaseURL: database.url)
            #expect(statusCode == 0)
            #expect(status.contains("ext  t=0  training"))
            #expect(status.contains("generation: pending 0, leased 0, done 80, dead 0"))
            #expect(status.contains("generator"))

            let path = FileManager.default.temporaryDirectory.appendingPathComponent("ext-\(UUID().uuidString).jsonl").path
            let (exportCode, exportOutput) = try await OptuneProcess.run(
                ["export", "--run", "ext", "--iteration", "0", "-o", path], databaseURL: database.url)
            #expect(exportCode == 0, "\(exportOutput)")
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 60)

            let sha = String(repeating: "ab", count: 32)
            let (registerCode, registerOutput) = try await OptuneProcess.run(
                ["policy", "register", "--run", "ext", "--iteration", "0", "--uri", "my-model-step1", "--sha256", sha],
                databaseURL: database.url)
            #expect(registerCode == 0, "\(registerOutput)")
            let policy = try await connection.query(
                """
                SELECT p.uri, p.sha256, p.t, tr.policy_in = i.policy_id
                FROM optune.training_runs tr JOIN optune.policies p ON p.id = tr.policy_out
                JOIN optune.iterations i ON (i.run_id, i.t) = (tr.run_id, tr.t) WHERE tr.t = 0
                """)[0]
            #expect(try policy.decode(0, as: String.self) == "my-model-step1")
            #expect(try policy.decode(1, as: String.self) == sha)
            #expect(try policy.decode(2, as: Int.self) == 1)
            #expect(try policy.decode(3, as: Bool.self))
            // The coordinator moves on past training.
            let movedOn = try await Probe.eventually(timeout: .seconds(60)) {
                try await Probe.count("SELECT count(*) FROM optune.iterations WHERE t = 0 AND state = 'done'", on: connection) == 1
            }
            #expect(movedOn)
            // Registering twice is refused: the iteration is no longer waiting for training.
            let (again, _) = try await OptuneProcess.run(
                ["policy", "register", "--run", "ext", "--iteration", "0", "--uri", "other"], databaseURL: database.url)
            #expect(again != 0)
            coordinator.send(SIGTERM)
            for worker in workers { worker.send(SIGTERM) }
            _ = await coordinator.waitForExit(timeout: .seconds(30))
            for worker in workers { _ = await worker.waitForExit(timeout: .seconds(30)) }
        }
    }
}
