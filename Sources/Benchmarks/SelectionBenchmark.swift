import Buffer
import Foundation
import Postgres
import Selection

/// Times iteration 1's selection at N prompts — the VACUUM that marks D_0's pages all-visible,
/// then OPTune's ranking of every prompt by its D_0 reward, N·ρ selected (one row of arrays) and
/// enqueued as 256-prompt chunks, in one transaction, through ``Selector`` — beside its
/// floor on the same data: the same ranking written to a bare temporary heap (no index, no FK).
struct SelectionBenchmark {
    var fixture: ScaleFixture
    var rho = 0.5

    func run(buffer: ReplayBuffer, into report: inout BenchmarkReport) async throws {
        let fixture = fixture
        let rho = rho
        let c = buffer.connection
        try await c.run { c in
            try ReplayBuffer.createIteration(run: fixture.run, t: 1, policy: fixture.policies[1], rho: rho, strategy: .reward, on: c)
        }
        // What the coordinator's opening of iteration 1 does (ReplayBuffer.openIteration): mark
        // D_0's pages all-visible, then rank, select and enqueue in one transaction.
        let started = ContinuousClock.now
        try await c.run { c in try ReplayBuffer.settlePairs(on: c) }
        let settleSeconds = (ContinuousClock.now - started).seconds
        let enqueued = try await c.transaction { c in
            let selected = try Selector.select(
                Selector.Request(
                    run: fixture.run, t: 1, strategy: .reward, rho: rho, seed: 7, promptSetID: fixture.promptSet,
                    previousPairsRun: fixture.run, policy: fixture.policies[1], chunkSize: 256),
                on: c)
            let chunks = try c.query("SELECT count(*) FROM optune.generation_tasks WHERE run_id = $1 AND t = 1", [fixture.run])[0]
                .decode(0, as: Int.self)
            return (selected.selected, chunks)
        }
        let seconds = (ContinuousClock.now - started).seconds
        let size = Selector.selectionSize(rho: rho, promptCount: fixture.prompts)
        let floorStarted = ContinuousClock.now
        try await c.transaction { c in
            try c.simpleQuery("SET LOCAL work_mem = '256MB'")
            try c.execute(
                """
                CREATE TEMPORARY TABLE bench_selection_floor ON COMMIT DROP AS
                SELECT row_number() OVER (ORDER BY r_w, prompt_id) AS rank, prompt_id, r_w
                FROM (SELECT prompt_id, r_w FROM optune.pairs WHERE run_id = $1 AND t = 0 ORDER BY r_w, prompt_id LIMIT $2) ranked
                """, [fixture.run, Int64(size)])
        }
        let floor = (ContinuousClock.now - floorStarted).seconds
        // Later sections lease from the same queue: leave no pending tasks in front of theirs.
        try await c.execute("DELETE FROM optune.generation_tasks WHERE run_id = $1 AND t = 1", [fixture.run])
        try await c.simpleQuery("VACUUM ANALYZE optune.generation_tasks")
        let scale = fixture.prompts >= 1000 ? "\(fixture.prompts / 1000)k" : "\(fixture.prompts)"
        report.add(
            BenchmarkRow(
                section: "selection", name: "rank \(scale) prompts by reward, select and enqueue ρ = \(rho)", value: seconds, unit: "s",
                comparison: String(
                    format:
                        "floor %.2f s (same ranking into a bare temp heap) · %.1f× floor · %d prompts in %d chunks · of which VACUUM of D_0 %.2f s · goal ≤ 1 s at 1M",
                    floor, seconds / max(floor, 1e-9), enqueued.0, enqueued.1, settleSeconds)))
        report.record("selection_seconds", seconds)
        report.record("selection_floor_seconds", floor)
        report.record("selection_settle_seconds", settleSeconds)
        report.record("selection_prompts", Double(fixture.prompts))
    }
}
