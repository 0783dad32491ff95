import Buffer
import Foundation
import LocalCluster
import Postgres
import TestSupport
import Testing

/// Restarting the database (an immediate stop: every session dies, like a crash) during a run:
/// every daemon reconnects and carries on, and the run completes with nothing lost or doubled.
/// Each test has a PostgreSQL server of its own, so restarting it disturbs no other test.
@Suite("Daemons outlive database restarts", .serialized, .timeLimit(.minutes(8)))
struct DatabaseRestartTests {
    @Test func aMultiProcessRunCompletesThroughThreeDatabaseRestarts() async throws {
        try await withPrivateCluster { cluster, url in
            try await createRun("restarts", url: url, iterations: 3)
            let coordinator = try OptuneProcess(["coordinate", "--run", "restarts", "--log-level", "warning"], databaseURL: url)
            let workers = try [["generate"], ["generate"], ["score"], ["train"]].map {
                try OptuneProcess(
                    $0 + ["--log-level", "warning", "--poll-milliseconds", "100", "--batch-size", "16", "--lease-seconds", "10"],
                    databaseURL: url)
            }
            for restart in 1...3 {
                try await Task.sleep(for: .seconds(restart == 1 ? 3 : 4))
                #expect(try await cluster.stop(mode: .immediate) == .stopped)
                try await Task.sleep(for: .seconds(5))
                #expect(try await cluster.start() == .started)
                for worker in workers + [coordinator] where worker.hasExited && worker !== coordinator {
                    Issue.record("a daemon exited during restart \(restart):\n\(worker.output)")
                }
            }
            let status = await coordinator.waitForExit(timeout: .seconds(300))
            #expect(status == 0, "coordinator output:\n\(coordinator.output)")
            for worker in workers {
                #expect(!worker.hasExited, "a worker exited:\n\(worker.output)")
                worker.send(SIGTERM)
                #expect(await worker.waitForExit(timeout: .seconds(30)) == 0, "worker output:\n\(worker.output)")
            }
            #expect(
                coordinator.output.contains("database connection restored")
                    || workers.contains { $0.output.contains("database connection restored") })
            try await expectCompleteAndUnduplicated(url: url, iterations: 3, trainPrompts: 80)
        }
    }

    @Test func anInProcessRunCompletesThroughThreeDatabaseRestarts() async throws {
        try await withPrivateCluster { cluster, url in
            let run = try OptuneProcess(
                [
                    "run", "--name", "inproc", "--iterations", "4", "--train-prompts", "1000", "--eval-prompts", "200", "--epochs", "2",
                    "--rho", "0.5", "--log-level", "warning",
                ], databaseURL: url)
            // Restarts hit the iterations, not the one-off setup (task creation, π_0's SFT).
            let started = try await Probe.eventually(timeout: .seconds(120)) { run.output.contains("run inproc (id") }
            #expect(started, "optune run output:\n\(run.output)")
            var restartsWhileRunning = 0
            for _ in 1...3 {
                try await Task.sleep(for: .seconds(1))
                if run.hasExited { break }
                #expect(try await cluster.stop(mode: .immediate) == .stopped)
                restartsWhileRunning += 1
                try await Task.sleep(for: .seconds(5))
                #expect(try await cluster.start() == .started)
            }
            #expect(restartsWhileRunning >= 2, "the run ended before the restarts could test it")
            let status = await run.waitForExit(timeout: .seconds(300))
            #expect(status == 0, "optune run output:\n\(run.output)")
            #expect(run.output.contains("run inproc finished"))
            try await expectCompleteAndUnduplicated(url: url, iterations: 4, trainPrompts: 1000)
        }
    }
}

/// The run's provenance is whole (every pair reaches its responses, policies, training run and
/// selection) and nothing was stored twice.
func expectCompleteAndUnduplicated(url: String, iterations: Int, trainPrompts: Int) async throws {
    let connection = try await Connection.connect(to: url)
    #expect(try await Probe.count("SELECT count(*) FROM optune.iterations WHERE state = 'done'", on: connection) == iterations + 1)
    #expect(try await Probe.count("SELECT count(*) FROM optune.policies WHERE run_id IS NOT NULL", on: connection) == iterations)
    #expect(try await Probe.count("SELECT count(*) FROM optune.unpaired_prompts", on: connection) == 0)
    #expect(
        try await Probe.count(
            "SELECT count(*) FROM (SELECT DISTINCT run_id, t, prompt_id, sample_index FROM optune.responses) d", on: connection)
            == Probe.count("SELECT count(*) FROM optune.responses", on: connection))
    #expect(
        try await Probe.count(
            "SELECT count(*) FROM (SELECT response_id, reward_model_id, count(*) FROM optune.rewards GROUP BY 1, 2 HAVING count(*) > 1) d",
            on: connection) == 0)
    // Every iteration's D_t holds one pair per train prompt.
    #expect(try await Probe.count("SELECT count(*) FROM optune.pairs", on: connection) == trainPrompts * iterations)
    let gaps = try await Probe.count(
        """
        SELECT count(*) FROM optune.pairs p
        LEFT JOIN optune.responses c ON (c.run_id, c.t, c.prompt_id, c.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.chosen_sample)
        LEFT JOIN optune.responses r ON (r.run_id, r.t, r.prompt_id, r.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.rejected_sample)
        LEFT JOIN optune.training_runs tr ON (tr.run_id, tr.t) = (p.run_id, p.t)
        LEFT JOIN optune.selections s ON (s.run_id, s.t, s.prompt_id) = (p.source_run_id, p.source_t, p.prompt_id)
        LEFT JOIN optune.iterations gi ON (gi.run_id, gi.t) = (p.source_run_id, p.source_t)
        WHERE c.id IS NULL OR r.id IS NULL OR tr.policy_out IS NULL OR s.prompt_id IS NULL OR gi.policy_id <> c.policy_id
        """, on: connection)
    #expect(gaps == 0)
    await connection.close()
}

/// A small built-in run created through the CLI against `url`.
func createRun(_ name: String, url: String, iterations: Int) async throws {
    let (status, output) = try await OptuneProcess.run(
        [
            "run", "--create-only", "--name", name, "--rho", "0.5", "--iterations", "\(iterations)",
            "--train-prompts", "80", "--eval-prompts", "40", "--epochs", "1",
        ],
        databaseURL: url)
    guard status == 0 else { throw TestDatabaseError(message: "optune run --create-only failed:\n\(output)") }
}

/// A PostgreSQL server of this test's own (fsync off), started, migrated, and removed afterwards.
func withPrivateCluster(_ body: (LocalCluster, String) async throws -> Void) async throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("optune-restart-\(UUID().uuidString.prefix(8))").path
    let cluster = LocalCluster(configuration: LocalClusterConfiguration(root: root, fsync: false))
    defer { try? FileManager.default.removeItem(atPath: root) }
    _ = try await cluster.start()
    do {
        let connection = try await Connection.connect(to: cluster.connectionURL)
        try await Migrator(connection: connection).migrate()
        await connection.close()
        try await body(cluster, cluster.connectionURL)
    } catch {
        _ = try? await cluster.stop()
        throw error
    }
    _ = try? await cluster.stop()
}
