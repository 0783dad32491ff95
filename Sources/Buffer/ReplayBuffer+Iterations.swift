import Foundation
import Postgres
import Synchronization

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
        if changed == 1 { try c.notify("optune_work", payload: "\(run):\(t):\(to.rawValue)") }
        return changed == 1
    }

    /// Enqueues generation tasks: the iteration's selected train prompts (if `train`) and every
    /// eval prompt (if `eval`), all sampled with `policy`. Returns (train, eval) task counts.
    /// Meant for the transaction that creates the iteration: tasks must not exist yet (plain
    /// INSERT, no ON CONFLICT — speculative insertion costs every row).
    public static func enqueueIterationWork(
        run: Int64, t: Int, policy: Int64, promptSetID: Int64, train: Bool, eval: Bool, on c: isolated Connection
    ) throws -> (train: Int, eval: Int) {
        let trainCount =
            train
            ? try c.execute(
                """
                INSERT INTO optune.generation_tasks (run_id, t, prompt_id, policy_id, purpose)
                SELECT run_id, t, prompt_id, $3, 'train' FROM optune.selections WHERE run_id = $1 AND t = $2
                """, [run, Int32(t), policy]) : 0
        let evalCount =
            eval
            ? try c.execute(
                """
                INSERT INTO optune.generation_tasks (run_id, t, prompt_id, policy_id, purpose)
                SELECT $1, $2, prompt_id, $3, 'eval' FROM optune.prompt_set_members WHERE set_id = $4 AND split = 'eval'
                """, [run, Int32(t), policy, promptSetID]) : 0
        try c.execute(
            "UPDATE optune.iterations SET selected = $3, prompts_total = (SELECT count(*) FROM optune.prompt_set_members WHERE set_id = $4 AND split = 'train') WHERE run_id = $1 AND t = $2",
            [run, Int32(t), Int64(trainCount), promptSetID])
        try c.notify("optune_work", payload: "generation")
        return (trainCount, evalCount)
    }

    /// Task counts of one iteration's queue, with the first dead task's error.
    ///
    /// Called on every coordinator wake-up, so it avoids touching every task each time: a probe
    /// through the two partial indexes runs on every call — is any task pending (the first entry
    /// of the pending index in key order: a scalar subquery with ORDER BY … LIMIT 1, because the
    /// planner strips those from EXISTS and may then pick a scan of the whole table), and how
    /// many are leased (OFFSET 0 keeps the run/t filter out of the index choice, so the small
    /// leased index is read rather than every task of the iteration by key). The full count
    /// (dead, done, the first error) runs only when the probe finds the queue drained, or when
    /// the last full count of this queue is older than ``queueCountRefresh`` (at least 2 s, and 10× the time that count took). While
    /// work remains, the counts returned may be that old: dead tasks only grow, so a dead-fraction
    /// failure is found that much later at most, and the drained decision is always exact.
    public static func queueCounts(_ queue: WorkQueue, run: Int64, t: Int, on c: isolated Connection) throws -> QueueCounts {
        let probe = try c.query(
            """
            SELECT (SELECT 1 FROM \(queue.table) WHERE state = 'pending' AND run_id = $1 AND t = $2
                    ORDER BY run_id, t, prompt_id LIMIT 1) IS NOT NULL,
                   (SELECT count(*) FROM (SELECT run_id, t FROM \(queue.table) WHERE state = 'leased' OFFSET 0) leased
                    WHERE run_id = $1 AND t = $2)
            """, [run, Int32(t)])[0]
        let working = try probe.decode(0, as: Bool.self) || probe.decode(1, as: Int.self) > 0
        let key = QueueCountKey(queue: queue, run: run, t: t)
        if working, let cached = queueCountCache.withLock({ $0[key] }), !cached.counts.isDrained,
            ContinuousClock.now < cached.refreshAfter
        {
            return cached.counts
        }
        let started = ContinuousClock.now
        let row = try c.query(
            """
            SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'leased'),
                   count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'dead'),
                   (SELECT last_error FROM \(queue.table) WHERE run_id = $1 AND t = $2 AND state = 'dead' ORDER BY prompt_id LIMIT 1)
            FROM \(queue.table) WHERE run_id = $1 AND t = $2
            """, [run, Int32(t)])[0]
        let counts = QueueCounts(
            pending: try row.decode(0), leased: try row.decode(1), done: try row.decode(2), dead: try row.decode(3),
            firstError: try row.decode(4))
        let took = ContinuousClock.now - started
        queueCountCache.withLock { cache in
            if counts.isDrained {
                cache[key] = nil
            } else {
                if cache.count >= 64 { cache.removeAll() }
                cache[key] = CachedQueueCounts(counts: counts, refreshAfter: .now + max(queueCountRefresh, took * 10))
            }
        }
        return counts
    }

    /// The least time between two full counts of one queue while it has work (see
    /// ``queueCounts(_:run:t:on:)``).
    public static let queueCountRefresh: Duration = .seconds(2)

    /// Records on the iteration how many of its tasks (both queues) are dead.
    public static func recordDeadTasks(run: Int64, t: Int, on c: isolated Connection) throws {
        try c.execute(
            """
            UPDATE optune.iterations SET dead_tasks =
                (SELECT count(*) FROM optune.generation_tasks WHERE run_id = $1 AND t = $2 AND state = 'dead')
                + (SELECT count(*) FROM optune.scoring_tasks WHERE run_id = $1 AND t = $2 AND state = 'dead')
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
    public static func recordPairCounts(run: Int64, t: Int, reused: Int, zeroGap: Int, on c: isolated Connection) throws {
        try c.execute(
            "UPDATE optune.iterations SET reused = $3, zero_gap_pairs = $4 WHERE run_id = $1 AND t = $2",
            [run, Int32(t), Int64(reused), Int64(zeroGap)])
    }

    /// Evaluates the iteration's policy from its scored eval responses (mean reward over the eval
    /// split) and stores it in `optune.evaluations`. Returns the mean, or nil with no eval prompts.
    /// Mean and standard deviation are taken over exact numerics (float8 aggregates raise 22003
    /// for finite scores beyond about 1e154); a deviation beyond the double range is stored as the
    /// largest double.
    @discardableResult
    public static func recordEvaluation(run: Int64, t: Int, policy: Int64, rewardModel: Int64, on c: isolated Connection) throws -> Double?
    {
        let row = try c.query(
            """
            INSERT INTO optune.evaluations (run_id, t, policy_id, split, n, mean_reward, reward_stddev, tokens)
            SELECT $1, $2, $3, 'eval', count(*), optune.numeric_to_float8(avg(w.score::text::numeric)),
                   coalesce(least(optune.numeric_to_float8(stddev_samp(w.score::text::numeric)), 1.7976931348623157e308), 0),
                   coalesce(sum(r.n_tokens), 0)
            FROM optune.responses r JOIN optune.rewards w ON w.response_id = r.id AND w.reward_model_id = $4
            WHERE r.run_id = $1 AND r.t = $2 AND r.purpose = 'eval'
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
    public static func refreshPairStatistics(on c: isolated Connection) throws {
        try c.simpleQuery("ANALYZE optune.pairs (run_id, t, prompt_id, r_w)")
    }

    /// Refreshes the planner statistics pair building needs before it starts: the iteration's
    /// selection, responses and rewards were written since the last ones (at t = 0 into empty
    /// tables). Only the key columns, so the sample never reads token blobs or texts. This and
    /// ``refreshPairStatistics(on:)`` replace an ANALYZE of six whole tables at every
    /// iteration's opening: enqueueing, leasing and queue counts use index-forced plans.
    public static func refreshBuildStatistics(on c: isolated Connection) throws {
        try c.simpleQuery(
            """
            ANALYZE optune.selections (run_id, t, prompt_id), optune.responses (run_id, t, prompt_id, sample_index, purpose),
                optune.rewards (response_id, reward_model_id)
            """)
    }

    /// Sets the run's status (and the reason when it failed).
    public static func setRunStatus(_ run: Int64, _ status: RunStatus, reason: String? = nil, on c: isolated Connection) throws {
        try c.execute(
            "UPDATE optune.runs SET status = $2, status_reason = $3, updated_at = now() WHERE id = $1", [run, status.rawValue, reason])
    }
}

/// A queue of one iteration, as ``ReplayBuffer/queueCounts(_:run:t:on:)`` caches its counts.
private struct QueueCountKey: Hashable {
    var queue: WorkQueue
    var run: Int64
    var t: Int
}

private struct CachedQueueCounts {
    var counts: QueueCounts
    var refreshAfter: ContinuousClock.Instant
}

/// The last full count of each queue with work left, shared by the process's coordinators.
private let queueCountCache = Mutex<[QueueCountKey: CachedQueueCounts]>([:])
