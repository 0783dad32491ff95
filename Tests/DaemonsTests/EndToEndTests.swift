import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("End to end, with separate processes")
struct EndToEndTests {
    @Test func aThreeIterationRunCompletesWithTwoGeneratorsAndOneScorerAsProcesses() async throws {
        try await TestDatabase.withFresh { database in
            try await createRun("e2e", in: database, rho: 0.5, iterations: 3, train: 80, eval: 40)
            let connection = try await database.connect()
            let coordinator = try OptuneProcess(["coordinate", "--run", "e2e", "--log-level", "warning"], databaseURL: database.url)
            let workers = try [["generate"], ["generate"], ["score"], ["train"]].map {
                try OptuneProcess(
                    $0 + ["--log-level", "warning", "--poll-milliseconds", "100", "--batch-size", "16"], databaseURL: database.url)
            }
            let status = await coordinator.waitForExit(timeout: .seconds(300))
            for worker in workers { worker.send(SIGTERM) }
            #expect(status == 0, "coordinator output:\n\(coordinator.output)")
            for worker in workers { #expect(await worker.waitForExit(timeout: .seconds(30)) == 0, "worker output:\n\(worker.output)") }
            let lines = coordinator.output.split(separator: "\n").filter { $0.hasPrefix("t=") }
            #expect(lines.count == 4)  // t = 0, 1, 2 and the final evaluation at t = 3

            // Both generators did work.
            #expect(try await Probe.count("SELECT count(DISTINCT worker_id) FROM optune.responses", on: connection) == 2)
            // ρ = 0.5 after the fully-online iteration 0: 40 of 80 prompts regenerated, 40 reused.
            #expect(
                try await Probe.count(
                    "SELECT count(*) FROM optune.iterations WHERE t IN (1, 2) AND selected = 40 AND reused = 40", on: connection) == 2)
            #expect(try await Probe.count("SELECT count(*) FROM optune.evaluations", on: connection) == 4)
            #expect(try await Probe.count("SELECT count(*) FROM optune.policies WHERE run_id IS NOT NULL", on: connection) == 3)

            // Provenance: every pair reaches its responses, their policies, the training run that
            // used it and the selection that regenerated it — with no NULL gaps.
            let gaps = try await Probe.count(
                """
                SELECT count(*) FROM optune.pairs p
                LEFT JOIN optune.responses c ON (c.run_id, c.t, c.prompt_id, c.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.chosen_sample)
                LEFT JOIN optune.responses r ON (r.run_id, r.t, r.prompt_id, r.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.rejected_sample)
                LEFT JOIN optune.policies pc ON pc.id = c.policy_id
                LEFT JOIN optune.policies pr ON pr.id = r.policy_id
                LEFT JOIN optune.training_runs tr ON (tr.run_id, tr.t) = (p.run_id, p.t)
                LEFT JOIN optune.selections s ON (s.run_id, s.t, s.prompt_id) = (p.source_run_id, p.source_t, p.prompt_id)
                LEFT JOIN optune.iterations gi ON (gi.run_id, gi.t) = (p.source_run_id, p.source_t)
                WHERE c.id IS NULL OR r.id IS NULL OR pc.id IS NULL OR pr.id IS NULL OR tr.policy_out IS NULL
                   OR s.prompt_id IS NULL OR gi.policy_id <> c.policy_id
                """, on: connection)
            #expect(gaps == 0)
            #expect(try await Probe.count("SELECT count(*) FROM optune.pairs", on: connection) == 240)
        }
    }
}
