import Buffer
import Postgres

/// Chooses the prompts an iteration regenerates (DESIGN §2 step 1), inside the database.
///
/// Ranking, tie-breaking and enqueueing are one SQL statement each, so 1M prompts never leave
/// the server. Ties break by a seeded hash of (prompt id, t) — `hashint8extended`, stable across
/// PostgreSQL versions — never by physical row order.
public struct Selector: Sendable {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// N = ⌈ρ·|P|⌉ in exact arithmetic: ρ is read as the shortest decimal that round-trips it
    /// (0.07 is 7/100, so 100 prompts give 7, where a float ceiling gives 8). A ρ outside (0, 1]
    /// (which a validated run config never has) selects every prompt.
    public static func selectionSize(rho: Double, promptCount: Int) -> Int {
        guard let ratio = DecimalRatio(rho) else { return max(0, promptCount) }
        return min(max(0, promptCount), ratio.ceilingOfProduct(promptCount))
    }

    /// Records the selection of iteration (`run`, `t`) in `optune.selections` and returns N.
    ///
    /// t = 0, and strategy `full`: every train prompt. `reward`: the N prompts whose chosen
    /// response in D_{t-1} (read from `previousPairsRun`, the run that owns D_{t-1}: this run,
    /// or the run it forked from) has the lowest reward. `highest`: the N with the highest
    /// (the paper's control; ties by the same seeded hash). `random`: a seeded uniform sample.
    @discardableResult
    public static func select(
        run: Int64, t: Int, strategy: SelectionStrategy, rho: Double, seed: Int64, promptSetID: Int64,
        previousPairsRun: Int64, on c: isolated Connection
    ) throws -> Int {
        let promptCount = try c.query(
            "SELECT count(*) FROM optune.prompt_set_members WHERE set_id = $1 AND split = 'train'", [promptSetID]
        )[0].decode(0, as: Int.self)
        // The tie seed has one definition, in SQL (migration 0002), shared with the views and the report.
        let tieSeed = try c.query("SELECT optune.selection_tie_seed($1, $2)", [seed, Int32(t)])[0].decode(0, as: Int64.self)
        if t == 0 || strategy == .full {
            return try c.execute(
                """
                INSERT INTO optune.selections (run_id, t, prompt_id, rank, ranking_reward)
                SELECT $1, $2, prompt_id, row_number() OVER (ORDER BY hashint8extended(prompt_id, $3), prompt_id), NULL
                FROM optune.prompt_set_members WHERE set_id = $4 AND split = 'train'
                """, [run, Int32(t), tieSeed, promptSetID])
        }
        let size = selectionSize(rho: rho, promptCount: promptCount)
        // Rank in memory rather than spilling the sort to disk (~40 bytes per prompt).
        try c.simpleQuery("SET LOCAL work_mem = '256MB'")
        switch strategy {
        case .highest:
            // Prompts without a pair in D_{t-1} rank first here too: they need one.
            return try c.execute(
                """
                INSERT INTO optune.selections (run_id, t, prompt_id, rank, ranking_reward)
                SELECT $1, $2, prompt_id, row_number() OVER (ORDER BY r_w DESC NULLS FIRST, tie, prompt_id), r_w
                FROM (
                    SELECT m.prompt_id, p.r_w, hashint8extended(m.prompt_id, $3) AS tie
                    FROM optune.prompt_set_members m
                    LEFT JOIN optune.pairs p ON p.run_id = $5 AND p.t = $2 - 1 AND p.prompt_id = m.prompt_id
                    WHERE m.set_id = $4 AND m.split = 'train'
                    ORDER BY p.r_w DESC NULLS FIRST, tie, m.prompt_id
                    LIMIT $6
                ) ranked
                """, [run, Int32(t), tieSeed, promptSetID, previousPairsRun, Int64(size)])
        case .reward:
            // Prompts without a pair in D_{t-1} (none in a healthy run) rank first: they need one.
            return try c.execute(
                """
                INSERT INTO optune.selections (run_id, t, prompt_id, rank, ranking_reward)
                SELECT $1, $2, prompt_id, row_number() OVER (ORDER BY r_w NULLS FIRST, tie, prompt_id), r_w
                FROM (
                    SELECT m.prompt_id, p.r_w, hashint8extended(m.prompt_id, $3) AS tie
                    FROM optune.prompt_set_members m
                    LEFT JOIN optune.pairs p ON p.run_id = $5 AND p.t = $2 - 1 AND p.prompt_id = m.prompt_id
                    WHERE m.set_id = $4 AND m.split = 'train'
                    ORDER BY p.r_w NULLS FIRST, tie, m.prompt_id
                    LIMIT $6
                ) ranked
                """, [run, Int32(t), tieSeed, promptSetID, previousPairsRun, Int64(size)])
        case .random:
            return try c.execute(
                """
                INSERT INTO optune.selections (run_id, t, prompt_id, rank, ranking_reward)
                SELECT $1, $2, prompt_id, row_number() OVER (ORDER BY tie, prompt_id), NULL
                FROM (
                    SELECT prompt_id, hashint8extended(prompt_id, $3) AS tie
                    FROM optune.prompt_set_members WHERE set_id = $4 AND split = 'train'
                    ORDER BY tie, prompt_id LIMIT $5
                ) sampled
                """, [run, Int32(t), tieSeed, promptSetID, Int64(size)])
        case .full:
            preconditionFailure("handled above")
        }
    }
}
