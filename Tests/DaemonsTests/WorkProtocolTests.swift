import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("The work protocol: leases, fencing, kills and shutdowns")
struct WorkProtocolTests {
    @Test func aLateSubmissionCarryingAnExpiredLeaseTokenIsRejected() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 3)
            let buffer = scenario.buffer
            let first = try await buffer.lease(.generation, owner: "slow", limit: 10, leaseSeconds: 60)
            #expect(first.count == 3)
            // The slow worker's lease expires; the task goes back to the queue and is re-leased.
            try await buffer.connection.execute("UPDATE optune.generation_tasks SET lease_expires_at = now() - interval '1 second'")
            #expect(try await buffer.reclaimExpiredLeases(.generation) == (3, 0))
            // The expired chunk of 3 is split in 3 chunks of 1 (4 parts at most), each leased alone
            // however large the limit, and its expiry is not an attempt.
            var second: [LeasedTask] = []
            for _ in 0..<3 {
                let part = try await buffer.lease(.generation, owner: "fast", limit: 12, leaseSeconds: 60)
                #expect(part.count == 1)
                second += part
            }
            #expect(second.count == 3)
            #expect(second.allSatisfy { $0.leaseToken > first[0].leaseToken && $0.attempts == 1 })

            let late = try await buffer.submitGenerations(first, responses: scenario.responses())
            #expect(late == SubmissionOutcome(accepted: 0, refused: 3))
            #expect(try await buffer.responses(run: scenario.run, t: 0).isEmpty)

            let current = try await buffer.submitGenerations(second, responses: scenario.responses())
            #expect(current == SubmissionOutcome(accepted: 3, refused: 0))
            #expect(try await buffer.responses(run: scenario.run, t: 0).count == 6)
            // The late worker retrying after the new holder finished still changes nothing.
            #expect(try await buffer.submitGenerations(first, responses: scenario.responses()).accepted == 0)
            #expect(try await buffer.responses(run: scenario.run, t: 0).count == 6)
        }
    }

    @Test func aTaskThatKeepsFailingGoesDeadWithItsError() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 1)
            let buffer = scenario.buffer
            for attempt in 1...3 {
                let tasks = try await buffer.lease(.generation, owner: "w", limit: 1, leaseSeconds: 60)
                #expect(tasks.count == 1 && tasks[0].attempts == attempt)
                try await buffer.failTasks(.generation, tasks, error: "backend said no (\(attempt))", retryable: true)
            }
            #expect(try await buffer.lease(.generation, owner: "w", limit: 1, leaseSeconds: 60).isEmpty)
            let row = try await buffer.connection.query("SELECT state, last_error FROM optune.generation_tasks")[0]
            #expect(try row.decode(0, as: String.self) == "dead")
            #expect(try row.decode(1, as: String.self) == "backend said no (3)")
        }
    }

    @Test func aGeneratorKilledMidBatchLosesNothingAndDuplicatesNothing() async throws {
        try await TestDatabase.withFresh { database in
            try await createRun("killed", in: database)
            let connection = try await database.connect()
            let coordinator = try OptuneProcess(["coordinate", "--run", "killed", "--log-level", "warning"], databaseURL: database.url)
            let slow = try OptuneProcess(
                [
                    "generate", "--batch-size", "1000", "--lease-seconds", "2", "--delay-before-submit-ms", "60000", "--log-level",
                    "warning",
                ],
                databaseURL: database.url)
            // Wait until the slow generator holds every task of iteration 0, then kill it.
            let leasedAll = try await Probe.eventually(timeout: .seconds(60)) {
                try await Probe.count(
                    "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE t = 0 AND state = 'leased'", on: connection)
                    == 80
            }
            #expect(leasedAll)
            slow.send(SIGKILL)
            _ = await slow.waitForExit(timeout: .seconds(10))
            #expect(slow.terminatedBySignal)
            let workers = try ["generate", "score", "train"].map {
                try OptuneProcess([$0, "--log-level", "warning", "--poll-milliseconds", "100"], databaseURL: database.url)
            }
            let status = await coordinator.waitForExit(timeout: .seconds(240))
            for worker in workers { worker.send(SIGTERM) }
            #expect(status == 0, "coordinator output:\n\(coordinator.output)")
            // Every prompt of iteration 0 was redone once, by another worker, in a quarter of the
            // chunk it was leased with: one expiry of a chunk, which does not count as an attempt.
            #expect(
                try await Probe.count(
                    "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE t = 0 AND attempts = 1 AND expiries = 1 AND state = 'done'",
                    on: connection) == 80)
            // 60 train prompts × 2 samples + 20 eval prompts × 1, per iteration: nothing lost, nothing twice.
            #expect(try await Probe.count("SELECT count(*) FROM optune.responses WHERE t = 0", on: connection) == 140)
            #expect(
                try await Probe.count(
                    "SELECT count(*) FROM (SELECT DISTINCT run_id, t, prompt_id, sample_index FROM optune.responses) d", on: connection)
                    == Probe.count("SELECT count(*) FROM optune.responses", on: connection))
            #expect(try await Probe.count("SELECT count(*) FROM optune.iterations WHERE state = 'done'", on: connection) == 2)
            for worker in workers { _ = await worker.waitForExit(timeout: .seconds(30)) }
        }
    }

    @Test func sigtermExitsCleanlyAndReleasesTheLeases() async throws {
        try await TestDatabase.withFresh { database in
            try await createRun("terminated", in: database)
            let connection = try await database.connect()
            let coordinator = try OptuneProcess(["coordinate", "--run", "terminated", "--log-level", "warning"], databaseURL: database.url)
            // Leases one chunk per batch and takes 3 s per batch: SIGTERM arrives with a batch in hand.
            let generator = try OptuneProcess(
                ["generate", "--batch-size", "1", "--delay-before-submit-ms", "3000", "--log-level", "info"], databaseURL: database.url)
            var inHand = 0
            let leased = try await Probe.eventually(timeout: .seconds(60)) {
                inHand = try await Probe.count(
                    "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'leased'", on: connection)
                return inHand > 0
            }
            #expect(leased)
            generator.send(SIGTERM)
            let status = await generator.waitForExit(timeout: .seconds(30))
            #expect(status == 0, "generator output:\n\(generator.output)")
            #expect(!generator.terminatedBySignal)
            // The batch in hand was finished and submitted; nothing is left leased by it.
            #expect(
                try await Probe.count(
                    "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'leased'", on: connection) == 0)
            #expect(
                try await Probe.count(
                    "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'done'", on: connection)
                    == inHand)
            #expect(
                try await Probe.count(
                    "SELECT count(*) FROM optune.workers WHERE role = 'generator' AND stopped_at IS NOT NULL", on: connection) == 1)
            coordinator.send(SIGTERM)
            #expect(await coordinator.waitForExit(timeout: .seconds(30)) == 0)
        }
    }

    @Test func aWorkerBusyWithALongBatchKeepsItsHeartbeatFresh() async throws {
        try await TestDatabase.withFresh { database in
            try await createRun("busy", in: database)
            let connection = try await database.connect()
            let coordinator = try OptuneProcess(["coordinate", "--run", "busy", "--log-level", "warning"], databaseURL: database.url)
            // One batch that takes 25 s before it is submitted.
            let generator = try OptuneProcess(
                ["generate", "--batch-size", "1000", "--delay-before-submit-ms", "25000", "--log-level", "warning"],
                databaseURL: database.url)
            let busy = try await Probe.eventually(timeout: .seconds(60)) {
                try await Probe.count(
                    "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'leased'", on: connection) > 0
            }
            #expect(busy, "\(generator.output)")
            try await Task.sleep(for: .seconds(16))
            // Refreshed every 10 s while busy: without that it would be ~16 s old by now.
            let age = try await Probe.count(
                "SELECT extract(epoch FROM now() - last_heartbeat)::int8 FROM optune.workers WHERE role = 'generator'", on: connection)
            #expect(age < 12, "the generator's heartbeat is \(age) s old in the middle of its batch")
            for process in [generator, coordinator] {
                process.send(SIGTERM)
                _ = await process.waitForExit(timeout: .seconds(60))
            }
            await connection.close()
        }
    }
}
