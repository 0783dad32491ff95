import Buffer
import Foundation
import Postgres
import Selection
import Synchronization

/// Prompt-leases per second from the generation queue through ``ReplayBuffer/lease(_:owner:limit:leaseSeconds:run:)``
/// with N pending prompts in 256-prompt chunks, for several client counts and batch sizes, beside
/// a floor on the same server: leasing from a bare table with one row per 256 prompts.
struct LeaseBenchmark {
    var fixture: ScaleFixture
    /// (clients, batch size) pairs to measure.
    var configurations: [(clients: Int, batch: Int)] = [(1, 256), (4, 256), (4, 64), (4, 1)]
    /// How long each configuration leases.
    var seconds = 3.0

    func run(buffer: ReplayBuffer, databaseURL: String, into report: inout BenchmarkReport, progress: @Sendable (String) -> Void)
        async throws
    {
        let c = buffer.connection
        // A fork of the fixture's run whose iteration 1 takes every prompt (ρ = 1): all pending,
        // enqueued through the product's path.
        var config = RunConfig()
        config.iterations = 1
        let run = try await buffer.createRun(
            name: "bench-leases", promptSetID: fixture.promptSet, rewardModelID: fixture.rewardModel, config: config,
            forkedFrom: (fixture.run, 0))
        let policy = try await buffer.registerPolicy(run: run, t: 1, parent: fixture.policies[0], uri: "bench://leases")
        let pending = try await c.transaction { [set = fixture.promptSet, parent = fixture.run] c in
            try ReplayBuffer.createIteration(run: run, t: 1, policy: policy, rho: 1, strategy: .full, on: c)
            return try Selector.select(
                Selector.Request(
                    run: run, t: 1, strategy: .full, rho: 1, seed: 7, promptSetID: set, previousPairsRun: parent, policy: policy,
                    chunkSize: 256),
                on: c
            ).selected
        }
        try await c.simpleQuery("VACUUM ANALYZE optune.generation_tasks")
        let clients = try await Self.connect(databaseURL, count: configurations.map(\.clients).max() ?? 1)
        for (count, batch) in configurations {
            progress("leases: \(count) client(s), batch \(batch), \(pending) pending")
            let leased = Mutex(0)
            let elapsed = try await Self.hammer(clients: Array(clients.prefix(count)), seconds: seconds) { client, index in
                let tasks = try await client.lease(.generation, owner: "bench-\(index)", limit: batch, leaseSeconds: 3600, run: run)
                leased.withLock { $0 += tasks.count }
                return !tasks.isEmpty
            }
            let rate = Double(leased.withLock { $0 }) / elapsed
            // Put every task back (not timed) so the next configuration starts from the same queue.
            try await c.execute(
                """
                UPDATE optune.generation_tasks SET state = 'pending', lease_owner = NULL, lease_token = NULL,
                    lease_expires_at = NULL, attempts = 0
                WHERE run_id = $1 AND t = 1 AND state = 'leased'
                """, [run])
            try await c.simpleQuery("VACUUM ANALYZE optune.generation_tasks")
            let floor = try await chunkFloor(clients: Array(clients.prefix(count)), c: c, prompts: pending, progress: progress)
            report.add(
                BenchmarkRow(
                    section: "leases", name: "\(count) client\(count == 1 ? "" : "s"), batch \(batch)", value: rate,
                    unit: "prompt-leases/s",
                    comparison: String(
                        format: "floor %.0fk (one row per 256 prompts, %d client%@) · %.0f%% of floor · %dk pending · goal ≥ 100k",
                        floor / 1000, count, count == 1 ? "" : "s", 100 * rate / floor, pending / 1000)))
            report.record("leases_\(count)c_b\(batch)_per_s", rate)
            report.record("leases_floor_\(count)c_per_s", floor)
        }
        for client in clients { await client.close() }
        // Later sections lease from the same queue: leave no pending tasks in front of theirs.
        try await c.execute("DELETE FROM optune.generation_tasks WHERE run_id = $1", [run])
        try await c.simpleQuery("VACUUM ANALYZE optune.generation_tasks")
    }

    /// Prompt-leases/s when each lease takes one row standing for 256 prompts.
    private func chunkFloor(clients: [ReplayBuffer], c: Connection, prompts: Int, progress: @Sendable (String) -> Void) async throws
        -> Double
    {
        try await c.simpleQuery("DROP TABLE IF EXISTS bench_chunks")
        try await c.execute(
            """
            CREATE UNLOGGED TABLE bench_chunks (id bigint PRIMARY KEY, state text NOT NULL DEFAULT 'pending', lease_owner text,
                lease_token bigint, lease_expires_at timestamptz)
            """)
        try await c.execute("INSERT INTO bench_chunks (id) SELECT generate_series(1, $1::int8)", [Int64(max(1, prompts / 256))])
        try await c.simpleQuery("CREATE INDEX bench_chunks_pending ON bench_chunks (id) WHERE state = 'pending'; ANALYZE bench_chunks")
        let leased = Mutex(0)
        let elapsed = try await Self.hammer(clients: clients, seconds: seconds) { client, index in
            let rows = try await client.connection.query(
                """
                UPDATE bench_chunks SET state = 'leased', lease_owner = $1, lease_token = 1, lease_expires_at = now() + interval '1 hour'
                WHERE id = (SELECT id FROM bench_chunks WHERE state = 'pending' ORDER BY id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED)
                RETURNING id
                """, ["bench-\(index)"])
            leased.withLock { $0 += 256 * rows.count }
            return !rows.isEmpty
        }
        try await c.simpleQuery("DROP TABLE bench_chunks")
        return Double(leased.withLock { $0 }) / elapsed
    }

    static func connect(_ url: String, count: Int) async throws -> [ReplayBuffer] {
        var clients: [ReplayBuffer] = []
        for _ in 0..<count { clients.append(try await ReplayBuffer.connect(to: url, applicationName: "optune-bench")) }
        return clients
    }

    /// Runs `body` in a loop on every client at once for `seconds` (or until a call returns
    /// false); returns the elapsed seconds.
    static func hammer(
        clients: [ReplayBuffer], seconds: Double, _ body: @escaping @Sendable (ReplayBuffer, Int) async throws -> Bool
    ) async throws -> Double {
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int64(seconds * 1000))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    while ContinuousClock.now < deadline {
                        guard try await body(client, index) else { return }
                    }
                }
            }
            try await group.waitForAll()
        }
        return (ContinuousClock.now - started).seconds
    }
}
