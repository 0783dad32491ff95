import Postgres

/// One of the two work queues of DESIGN §4.
public enum WorkQueue: String, Sendable, CaseIterable {
    case generation, scoring

    /// The queue's table: a fixed identifier from this closed set, never user input.
    var table: String { self == .generation ? "optune.generation_tasks" : "optune.scoring_tasks" }
}

/// A task held under a lease. `leaseToken` fences it: a submission naming an older token is
/// refused once the task has been re-leased.
public struct LeasedTask: Sendable, Hashable {
    public var run: Int64
    public var t: Int
    public var prompt: Int64
    public var purpose: Purpose
    public var policy: Int64
    public var leaseToken: Int64
    public var attempts: Int
}

/// What a submission did: tasks accepted, and tasks refused because their lease was lost.
public struct SubmissionOutcome: Sendable, Hashable {
    public var accepted: Int
    public var refused: Int

    public init(accepted: Int, refused: Int) {
        self.accepted = accepted
        self.refused = refused
    }
}

extension ReplayBuffer {
    /// Leases up to `limit` pending tasks of `queue` (optionally of one run) for `owner`, for
    /// `leaseSeconds`. Uses `FOR NO KEY UPDATE SKIP LOCKED`, so concurrent workers never wait
    /// on each other and never get the same task. All tasks of one call share one fencing token.
    ///
    /// Fresh tasks come first. A task whose lease expired before (its worker died or hung) is
    /// leased again only with tasks that expired as often, in a batch 4^expiries times smaller
    /// (`limit` 64: 16, then 4, then 1), so one poison prompt cannot take its batch-mates down
    /// with it again and again.
    public func lease(
        _ queue: WorkQueue, owner: String, limit: Int, leaseSeconds: Double, run: Int64? = nil
    ) async throws -> [LeasedTask] {
        let limit = Int64(max(1, limit))
        let fresh = try await connection.query(Self.leaseSQL(queue, retried: false), [run, limit, owner, leaseSeconds])
        if !fresh.isEmpty { return try Self.leasedTasks(fresh) }
        let retried = try await connection.query(Self.leaseSQL(queue, retried: true), [run, limit, owner, leaseSeconds])
        return try Self.leasedTasks(retried)
    }

    /// The lease statement: fresh tasks (never expired), or tasks that expired as often as the
    /// first pending one, in a batch 4^expiries times smaller. Only fixed SQL is spliced in.
    ///
    /// The batch's rows, locked by the CTE (so their ctids cannot change under it), are updated by
    /// ctid — a TID scan, whatever the planner believes the batch's size is. Joining them back by
    /// key planned a hash join over a scan of the whole queue on every lease once statistics
    /// were fresh (26 ms at 30k tasks, growing with the table; 3–6 ms by ctid). Fresh tasks are
    /// limited by the plain parameter `$2`.
    private static func leaseSQL(_ queue: WorkQueue, retried: Bool) -> String {
        let level =
            retried
            ? "(SELECT expiries FROM \(queue.table) WHERE state = 'pending' AND ($1::int8 IS NULL OR run_id = $1) ORDER BY run_id, t, prompt_id LIMIT 1)"
            : "0"
        let limit = retried ? "(SELECT greatest(1, $2::int8 >> (2 * least(expiries, 30))) FROM level)" : "$2::int8"
        return """
            WITH level AS (SELECT coalesce(\(level), 0) AS expiries), batch AS (
                SELECT ctid FROM \(queue.table)
                WHERE state = 'pending' AND ($1::int8 IS NULL OR run_id = $1) AND expiries = (SELECT expiries FROM level)
                ORDER BY run_id, t, prompt_id
                LIMIT \(limit)
                FOR NO KEY UPDATE SKIP LOCKED
            ), token AS (SELECT nextval('optune.lease_token_seq') AS value)
            UPDATE \(queue.table) task
            SET state = 'leased', lease_owner = $3, lease_token = (SELECT value FROM token),
                lease_batch = (SELECT count(*)::int4 FROM batch),
                lease_expires_at = now() + make_interval(secs => $4), attempts = task.attempts + 1, updated_at = now()
            WHERE task.ctid = ANY (ARRAY(SELECT ctid FROM batch))
            RETURNING task.run_id, task.t, task.prompt_id, task.purpose, task.policy_id, task.lease_token, task.attempts
            """
    }

    private static func leasedTasks(_ rows: QueryResult) throws -> [LeasedTask] {
        try rows.map { row in
            LeasedTask(
                run: try row.decode(0), t: try row.decode(1), prompt: try row.decode(2), purpose: try Purpose.decoding(try row.decode(3)),
                policy: try row.decode(4), leaseToken: try row.decode(5), attempts: try row.decode(6))
        }.sorted { ($0.run, $0.t, $0.prompt) < ($1.run, $1.t, $1.prompt) }
    }

    /// Extends the leases `owner` holds on `tasks` (a heartbeat for long work).
    public func extendLeases(_ queue: WorkQueue, _ tasks: [LeasedTask], leaseSeconds: Double) async throws {
        guard !tasks.isEmpty else { return }
        try await connection.execute(
            """
            UPDATE \(queue.table) task SET lease_expires_at = now() + make_interval(secs => $5), updated_at = now()
            FROM unnest($1::int8[], $2::int4[], $3::int8[], $4::int8[]) AS held(run_id, t, prompt_id, token)
            WHERE (task.run_id, task.t, task.prompt_id) = (held.run_id, held.t, held.prompt_id)
              AND task.state = 'leased' AND task.lease_token = held.token
            """, Self.keyArrays(tasks) + [leaseSeconds])
    }

    /// Submits generated responses for leased generation tasks in one transaction: tasks whose
    /// lease is still held (same token) become done, their responses are stored and their
    /// scoring tasks enqueued. Responses for tasks whose lease was lost are dropped.
    public func submitGenerations(_ tasks: [LeasedTask], responses: [NewResponse]) async throws -> SubmissionOutcome {
        try await connection.transaction { c in
            let accepted = try Self.completeTasks(.generation, tasks, on: c)
            let kept = responses.filter { accepted.contains(TaskKey(run: $0.run, t: $0.t, prompt: $0.prompt)) }
            _ = try Self.insertResponses(kept, on: c)
            let acceptedTasks = tasks.filter { accepted.contains(TaskKey(run: $0.run, t: $0.t, prompt: $0.prompt)) }
            try c.execute(
                """
                INSERT INTO optune.scoring_tasks (run_id, t, prompt_id, purpose, policy_id)
                SELECT * FROM unnest($1::int8[], $2::int4[], $3::int8[], $4::text[], $5::int8[])
                ON CONFLICT (run_id, t, prompt_id) DO NOTHING
                """,
                [
                    acceptedTasks.map(\.run), acceptedTasks.map { Int32($0.t) }, acceptedTasks.map(\.prompt),
                    acceptedTasks.map(\.purpose.rawValue), acceptedTasks.map(\.policy),
                ])
            try c.notify("optune_work", payload: "scoring")
            return SubmissionOutcome(accepted: accepted.count, refused: tasks.count - accepted.count)
        }
    }

    /// Submits rewards for leased scoring tasks in one transaction, with the same fencing: a
    /// reward is kept only when the task it belongs to (`taskOfResponse`, keyed by run, t and
    /// prompt) is still held, so a batch spanning runs that share a prompt keeps exactly the
    /// rewards of the tasks it holds.
    public func submitScores(_ tasks: [LeasedTask], rewards: [NewReward], taskOfResponse: [Int64: TaskKey]) async throws
        -> SubmissionOutcome
    {
        try await connection.transaction { c in
            let accepted = try Self.completeTasks(.scoring, tasks, on: c)
            let kept = rewards.filter { taskOfResponse[$0.response].map(accepted.contains) ?? false }
            _ = try Self.recordRewards(kept, on: c)
            try c.notify("optune_work", payload: "scored")
            return SubmissionOutcome(accepted: accepted.count, refused: tasks.count - accepted.count)
        }
    }

    /// Records a failed attempt: the task goes back to pending, or to `dead` with the error kept
    /// when it has used its attempts or `retryable` is false. Fenced like a submission.
    public func failTasks(_ queue: WorkQueue, _ tasks: [LeasedTask], error: String, retryable: Bool) async throws {
        guard !tasks.isEmpty else { return }
        try await connection.execute(
            """
            UPDATE \(queue.table) task
            SET state = CASE WHEN NOT $5 OR task.attempts >= task.max_attempts THEN 'dead' ELSE 'pending' END,
                last_error = $6, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            FROM unnest($1::int8[], $2::int4[], $3::int8[], $4::int8[]) AS held(run_id, t, prompt_id, token)
            WHERE (task.run_id, task.t, task.prompt_id) = (held.run_id, held.t, held.prompt_id)
              AND task.state = 'leased' AND task.lease_token = held.token
            """, Self.keyArrays(tasks) + [retryable, error])
    }

    /// Returns `owner`'s leases to the queue without counting the attempt (graceful shutdown).
    @discardableResult
    public func releaseLeases(_ queue: WorkQueue, owner: String) async throws -> Int {
        try await connection.execute(
            """
            UPDATE \(queue.table)
            SET state = 'pending', attempts = greatest(attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL,
                updated_at = now()
            WHERE state = 'leased' AND lease_owner = $1
            """, [owner])
    }

    /// Puts tasks whose lease expired back to pending, counting the expiry. An expiry counts as
    /// an attempt only for a task that was leased alone (after splitting, the one that kills its
    /// worker); such a task dies after its last attempt. Returns how many were requeued and how
    /// many died.
    @discardableResult
    public func reclaimExpiredLeases(_ queue: WorkQueue) async throws -> (requeued: Int, dead: Int) {
        let rows = try await connection.query(
            """
            WITH expired AS (
                SELECT run_id, t, prompt_id FROM \(queue.table)
                WHERE state = 'leased' AND lease_expires_at < now()
                FOR NO KEY UPDATE SKIP LOCKED
            )
            UPDATE \(queue.table) task
            SET state = CASE WHEN coalesce(task.lease_batch, 1) <= 1 AND task.attempts >= task.max_attempts THEN 'dead' ELSE 'pending' END,
                attempts = CASE WHEN coalesce(task.lease_batch, 1) > 1 THEN greatest(task.attempts - 1, 0) ELSE task.attempts END,
                expiries = task.expiries + 1,
                last_error = CASE WHEN coalesce(task.lease_batch, 1) <= 1
                                  THEN 'lease expired while leased alone (worker ' || task.lease_owner || ' died or hung on this prompt)'
                                  ELSE task.last_error END,
                lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            FROM expired
            WHERE (task.run_id, task.t, task.prompt_id) = (expired.run_id, expired.t, expired.prompt_id)
            RETURNING task.state
            """)
        let states = try rows.map { try $0.decode(0, as: String.self) }
        return (states.filter { $0 == "pending" }.count, states.filter { $0 == "dead" }.count)
    }

    /// Marks tasks done when their lease is still held; returns the keys accepted. A task already
    /// done under the same token (a retried commit) counts as accepted.
    static func completeTasks(_ queue: WorkQueue, _ tasks: [LeasedTask], on c: isolated Connection) throws -> Set<TaskKey> {
        guard !tasks.isEmpty else { return [] }
        let rows = try c.query(
            """
            UPDATE \(queue.table) task
            SET state = 'done', lease_expires_at = NULL, updated_at = now()
            FROM unnest($1::int8[], $2::int4[], $3::int8[], $4::int8[]) AS held(run_id, t, prompt_id, token)
            WHERE (task.run_id, task.t, task.prompt_id) = (held.run_id, held.t, held.prompt_id)
              AND task.lease_token = held.token AND task.state IN ('leased', 'done')
            RETURNING task.run_id, task.t, task.prompt_id
            """, keyArrays(tasks))
        return Set(try rows.map { TaskKey(run: try $0.decode(0), t: try $0.decode(1), prompt: try $0.decode(2)) })
    }

    static func keyArrays(_ tasks: [LeasedTask]) -> [(any PostgresEncodable)?] {
        [tasks.map(\.run), tasks.map { Int32($0.t) }, tasks.map(\.prompt), tasks.map(\.leaseToken)]
    }
}

/// The key of a task: one per (run, t, prompt).
public struct TaskKey: Sendable, Hashable {
    public var run: Int64
    public var t: Int
    public var prompt: Int64

    public init(run: Int64, t: Int, prompt: Int64) {
        self.run = run
        self.t = t
        self.prompt = prompt
    }
}
