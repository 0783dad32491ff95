import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

/// A chunk whose worker keeps dying: each expiry splits it in 4 smaller chunks, each leased alone,
/// so the run finishes, nothing is lost, and the expiries are counted apart from attempts.
@Suite("Poison batches split on retry")
struct PoisonBatchTests {
    @Test func killingTheHolderOfABatchFourTimesLosesNothing() async throws {
        try await TestDatabase.withFresh { database in
            try await createRun("poison", in: database, iterations: 1, train: 10, eval: 2)
            let connection = try await database.connect()
            let coordinator = try OptuneProcess(["coordinate", "--run", "poison", "--log-level", "warning"], databaseURL: database.url)
            var batchSizes: [Int] = []
            for kill in 1...4 {
                // A generator that leases up to 16 tasks and would sit on them for a minute.
                let holder = try OptuneProcess(
                    [
                        "generate", "--batch-size", "16", "--lease-seconds", "1", "--delay-before-submit-ms", "60000",
                        "--poll-milliseconds", "100",
                        "--log-level", "warning",
                    ], databaseURL: database.url)
                let holding = try await Probe.eventually(timeout: .seconds(60)) {
                    try await Probe.count(
                        "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'leased'", on: connection) > 0
                }
                #expect(holding, "kill \(kill): the generator leased nothing\n\(holder.output)")
                batchSizes.append(
                    try await Probe.count(
                        "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'leased'", on: connection))
                holder.send(SIGKILL)
                _ = await holder.waitForExit(timeout: .seconds(10))
                // The lease runs out and the coordinator reclaims it (it looks at most once a
                // second) before the next holder looks for work.
                let reclaimed = try await Probe.eventually(timeout: .seconds(30)) {
                    try await Probe.count(
                        "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'leased'", on: connection) == 0
                }
                #expect(reclaimed, "kill \(kill): the expired lease was not reclaimed\n\(coordinator.output)")
            }
            // The train chunk of 10 fresh prompts, then the fresh eval chunk of 2, then a quarter
            // of the train chunk (⌈10/4⌉ = 3) alone, then another.
            #expect(batchSizes == [10, 2, 3, 3], "\(batchSizes)")

            let workers = try ["generate", "score", "train"].map {
                try OptuneProcess([$0, "--log-level", "warning", "--poll-milliseconds", "100"], databaseURL: database.url)
            }
            let status = await coordinator.waitForExit(timeout: .seconds(240))
            for worker in workers { worker.send(SIGTERM) }
            #expect(status == 0, "coordinator output:\n\(coordinator.output)")
            // Nothing died, nothing was lost or stored twice.
            #expect(
                try await Probe.count(
                    "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'dead'", on: connection) == 0)
            #expect(try await Probe.count("SELECT count(*) FROM optune.unpaired_prompts", on: connection) == 0)
            #expect(try await Probe.count("SELECT count(*) FROM optune.responses WHERE t = 0", on: connection) == 10 * 2 + 2)
            #expect(
                try await Probe.count(
                    "SELECT count(*) FROM (SELECT DISTINCT run_id, t, prompt_id, sample_index FROM optune.responses) d", on: connection)
                    == Probe.count("SELECT count(*) FROM optune.responses", on: connection))
            // Expiries are counted apart from attempts: a chunk split twice was expired twice.
            #expect(try await Probe.count("SELECT max(expiries)::int8 FROM optune.generation_tasks WHERE t = 0", on: connection) >= 2)
            #expect(try await Probe.count("SELECT max(attempts)::int8 FROM optune.generation_tasks WHERE t = 0", on: connection) <= 3)
            #expect(try await Probe.count("SELECT count(*) FROM optune.iterations WHERE state = 'done'", on: connection) == 2)
            for worker in workers { _ = await worker.waitForExit(timeout: .seconds(30)) }
            await connection.close()
        }
    }
}
