import Buffer
import Foundation
import Postgres
import Selection

/// A finished iteration 0 at any scale, written set-based in SQL (not through the ingest path)
/// so the sections that start from D_0 — selection, export — reach 1M prompts in minutes: N
/// prompts in a train split, a run, π_0 and π_1, iteration 0 with its tasks done, two responses
/// per prompt, their rewards, and D_0 built by the product's ``PairBuilder``.
struct ScaleFixture {
    var run: Int64
    var promptSet: Int64
    var rewardModel: Int64
    /// π_0, π_1.
    var policies: [Int64]
    var prompts: Int

    /// Builds the fixture. With `tokenBlobs`, responses carry token blobs (cycled) and no text;
    /// otherwise a short text each.
    static func create(
        buffer: ReplayBuffer, name: String, prompts count: Int, tokenBlobs: [[UInt8]]? = nil, progress: @Sendable (String) -> Void
    ) async throws -> ScaleFixture {
        let c = buffer.connection
        let set = try await buffer.promptSet(named: name)
        progress("\(name): \(count) prompts")
        try await c.execute(
            """
            WITH inserted AS (
                INSERT INTO optune.prompts (text, source)
                SELECT 'bench prompt ' || $2 || ' ' || g, 'optune bench' FROM generate_series(1, $1::int8) g
                RETURNING id)
            INSERT INTO optune.prompt_set_members (set_id, prompt_id, split) SELECT $3, id, 'train' FROM inserted
            """, [Int64(count), name, set])
        let model = try await buffer.rewardModel(name: "bench", version: "1", backend: "none")
        var config = RunConfig()
        config.iterations = 2
        let run = try await buffer.createRun(name: name, promptSetID: set, rewardModelID: model, config: config)
        let pi0 = try await buffer.registerPolicy(run: run, t: 0, parent: nil, uri: "bench://pi0")
        let pi1 = try await buffer.registerPolicy(run: run, t: 1, parent: pi0, uri: "bench://pi1")
        try await buffer.openIteration(run: run, t: 0, policy: pi0, rho: 1, strategy: .full)
        progress("\(name): tasks, \(2 * count) responses and rewards of iteration 0")
        try await c.execute(
            """
            INSERT INTO optune.generation_tasks (run_id, t, purpose, policy_id, prompt_ids, size, state)
            SELECT $1, 0, 'train', $2, array_agg(prompt_id ORDER BY position), count(*), 'done'
            FROM (SELECT prompt_id, row_number() OVER (ORDER BY prompt_id) AS position FROM optune.prompt_set_members WHERE set_id = $3) m
            GROUP BY (position - 1) / 256 ORDER BY (position - 1) / 256
            """, [run, pi0, set])
        try await c.execute(
            """
            INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens, text, finish_reason, chunk)
            SELECT $1, 0, u.prompt_id, s, 'train', $2, CASE WHEN $4 THEN n_tokens_of(b.blob) ELSE 3 END,
                   CASE WHEN $4 THEN b.blob END, CASE WHEN $4 THEN NULL ELSE 'answer ' || u.prompt_id || '/' || s END, 'stop', g.chunk
            FROM optune.generation_tasks g CROSS JOIN LATERAL unnest(g.prompt_ids) AS u(prompt_id) CROSS JOIN generate_series(0, 1) s
            CROSS JOIN LATERAL (SELECT ($5::bytea[])[1 + (u.prompt_id * 2 + s) % greatest(1, cardinality($5::bytea[]))] AS blob) b
            WHERE g.run_id = $1 AND g.t = 0 AND $3::int8 IS NOT NULL
            """.replacingOccurrences(
                of: "n_tokens_of(b.blob)",
                with: "get_byte(b.blob, 4) + (get_byte(b.blob, 5) << 8) + (get_byte(b.blob, 6) << 16) + (get_byte(b.blob, 7) << 24)"),
            [run, pi0, set, tokenBlobs != nil, (tokenBlobs ?? []).map(ByteA.init)])
        try await c.execute(
            """
            INSERT INTO optune.rewards (response_id, reward_model_id, score)
            SELECT id, $2, (hashint8(id) % 1000) / 1000.0 FROM optune.responses WHERE run_id = $1 AND t = 0
            """, [run, model])
        try await c.execute("UPDATE optune.iterations SET state = 'building' WHERE run_id = $1 AND t = 0", [run])
        try await c.simpleQuery("ANALYZE optune.responses, optune.rewards, optune.pairs")
        progress("\(name): D_0 by the pair builder")
        try await c.transaction { [beta2 = config.beta2] c in
            let built = try PairBuilder.build(run: run, t: 0, rewardModel: model, beta2: beta2, previousPairsRun: nil, on: c)
            try ReplayBuffer.recordPairCounts(run: run, t: 0, pairs: built.pairs, reused: built.reused, zeroGap: built.zeroGap, on: c)
            try c.execute("UPDATE optune.iterations SET state = 'done', finished_at = now() WHERE run_id = $1 AND t = 0", [run])
        }
        try await c.simpleQuery("ANALYZE optune.prompts, optune.prompt_set_members, optune.generation_tasks, optune.pairs")
        return ScaleFixture(run: run, promptSet: set, rewardModel: model, policies: [pi0, pi1], prompts: count)
    }
}
