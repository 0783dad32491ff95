import Buffer
import Postgres

/// Builds D_t (DESIGN §2 step 4) with two set-based statements.
public enum PairBuilder {
    /// Counts of a built D_t.
    public struct Outcome: Sendable, Hashable {
        public var regenerated: Int
        public var reused: Int
        public var zeroGap: Int
        /// Selected prompts that got no new pair (recorded in `optune.unpaired_prompts`).
        public var unpaired: Int
        /// |D_t|.
        public var pairs: Int
    }

    /// For each selected prompt: chosen = highest-reward new train sample, rejected = lowest
    /// (ties: lowest sample index is chosen, highest is rejected), weight σ(β2·gap) computed by
    /// `optune.pair_weight`, which never overflows (1 for huge or infinite gaps). For every
    /// other train prompt: its pair of D_{t-1} (owned by `previousPairsRun`) unchanged. A
    /// selected prompt without two scored samples (its task died) keeps its D_{t-1} pair too, and
    /// is recorded in `optune.unpaired_prompts` with the reason.
    public static func build(
        run: Int64, t: Int, rewardModel: Int64, beta2: Double, previousPairsRun: Int64?, on c: isolated Connection
    ) throws -> Outcome {
        // The grouping holds every scored train response of the iteration: in memory, not in
        // temporary files (4 MB, the default, spills from about 40k prompts). The statistics of
        // responses and rewards predate the iteration's rows (nothing analyses them before the
        // build), so the planner would guess a handful of rows and join 100k responses to their
        // rewards by nested lookups: joins go by hash whatever the estimates (restored after).
        try c.simpleQuery("SET LOCAL work_mem = '256MB'; SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off")
        // One statement writes D_t. Train responses exist at (run, t) only for the prompts
        // selected at t, so one grouped scan of them builds every regenerated pair. Chosen and
        // rejected come from max and min of [score, −sample]: arrays compare element by element
        // with float8's own order, so that is the highest (lowest) score, ties to the lowest
        // (highest) sample, with no sort per prompt. Every other prompt of D_{t−1} is reused.
        // Both go in as one stream in prompt order, so the indexes of pairs are appended to, not
        // split page by page (a quarter faster than hash order). The gap is written as the trigger
        // would set it, which lets it skip its body.
        let counts = try c.query(
            """
            WITH scored AS (
                SELECT r.prompt_id,
                       -(max(ARRAY[w.score, -r.sample_index]))[2]::int AS chosen,
                       -(min(ARRAY[w.score, -r.sample_index]))[2]::int AS rejected,
                       max(w.score) AS r_w, min(w.score) AS r_l, optune.reward_gap(max(w.score), min(w.score)) AS gap
                FROM optune.responses r
                JOIN optune.rewards w ON w.response_id = r.id AND w.reward_model_id = $3
                WHERE r.run_id = $1 AND r.t = $2 AND r.purpose = 'train'
                GROUP BY r.prompt_id
                HAVING count(*) >= 2
            ), inserted AS (
                INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t, chosen_sample,
                                          rejected_sample, r_w, r_l, gap, weight)
                SELECT * FROM (
                    SELECT $1::int8, $2::int4, prompt_id, 'regenerated', $1::int8, $2::int4, chosen, rejected, r_w, r_l, gap,
                           optune.pair_weight($4, gap)
                    FROM scored
                    UNION ALL
                    SELECT $1, $2, p.prompt_id, 'reused', p.source_run_id, p.source_t, p.chosen_sample, p.rejected_sample,
                           p.r_w, p.r_l, p.gap, p.weight
                    FROM optune.pairs p
                    WHERE p.run_id = $5 AND p.t = $2 - 1 AND NOT EXISTS (SELECT 1 FROM scored s WHERE s.prompt_id = p.prompt_id)
                ) d
                ORDER BY 3
                RETURNING origin, zero_gap
            )
            SELECT count(*) FILTER (WHERE origin = 'regenerated'), count(*) FILTER (WHERE origin = 'reused'),
                   count(*) FILTER (WHERE zero_gap),
                   (SELECT cardinality(prompt_ids) FROM optune.iteration_selections WHERE run_id = $1 AND t = $2)
            FROM inserted
            """, [run, Int32(t), rewardModel, beta2, t > 0 ? previousPairsRun : nil])
        let regenerated = try counts[0].decode(0, as: Int.self)
        let reused = try counts[0].decode(1, as: Int.self)
        let zeroGap = try counts[0].decode(2, as: Int.self)
        let selected = try counts[0].decode(3, as: Int?.self)
        try c.simpleQuery("SET LOCAL enable_nestloop TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT")
        // D_t's statistics, for the join below and the next iteration's selection.
        try ReplayBuffer.refreshPairStatistics(on: c)
        // Regenerated pairs come only from the selected prompts' samples: when there are as many
        // as prompts selected, none is unpaired and the join over the selection is skipped.
        let unpaired = regenerated == selected ? (count: 0, kept: 0) : try recordUnpaired(run: run, t: t, on: c)
        return Outcome(
            regenerated: regenerated, reused: reused - unpaired.kept, zeroGap: zeroGap, unpaired: unpaired.count,
            pairs: regenerated + reused)
    }

    /// Records the selected prompts of (run, t) that got no regenerated pair, with the reason
    /// (the dead task's error, else too few scored samples) and whether D_{t-1}'s pair was kept.
    static func recordUnpaired(run: Int64, t: Int, on c: isolated Connection) throws -> (count: Int, kept: Int) {
        let rows = try c.query(
            """
            INSERT INTO optune.unpaired_prompts (run_id, t, prompt_id, reason, kept_pair)
            SELECT s.run_id, s.t, s.prompt_id,
                   coalesce(
                       (SELECT 'generation task dead: ' || g.last_error FROM optune.generation_tasks g
                        WHERE (g.run_id, g.t) = (s.run_id, s.t) AND g.state = 'dead' AND s.prompt_id = ANY (g.prompt_ids)
                        ORDER BY g.chunk LIMIT 1),
                       (SELECT 'scoring task dead: ' || k.last_error FROM optune.scoring_tasks k
                        WHERE (k.run_id, k.t) = (s.run_id, s.t) AND k.state = 'dead' AND s.prompt_id = ANY (k.prompt_ids)
                        ORDER BY k.chunk LIMIT 1),
                       'fewer than 2 scored samples'),
                   p.prompt_id IS NOT NULL
            FROM optune.selections s
            LEFT JOIN optune.pairs p ON (p.run_id, p.t, p.prompt_id) = (s.run_id, s.t, s.prompt_id)
            WHERE s.run_id = $1 AND s.t = $2 AND (p.prompt_id IS NULL OR p.origin <> 'regenerated')
            ON CONFLICT (run_id, t, prompt_id) DO NOTHING
            RETURNING kept_pair
            """, [run, Int32(t)])
        let kept = try rows.filter { try $0.decode(0, as: Bool.self) }.count
        return (rows.count, kept)
    }
}
