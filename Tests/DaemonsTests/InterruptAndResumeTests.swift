import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

/// SIGINT or SIGTERM of `optune run` stops it cleanly (leases returned, exit 130 or 143, the
/// resume command printed) and `optune run --resume` finishes the run.
@Suite("optune run: interrupt and resume")
struct InterruptAndResumeTests {
    @Test(arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func aSignalStopsTheRunAndResumeFinishesIt(signal: Int32, exitCode: Int32) async throws {
        try await TestDatabase.withFresh { database in
            let connection = try await database.connect()
            // 20 iterations: long enough that the signal lands mid-run even on a loaded machine.
            let run = try OptuneProcess(
                [
                    "run", "--name", "stopped", "--iterations", "20", "--train-prompts", "1000", "--eval-prompts", "200", "--epochs", "2",
                    "--log-level", "warning",
                ], databaseURL: database.url)
            let iterating = try await Probe.eventually(timeout: .seconds(120)) {
                try await Probe.count("SELECT count(*) FROM optune.iterations", on: connection) > 0
            }
            #expect(iterating, "\(run.output)")
            run.send(signal)
            let status = await run.waitForExit(timeout: .seconds(60))
            #expect(status == exitCode, "\(run.output)")
            #expect(!run.output.contains("run stopped finished"), "\(run.output)")
            #expect(run.output.contains("resume with: optune run --resume stopped"), "\(run.output)")
            #expect(
                try await Probe.count(
                    "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'leased'", on: connection) == 0,
                "leases were not returned")
            #expect(try await Probe.count("SELECT count(*) FROM optune.iterations WHERE state = 'done'", on: connection) < 21)

            let (code, output) = try await OptuneProcess.run(
                ["run", "--resume", "stopped", "--log-level", "warning"], databaseURL: database.url)
            #expect(code == 0, "\(output)")
            #expect(output.contains("resuming run stopped"))
            #expect(output.contains("run stopped finished"))
            #expect(try await Probe.count("SELECT count(*) FROM optune.iterations WHERE state = 'done'", on: connection) == 21)
            #expect(try await Probe.count("SELECT count(*) FROM optune.runs WHERE status = 'done'", on: connection) == 1)
            #expect(try await Probe.count("SELECT count(*) FROM optune.pairs", on: connection) == 1000 * 20)
            #expect(
                try await Probe.count(
                    "SELECT count(*) FROM (SELECT DISTINCT run_id, t, prompt_id, sample_index FROM optune.responses) d", on: connection)
                    == Probe.count("SELECT count(*) FROM optune.responses", on: connection))
            // A finished run resumes to nothing; an unknown one is named.
            let again = try await OptuneProcess.run(["run", "--resume", "stopped"], databaseURL: database.url)
            #expect(again.0 == 0 && again.1.contains("already done"))
            let unknown = try await OptuneProcess.run(["run", "--resume", "nope"], databaseURL: database.url)
            #expect(unknown.0 == 1 && unknown.1.contains("no run named nope"), "\(unknown.1)")
            await connection.close()
        }
    }
}
