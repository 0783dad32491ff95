import Postgres

/// What `retryDeadTasks` did.
public struct DeadWorkRetry: Sendable, Hashable {
    /// The iteration it acted on.
    public var t: Int
    /// Prompts of dead generation and scoring chunks put back to pending.
    public var requeued: Int
    /// The state a failed iteration was reopened in, if it was failed.
    public var reopenedAs: IterationState?
}

/// A prompt selected at t that got no new pair, and why.
public struct UnpairedPrompt: Sendable, Hashable {
    public var t: Int
    public var prompt: Int64
    public var reason: String
    public var keptPair: Bool
}

extension ReplayBuffer {
    /// Requeues the dead tasks of iteration `t` of `run` (default: its latest iteration) with
    /// fresh attempts, and reopens the iteration if it failed: in `generating` or `scoring` when
    /// tasks were requeued there, in `training` when D_t is built but no policy was trained. The
    /// run goes back to `running`; a coordinator (or `optune run --resume`) then finishes it.
    public func retryDeadTasks(run: Int64, t: Int? = nil) async throws -> DeadWorkRetry {
        try await connection.transaction { c in
            guard let latest = try Self.latestIteration(run: run, on: c) else {
                throw BufferError("the run has no iteration yet: nothing to retry")
            }
            let t = t ?? latest.t
            let state = try c.query(
                "SELECT state FROM optune.iterations WHERE run_id = $1 AND t = $2 FOR UPDATE", [run, Int32(clamping: t)]
            ).first.map { try $0.decode(0, as: String.self) }
            guard let state, let current = IterationState(rawValue: state) else {
                throw BufferError("the run has no iteration \(t) (its latest is \(latest.t))")
            }
            var requeued: [WorkQueue: Int] = [:]
            for queue in WorkQueue.allCases {
                requeued[queue] = try c.query(
                    """
                    WITH requeued AS (
                        UPDATE \(queue.table)
                        SET state = 'pending', attempts = 0, expiries = 0, updated_at = now()
                        WHERE run_id = $1 AND t = $2 AND state = 'dead'
                        RETURNING size
                    )
                    SELECT coalesce(sum(size), 0) FROM requeued
                    """, [run, Int32(clamping: t)])[0].decode(0, as: Int.self)
            }
            var reopened: IterationState?
            if current == .failed {
                guard t == latest.t else { throw BufferError("iteration \(t) failed but is not the run's latest (\(latest.t))") }
                let pending = { (queue: WorkQueue) in
                    try c.query(
                        "SELECT EXISTS (SELECT 1 FROM \(queue.table) WHERE run_id = $1 AND t = $2 AND state NOT IN ('done', 'split'))",
                        [run, Int32(clamping: t)])[0].decode(0, as: Bool.self)
                }
                if try pending(.generation) {
                    reopened = .generating
                } else if try pending(.scoring) {
                    reopened = .scoring
                } else if try c.query(
                    "SELECT EXISTS (SELECT 1 FROM optune.pairs WHERE run_id = $1 AND t = $2)", [run, Int32(clamping: t)])[0]
                    .decode(0, as: Bool.self)
                {
                    reopened = .training
                } else {
                    reopened = .scoring
                }
                try c.execute(
                    """
                    UPDATE optune.iterations SET state = $3, failure_reason = NULL, finished_at = NULL, updated_at = now()
                    WHERE run_id = $1 AND t = $2
                    """, [run, Int32(clamping: t), reopened?.rawValue])
            }
            if reopened != nil || (requeued.values.reduce(0, +) > 0) {
                try Self.setRunStatus(run, .running, on: c)
                try c.notify(WorkNotice.channel, payload: WorkNotice.retry)
            }
            return DeadWorkRetry(t: t, requeued: requeued.values.reduce(0, +), reopenedAs: reopened)
        }
    }

    /// Prompts of `run` selected at some iteration that got no new pair, newest first.
    public func unpairedPrompts(run: Int64, limit: Int = 20) async throws -> [UnpairedPrompt] {
        try await connection.query(
            """
            SELECT t, prompt_id, reason, kept_pair FROM optune.unpaired_prompts
            WHERE run_id = $1 ORDER BY t DESC, prompt_id LIMIT $2
            """, [run, Int64(limit)]
        ).map { row in
            UnpairedPrompt(t: try row.decode(0), prompt: try row.decode(1), reason: try row.decode(2), keptPair: try row.decode(3))
        }
    }
}
