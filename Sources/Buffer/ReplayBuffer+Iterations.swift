import Foundation
import Postgres

extension ReplayBuffer {
    /// The run with id `run`.
    public func runRecord(_ run: Int64) async throws -> RunRecord {
        try await connection.run { c in try Self.runRecord(run, on: c) }
    }

    /// The id of the run called `name`, if any.
    public func runID(named name: String) async throws -> Int64? {
        try await connection.query("SELECT id FROM optune.runs WHERE name = $1", [name]).first?.decode(0, as: Int64.self)
    }

    public static func runRecord(_ run: Int64, on c: isolated Connection) throws -> RunRecord {
        let rows = try c.query(
            """
            SELECT id, name, config::text, prompt_set_id, reward_model_id, status, forked_from_run_id, forked_from_iteration
            FROM optune.runs WHERE id = $1
            """, [run])
        guard let row = rows.first else { throw BufferError("no run with id \(run)") }
        let config = try JSONDecoder().decode(RunConfig.self, from: Data(try row.decode(2, as: String.self).utf8))
        let forkRun = try row.decode(6, as: Int64?.self)
        let forkT = try row.decode(7, as: Int?.self)
        return RunRecord(
            id: try row.decode(0), name: try row.decode(1), config: config, promptSetID: try row.decode(3),
            rewardModelID: try row.decode(4), status: try RunStatus.decoding(try row.decode(5)),
            forkedFrom: forkRun.flatMap { run in forkT.map { (run, $0) } })
    }

    /// The run that owns D_t of `run`: the run itself, or — for t at or before a fork point —
    /// the run it forked from (followed recursively).
    public static func pairsOwner(run: Int64, t: Int, on c: isolated Connection) throws -> Int64 {
        var current = try runRecord(run, on: c)
        while let fork = current.forkedFrom, t <= fork.t {
            current = try runRecord(fork.run, on: c)
        }
        return current.id
    }

    /// The newest iteration of `run`, if it has one.
    public static func latestIteration(run: Int64, on c: isolated Connection) throws -> IterationRecord? {
        try c.query(
            "SELECT t, state, policy_id, failure_reason FROM optune.iterations WHERE run_id = $1 ORDER BY t DESC LIMIT 1",
            [run]
        ).first.map { row in
            IterationRecord(
                run: run, t: try row.decode(0), state: IterationState(rawValue: try row.decode(1)) ?? .failed,
                policy: try row.decode(2), failureReason: try row.decode(3))
        }
    }

    /// The newest iteration of `run`, if it has one.
    public func latestIteration(run: Int64) async throws -> IterationRecord? {
        try await connection.run { c in try Self.latestIteration(run: run, on: c) }
    }

    /// Whether `run` samples an external model (a served checkpoint) rather than built-in
    /// weights: its latest iteration's π_t, or its base policy before the first iteration.
    public func usesExternalPolicy(run: Int64) async throws -> Bool {
        try await connection.query(
            """
            SELECT p.origin = 'external' FROM optune.policies p
            WHERE p.id = coalesce(
                (SELECT policy_id FROM optune.iterations WHERE run_id = $1 ORDER BY t DESC LIMIT 1),
                (SELECT (config->>'basePolicy')::int8 FROM optune.runs WHERE id = $1))
            """, [run]
        ).first?.decode(0, as: Bool.self) ?? false
    }

    /// The policy trained from iteration t of `run` (π_{t+1}), if there is one yet.
    public func trainedPolicy(run: Int64, t: Int) async throws -> Int64? {
        try await connection.run { c in try Self.trainedPolicy(run: run, t: t, on: c) }
    }

    /// Task counts of one iteration's queue, with the first dead task's error.
    public func queueCounts(_ queue: WorkQueue, run: Int64, t: Int) async throws -> QueueCounts {
        try await connection.run { c in try Self.queueCounts(queue, run: run, t: t, on: c) }
    }

    /// Records on the iteration how many of its tasks are dead.
    public func recordDeadTasks(run: Int64, t: Int) async throws {
        try await connection.run { c in try Self.recordDeadTasks(run: run, t: t, on: c) }
    }

    /// Sets the run's status (and the reason when it failed).
    public func setRunStatus(_ run: Int64, _ status: RunStatus, reason: String? = nil) async throws {
        try await connection.run { c in try Self.setRunStatus(run, status, reason: reason, on: c) }
    }

    /// Inserts iteration t in state `selecting`.
    public static func createIteration(
        run: Int64, t: Int, policy: Int64, rho: Double, strategy: SelectionStrategy, on c: isolated Connection
    ) throws {
        try c.execute(
            "INSERT INTO optune.iterations (run_id, t, policy_id, rho, strategy, state) VALUES ($1, $2, $3, $4, $5, 'selecting')",
            [run, Int32(t), policy, rho, strategy.rawValue])
    }

    /// Moves iteration (`run`, `t`) from `from` to `to`, recording `seconds` for the stage just
    /// finished in its `<stage>_seconds` column. Returns false (and changes nothing) when the
    /// iteration is not in state `from`: another coordinator got there first.
    @discardableResult
    public static func transition(
        run: Int64, t: Int, from: IterationState, to: IterationState, stageSeconds seconds: Double? = nil,
        failureReason: String? = nil, on c: isolated Connection
    ) throws -> Bool {
        let column: String? =
            switch from {
            case .selecting: "select_seconds"
            case .generating: "generate_seconds"
            case .scoring: "score_seconds"
            case .building: "build_seconds"
            case .training: "train_seconds"
            case .evaluating: "evaluate_seconds"
            case .done, .failed: nil
            }
        let timing = column.map { ", \($0) = coalesce($6, extract(epoch FROM clock_timestamp() - updated_at)::float8)" } ?? ""
        let changed = try c.execute(
            """
            UPDATE optune.iterations
            SET state = $4, failure_reason = coalesce($5, failure_reason), updated_at = now(),
                finished_at = CASE WHEN $4 IN ('done', 'failed') THEN now() ELSE finished_at END\(timing)
            WHERE run_id = $1 AND t = $2 AND state = $3
            """, [run, Int32(t), from.rawValue, to.rawValue, failureReason] + (column == nil ? [] : [seconds]))
        if changed == 1 { try c.notify(WorkNotice.channel, payload: WorkNotice.transition(run: run, t: t, to: to)) }
        return changed == 1
    }

    /// Enqueues the iteration's eval generation work — every eval prompt of the set, in chunks of
    /// `chunkSize` in id order, sampled with `policy` — and records the selection's size
    /// (`selected`; the selector enqueued those chunks) and |P| (`promptsTotal`, counted here when
    /// nil). Returns the eval prompts enqueued. Meant for the transaction that creates the iteration.
    public static func enqueueEvaluationWork(
        run: Int64, t: Int, policy: Int64, promptSetID: Int64, chunkSize: Int, selected: Int, promptsTotal: Int?,
        on c: isolated Connection
    ) throws -> Int {
        let evalCount = try c.query(
            """
            WITH eval AS MATERIALIZED (
                SELECT prompt_id, row_number() OVER (ORDER BY prompt_id) AS position
                FROM optune.prompt_set_members WHERE set_id = $4 AND split = 'eval'
            ), chunks AS (
                INSERT INTO optune.generation_tasks (run_id, t, purpose, policy_id, prompt_ids, size)
                SELECT $1, $2, 'eval', $3, array_agg(prompt_id ORDER BY position), count(*)
                FROM eval GROUP BY (position - 1) / $5 ORDER BY (position - 1) / $5
            )
            SELECT count(*) FROM eval
            """, [run, Int32(t), policy, promptSetID, Int64(max(1, chunkSize))])[0].decode(0, as: Int.self)
        try c.execute(
            """
            UPDATE optune.iterations
            SET selected = $3,
                prompts_total = coalesce($5, (SELECT count(*) FROM optune.prompt_set_members WHERE set_id = $4 AND split = 'train'))
            WHERE run_id = $1 AND t = $2
            """, [run, Int32(t), Int64(selected), promptSetID, promptsTotal.map(Int64.init)])
        try c.notify(WorkNotice.channel, payload: WorkNotice.generation)
        return evalCount
    }

    /// Prompt counts of one iteration's queue by the state of their chunk, with the first dead
    /// chunk's error. A chunk that was split is counted through the chunks that replaced it.
    /// Chunks are few (a 1M-prompt iteration has about 4k), so this reads them all each time.
    public static func queueCounts(_ queue: WorkQueue, run: Int64, t: Int, on c: isolated Connection) throws -> QueueCounts {
        let row = try c.query(
            """
            SELECT coalesce(sum(size) FILTER (WHERE state = 'pending'), 0), coalesce(sum(size) FILTER (WHERE state = 'leased'), 0),
                   coalesce(sum(size) FILTER (WHERE state = 'done'), 0), coalesce(sum(size) FILTER (WHERE state = 'dead'), 0),
                   (SELECT last_error FROM \(queue.table) WHERE run_id = $1 AND t = $2 AND state = 'dead' ORDER BY chunk LIMIT 1)
            FROM \(queue.table) WHERE run_id = $1 AND t = $2 AND state <> 'split'
            """, [run, Int32(t)])[0]
        return QueueCounts(
            pending: try row.decode(0), leased: try row.decode(1), done: try row.decode(2), dead: try row.decode(3),
            firstError: try row.decode(4))
    }

    /// Records on the iteration how many of its prompts' tasks (both queues) are dead.
    public static func recordDeadTasks(run: Int64, t: Int, on c: isolated Connection) throws {
        try c.execute(
            """
            UPDATE optune.iterations SET dead_tasks =
                (SELECT coalesce(sum(size), 0) FROM optune.generation_tasks WHERE run_id = $1 AND t = $2 AND state = 'dead')
                + (SELECT coalesce(sum(size), 0) FROM optune.scoring_tasks WHERE run_id = $1 AND t = $2 AND state = 'dead')
            WHERE run_id = $1 AND t = $2
            """, [run, Int32(t)])
    }

    /// Records the iteration's generation counts (train and eval responses and tokens).
    public static func recordGenerationCounts(run: Int64, t: Int, on c: isolated Connection) throws {
        try c.execute(
            """
            UPDATE optune.iterations i SET
                responses_generated = s.train_responses, tokens_generated = s.train_tokens,
                eval_responses = s.eval_responses, eval_tokens_generated = s.eval_tokens,
                regenerated = s.train_prompts
            FROM (
                SELECT count(*) FILTER (WHERE purpose = 'train') AS train_responses,
                       coalesce(sum(n_tokens) FILTER (WHERE purpose = 'train'), 0) AS train_tokens,
                       count(*) FILTER (WHERE purpose = 'eval') AS eval_responses,
                       coalesce(sum(n_tokens) FILTER (WHERE purpose = 'eval'), 0) AS eval_tokens,
                       count(DISTINCT prompt_id) FILTER (WHERE purpose = 'train') AS train_prompts
                FROM optune.responses WHERE run_id = $1 AND t = $2
            ) s
            WHERE i.run_id = $1 AND i.t = $2
            """, [run, Int32(t)])
    }

    /// Records the pair counts of D_t on its iteration.
    public static func recordPairCounts(run: Int64, t: Int, pairs: Int, reused: Int, zeroGap: Int, on c: isolated Connection) throws {
        try c.execute(
            "UPDATE optune.iterations SET pairs = $5, reused = $3, zero_gap_pairs = $4 WHERE run_id = $1 AND t = $2",
            [run, Int32(t), Int64(reused), Int64(zeroGap), Int64(pairs)])
    }

    /// Evaluates the iteration's policy from its scored eval responses (mean reward over the eval
    /// split) and stores it in `optune.evaluations`. Returns the mean, or nil with no eval prompts.
    /// Mean and standard deviation are taken over exact numerics (float8 aggregates raise 22003
    /// for finite scores beyond about 1e154); a deviation beyond the double range is stored as the
    /// largest double. The eval responses are found from the iteration's eval chunks, one index
    /// lookup per eval prompt: filtered by purpose, the planner scanned every response ever
    /// stored (45 ms after one 48k iteration, growing with each; now 4 ms).
    @discardableResult
    public static func recordEvaluation(run: Int64, t: Int, policy: Int64, rewardModel: Int64, on c: isolated Connection) throws -> Double?
    {
        let row = try c.query(
            """
            INSERT INTO optune.evaluations (run_id, t, policy_id, split, n, mean_reward, reward_stddev, tokens)
            SELECT $1, $2, $3, 'eval', count(*), optune.numeric_to_float8(avg(w.score::text::numeric)),
                   coalesce(least(optune.numeric_to_float8(stddev_samp(w.score::text::numeric)), 1.7976931348623157e308), 0),
                   coalesce(sum(r.n_tokens), 0)
            FROM (SELECT DISTINCT unnest(g.prompt_ids) AS prompt_id FROM optune.generation_tasks g
                  WHERE g.run_id = $1 AND g.t = $2 AND g.purpose = 'eval') e
            CROSS JOIN LATERAL (
                SELECT x.id, x.n_tokens FROM optune.responses x
                WHERE x.run_id = $1 AND x.t = $2 AND x.prompt_id = e.prompt_id AND x.purpose = 'eval' OFFSET 0
            ) r
            JOIN optune.rewards w ON w.response_id = r.id AND w.reward_model_id = $4
            ON CONFLICT (run_id, t, policy_id, split) DO UPDATE SET n = excluded.n, mean_reward = excluded.mean_reward
            RETURNING mean_reward
            """, [run, Int32(t), policy, rewardModel])
        return try row.first?.decode(0, as: Double?.self)
    }

    /// Refreshes the statistics of D_t right after it is written (in the building transaction,
    /// which ANALYZE sees): the unpaired-prompt join that follows, and the next iteration's
    /// ranking selection, read it. Without them the planner estimates one pair per iteration
    /// (at t = 0 none were ever sampled) and picks a nested loop over the whole iteration for
    /// each selected prompt — 40 s at 20k prompts, quadratic. Only the narrow columns those
    /// statements read; ANALYZE samples a fixed number of rows, so this stays cheap as pairs grow.
    /// Runs as the schema owner (migration 0012), so a coordinator connected as a member of
    /// `optune_worker` refreshes them too.
    public static func refreshPairStatistics(on c: isolated Connection) throws {
        try c.simpleQuery("SELECT optune.refresh_pair_statistics()")
    }

    /// Marks the pages of `optune.pairs` not yet all-visible (the last D_t) so, before a
    /// selection ranks D_{t−1} by an index-only scan of `pairs_selection_idx`: on pages not yet
    /// marked that scan fetches every pair's heap row to check its visibility, which at 1M
    /// prompts was most of the selection's time (0.5 s of 0.9 s). Outside a transaction (VACUUM
    /// cannot run in one).
    ///
    /// A page is only marked when every row on it can be hinted as committed. On a server with
    /// `synchronous_commit = off` that waits until the commits of its rows' transaction and of
    /// the transactions next to it in the commit log are flushed (the WAL writer does within a
    /// fraction of a second, unless more asynchronous commits land there meanwhile): best effort.
    /// The coordinator calls this when it opens the next iteration, after training. The VACUUM reads only pages not yet all-visible (about 0.1 s for
    /// 1M new pairs) and never waits: if another vacuum holds the table it is skipped and
    /// autovacuum marks the pages later. It never truncates, so it takes no lock that stops
    /// readers or writers. A role that does not own `optune.pairs` gets a warning from the server
    /// and nothing is done (``canSettlePairs()``).
    public static func settlePairs(on c: isolated Connection) throws {
        try c.simpleQuery("VACUUM (SKIP_LOCKED, TRUNCATE false) optune.pairs")
    }

    /// Whether this session's role may VACUUM `optune.pairs` (it has the privileges of the
    /// table's owner, or is a superuser), i.e. whether ``settlePairs(on:)`` does anything.
    public func canSettlePairs() async throws -> Bool {
        try await connection.query(
            "SELECT pg_has_role(relowner, 'USAGE') FROM pg_catalog.pg_class WHERE oid = 'optune.pairs'::regclass"
        ).first?.decode(0, as: Bool.self) ?? false
    }

    /// Sets the run's status (and the reason when it failed).
    public static func setRunStatus(_ run: Int64, _ status: RunStatus, reason: String? = nil, on c: isolated Connection) throws {
        try c.execute(
            "UPDATE optune.runs SET status = $2, status_reason = $3, updated_at = now() WHERE id = $1", [run, status.rawValue, reason])
    }
}
