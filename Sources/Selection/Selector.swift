import Buffer
import Postgres

/// Chooses the prompts an iteration regenerates (DESIGN §2 step 1), inside the database.
///
/// One statement ranks, records the selection as one row of arrays (`optune.iteration_selections`,
/// rank = position) and enqueues its generation work as chunks of the selected prompts in id
/// order, so 1M prompts never leave the server and only a few thousand rows are written. Ties break by a
/// seeded hash of (prompt id, t) — `hashint8extended`, stable across PostgreSQL versions —
/// never by physical row order.
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

    /// What one iteration's selection is made of.
    public struct Request: Sendable {
        public var run: Int64
        public var t: Int
        public var strategy: SelectionStrategy
        public var rho: Double
        public var seed: Int64
        public var promptSetID: Int64
        /// The run that owns D_{t−1}: this run, or the run it forked from.
        public var previousPairsRun: Int64
        /// π_t, which the train chunks sample with.
        public var policy: Int64
        /// Prompts per generation chunk.
        public var chunkSize: Int

        public init(
            run: Int64, t: Int, strategy: SelectionStrategy, rho: Double, seed: Int64, promptSetID: Int64, previousPairsRun: Int64,
            policy: Int64, chunkSize: Int
        ) {
            self.run = run
            self.t = t
            self.strategy = strategy
            self.rho = rho
            self.seed = seed
            self.promptSetID = promptSetID
            self.previousPairsRun = previousPairsRun
            self.policy = policy
            self.chunkSize = chunkSize
        }
    }

    /// What a selection took.
    public struct Outcome: Sendable, Hashable {
        /// N, the prompts selected.
        public var selected: Int
        /// |P|, the train prompts of the set.
        public var promptCount: Int
    }

    /// Records the selection of iteration (`run`, `t`) and enqueues its train generation chunks.
    ///
    /// t = 0, and strategy `full`: every train prompt. `reward`: the N prompts whose chosen
    /// response in D_{t-1} has the lowest reward. `highest`: the N with the highest (the paper's
    /// control). Prompts without a pair in D_{t-1} (none in a healthy run) rank first for both:
    /// they need one. `random`: a seeded uniform sample.
    @discardableResult
    public static func select(_ request: Request, on c: isolated Connection) throws -> Outcome {
        let t32 = try int32(request.t)
        let promptCount = try c.query(
            "SELECT count(*) FROM optune.prompt_set_members WHERE set_id = $1 AND split = 'train'", [request.promptSetID]
        )[0].decode(0, as: Int.self)
        // The tie seed has one definition, in SQL (migration 0002), shared with the views and the report.
        let tieSeed = try c.query("SELECT optune.selection_tie_seed($1, $2)", [request.seed, t32])[0].decode(0, as: Int64.self)
        let everyPrompt = request.t == 0 || request.strategy == .full
        let size = everyPrompt ? promptCount : selectionSize(rho: request.rho, promptCount: promptCount)
        // Rank in memory rather than spilling the sort to disk (~40 bytes per prompt); no JIT:
        // compiling the statement costs more than the statement at any size.
        try c.simpleQuery("SET LOCAL work_mem = '256MB'; SET LOCAL jit = off")
        let ranking: String
        let chunkSize = Int32(clamping: max(1, request.chunkSize))
        var parameters: [(any PostgresEncodable)?] = [request.run, t32, request.policy, chunkSize, tieSeed]
        switch request.strategy {
        case _ where everyPrompt:
            ranking = """
                SELECT prompt_id, NULL::float8 AS r_w FROM optune.prompt_set_members WHERE set_id = $6 AND split = 'train'
                ORDER BY hashint8extended(prompt_id, $5), prompt_id
                """
            parameters.append(request.promptSetID)
        case .random:
            ranking = """
                SELECT prompt_id, NULL::float8 AS r_w FROM optune.prompt_set_members WHERE set_id = $6 AND split = 'train'
                ORDER BY hashint8extended(prompt_id, $5), prompt_id LIMIT $7
                """
            parameters += [request.promptSetID, Int64(size)]
        case .reward, .highest, .full:
            if try previousPairsCover(promptCount, request, on: c) {
                // Every train prompt has a pair in D_{t−1} (r_w is never NULL there): rank straight
                // from pairs_selection_idx (run_id, t, r_w, prompt_id), forwards or backwards, the
                // hash tie-break an incremental sort within equal r_w.
                let order = request.strategy == .highest ? "r_w DESC" : "r_w"
                ranking = """
                    SELECT prompt_id, r_w FROM optune.pairs WHERE run_id = $6 AND t = $2 - 1
                    ORDER BY \(order), hashint8extended(prompt_id, $5), prompt_id LIMIT $7
                    """
                parameters += [request.previousPairsRun, Int64(size)]
            } else {
                let order = request.strategy == .highest ? "p.r_w DESC NULLS FIRST" : "p.r_w NULLS FIRST"
                ranking = """
                    SELECT m.prompt_id, p.r_w FROM optune.prompt_set_members m
                    LEFT JOIN optune.pairs p ON p.run_id = $6 AND p.t = $2 - 1 AND p.prompt_id = m.prompt_id
                    WHERE m.set_id = $8 AND m.split = 'train'
                    ORDER BY \(order), hashint8extended(m.prompt_id, $5), m.prompt_id LIMIT $7
                    """
                parameters += [request.previousPairsRun, Int64(size), request.promptSetID]
            }
        }
        let ranksRewards = !everyPrompt && request.strategy != .random
        let rewards = ranksRewards ? "array_agg(r_w)" : "NULL::float8[]"
        // The aggregates read the ranked rows in the order the CTE produced them (PostgreSQL
        // documents that an aggregate over a sorted subquery sees its order); an ORDER BY inside
        // them would sort 500k rows again. The chunks are slices of the selected prompt ids sorted:
        // a chunk is then a narrow range of ids, so its responses go into the natural-key index
        // next to each other (not one leaf page each), and reading its prompts and responses
        // back touches neighbouring pages. Which prompts are selected and their ranks are in
        // the selection row; the order work is done in changes no result. (The selection's
        // INSERT runs though nothing reads it: a data-modifying WITH always runs to completion.)
        try c.execute(
            """
            WITH ranked AS MATERIALIZED (\(ranking)
            ), selection AS (
                INSERT INTO optune.iteration_selections (run_id, t, prompt_ids, ranking_rewards)
                SELECT $1, $2, coalesce(array_agg(prompt_id), '{}'), \(rewards) FROM ranked
            ), by_id AS (
                SELECT array_agg(prompt_id ORDER BY prompt_id) AS prompt_ids FROM ranked
            )
            INSERT INTO optune.generation_tasks (run_id, t, purpose, policy_id, prompt_ids, size)
            SELECT $1, $2, 'train', $3, s.prompt_ids[first : least(first + $4 - 1, n)], least($4, n - first + 1)
            FROM by_id s CROSS JOIN LATERAL cardinality(s.prompt_ids) AS n
            CROSS JOIN LATERAL generate_series(1, n, $4::int4) AS first
            ORDER BY first
            """, parameters)
        return Outcome(selected: size, promptCount: promptCount)
    }

    /// Whether D_{t−1} holds a pair for every one of the set's `promptCount` train prompts (then
    /// ranking needs no join with the set: pairs are only ever built for the set's train prompts).
    /// |D_{t−1}| is read from its iteration, not counted.
    private static func previousPairsCover(_ promptCount: Int, _ request: Request, on c: isolated Connection) throws -> Bool {
        let row = try c.query(
            """
            SELECT (SELECT prompt_set_id FROM optune.runs WHERE id = $1) = $3
                   AND (SELECT pairs FROM optune.iterations WHERE run_id = $1 AND t = $2 - 1) >= $4
            """, [request.previousPairsRun, try int32(request.t), request.promptSetID, Int64(promptCount)])
        return try row[0].decode(0, as: Bool?.self) ?? false
    }

    private static func int32(_ t: Int) throws -> Int32 {
        guard let value = Int32(exactly: t) else { throw BufferError("iteration \(t) is out of range") }
        return value
    }
}
