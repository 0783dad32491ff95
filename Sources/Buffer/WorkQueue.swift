import Postgres

/// One of the two work queues of DESIGN §4.
public enum WorkQueue: String, Sendable, CaseIterable {
    case generation, scoring

    /// The queue's table: a fixed identifier from this closed set, never user input.
    var table: String { self == .generation ? "optune.generation_tasks" : "optune.scoring_tasks" }
}

/// One prompt of a chunk held under a lease. The lease covers the whole chunk (`chunk`), and
/// `leaseToken` fences it: a submission naming an older token is refused once the chunk has been
/// leased again.
public struct LeasedTask: Sendable, Hashable {
    public var run: Int64
    public var t: Int
    public var prompt: Int64
    public var purpose: Purpose
    public var policy: Int64
    /// The chunk (`generation_tasks.chunk` / `scoring_tasks.chunk`) the prompt was leased with.
    public var chunk: Int64
    public var leaseToken: Int64
    public var attempts: Int
}

/// What a submission did, in prompts: accepted, and refused because their chunk's lease was lost.
public struct SubmissionOutcome: Sendable, Hashable {
    public var accepted: Int
    public var refused: Int

    public init(accepted: Int, refused: Int) {
        self.accepted = accepted
        self.refused = refused
    }
}

/// A leased prompt that did not succeed, as its worker reports it.
public struct TaskFailure: Sendable, Hashable {
    public var task: LeasedTask
    public var message: String
    /// Whether another attempt may succeed (the prompt goes back to the queue until its chunk
    /// has used its attempts); false makes it dead at once.
    public var retryable: Bool
    /// False when the backend was unavailable: the prompt returns to the queue and the attempt
    /// does not count.
    public var counted: Bool

    public init(task: LeasedTask, message: String, retryable: Bool, counted: Bool = true) {
        self.task = task
        self.message = message
        self.retryable = retryable
        self.counted = counted
    }
}

extension ReplayBuffer {
    /// Leases whole pending chunks of `queue` (optionally of one run) for `owner`, for
    /// `leaseSeconds`, and returns their prompts: the first chunk in (run, t, chunk) order — a
    /// selection's ranks in order, and chunks split off a failed or expired one after fresh
    /// work — and, when it is a fresh chunk, more fresh chunks while they fit in `limit` prompts.
    /// A chunk split off after an expiry is leased alone, so the prompt that killed its worker
    /// ends up alone and its chunk-mates are not held with it again. Uses `FOR NO KEY UPDATE SKIP
    /// LOCKED`, so concurrent workers never wait on each other and never get the same chunk.
    public func lease(
        _ queue: WorkQueue, owner: String, limit: Int, leaseSeconds: Double, run: Int64? = nil
    ) async throws -> [LeasedTask] {
        let limit = max(1, limit)
        let first = try await connection.query(Self.leaseSQL(queue, freshOnly: false), [run, Int64(1), owner, leaseSeconds])
        var leased = try Self.leasedTasks(first)
        guard let row = first.first, try row.decode(8, as: Int.self) == 0, leased.count < limit else { return leased }
        // k more fresh chunks of at most remaining / k prompts each, so they fit in `limit`
        // whatever their sizes; k as if they were the size of the first.
        let remaining = limit - leased.count
        let more = remaining / max(1, leased.count)
        if more > 0 {
            leased += try Self.leasedTasks(
                try await connection.query(
                    Self.leaseSQL(queue, freshOnly: true), [run, Int64(more), owner, leaseSeconds, Int32(clamping: remaining / more)]))
        }
        return leased
    }

    /// The lease statement. The batch's rows, locked by the CTE (so their ctids cannot change
    /// under it), are updated by ctid — a TID scan, whatever the planner believes the batch's
    /// size is. Only fixed SQL is spliced in.
    private static func leaseSQL(_ queue: WorkQueue, freshOnly: Bool) -> String {
        """
        WITH batch AS (
            SELECT ctid FROM \(queue.table)
            WHERE state = 'pending' AND ($1::int8 IS NULL OR run_id = $1)\(freshOnly ? " AND expiries = 0 AND size <= $5" : "")
            ORDER BY run_id, t, chunk
            LIMIT $2
            FOR NO KEY UPDATE SKIP LOCKED
        ), token AS (SELECT nextval('optune.lease_token_seq') AS value)
        UPDATE \(queue.table) task
        SET state = 'leased', lease_owner = $3, lease_token = (SELECT value FROM token),
            lease_expires_at = now() + make_interval(secs => $4), attempts = task.attempts + 1, updated_at = now()
        WHERE task.ctid = ANY (ARRAY(SELECT ctid FROM batch))
        RETURNING task.run_id, task.t, task.chunk, task.purpose, task.policy_id, task.lease_token, task.attempts, task.prompt_ids,
                  task.expiries
        """
    }

    private static func leasedTasks(_ rows: QueryResult) throws -> [LeasedTask] {
        var tasks: [LeasedTask] = []
        for row in rows {
            let run: Int64 = try row.decode(0)
            let t: Int = try row.decode(1)
            let chunk: Int64 = try row.decode(2)
            let purpose = try Purpose.decoding(try row.decode(3))
            let policy: Int64 = try row.decode(4)
            let token: Int64 = try row.decode(5)
            let attempts: Int = try row.decode(6)
            for prompt in try row.decode(7, as: [Int64].self) {
                tasks.append(
                    LeasedTask(
                        run: run, t: t, prompt: prompt, purpose: purpose, policy: policy, chunk: chunk, leaseToken: token,
                        attempts: attempts))
            }
        }
        return tasks.sorted { ($0.run, $0.t, $0.chunk) < ($1.run, $1.t, $1.chunk) }
    }

    /// Extends the leases `owner` holds on the chunks of `tasks` (a heartbeat for long work).
    public func extendLeases(_ queue: WorkQueue, _ tasks: [LeasedTask], leaseSeconds: Double) async throws {
        let chunks = HeldChunk.of(tasks)
        guard !chunks.isEmpty else { return }
        try await connection.execute(
            """
            UPDATE \(queue.table) task SET lease_expires_at = now() + make_interval(secs => $5), updated_at = now()
            FROM unnest($1::int8[], $2::int4[], $3::int8[], $4::int8[]) AS held(run_id, t, chunk, token)
            WHERE (task.run_id, task.t, task.chunk) = (held.run_id, held.t, held.chunk)
              AND task.state = 'leased' AND task.lease_token = held.token
            """, HeldChunk.arrays(chunks) + [leaseSeconds])
    }

    /// Returns `owner`'s leases to the queue without counting the attempt (graceful shutdown).
    /// Returns the prompts returned.
    @discardableResult
    public func releaseLeases(_ queue: WorkQueue, owner: String) async throws -> Int {
        try await connection.query(
            """
            WITH released AS (
                UPDATE \(queue.table)
                SET state = 'pending', attempts = greatest(attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL,
                    updated_at = now()
                WHERE state = 'leased' AND lease_owner = $1
                RETURNING size
            )
            SELECT coalesce(sum(size), 0) FROM released
            """, [owner])[0].decode(0, as: Int.self)
    }

    /// Handles chunks whose lease expired (their worker died or hung), counting the expiry. A
    /// chunk of several prompts is split into 4 smaller chunks, pending, so one poison prompt
    /// cannot take its chunk-mates down with it again and again (256 → 64 → 16 → 4 → 1); an
    /// expiry of a one-prompt chunk counts as an attempt, and after its last attempt the chunk
    /// is dead. Returns the prompts requeued and the prompts that died.
    @discardableResult
    public func reclaimExpiredLeases(_ queue: WorkQueue) async throws -> (requeued: Int, dead: Int) {
        // Almost always nothing expired: a probe of the partial expiry index costs a tenth of
        // planning the sweep below.
        let due = try await connection.query(
            "SELECT EXISTS (SELECT 1 FROM \(queue.table) WHERE state = 'leased' AND lease_expires_at < now())")
        guard try due.first?.decode(0, as: Bool.self) == true else { return (0, 0) }
        let row = try await connection.query(
            """
            WITH expired AS (
                SELECT run_id, t, chunk FROM \(queue.table)
                WHERE state = 'leased' AND lease_expires_at < now()
                FOR NO KEY UPDATE SKIP LOCKED
            ), marked AS (
                UPDATE \(queue.table) task
                SET state = CASE WHEN task.size > 1 THEN 'split' WHEN task.attempts >= task.max_attempts THEN 'dead' ELSE 'pending' END,
                    attempts = CASE WHEN task.size > 1 THEN greatest(task.attempts - 1, 0) ELSE task.attempts END,
                    expiries = task.expiries + 1,
                    last_error = CASE WHEN task.size = 1
                                      THEN 'lease expired while leased alone (worker ' || task.lease_owner || ' died or hung on this prompt)'
                                      ELSE task.last_error END,
                    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
                FROM expired
                WHERE (task.run_id, task.t, task.chunk) = (expired.run_id, expired.t, expired.chunk)
                RETURNING task.*
            ), parts AS (
                INSERT INTO \(queue.table) (run_id, t, purpose, policy_id, prompt_ids, size, parent_chunk, attempts, max_attempts,
                                            expiries, last_error)
                SELECT m.run_id, m.t, m.purpose, m.policy_id, m.prompt_ids[part.first : part.last], part.last - part.first + 1,
                       m.chunk, m.attempts, m.max_attempts, m.expiries, m.last_error
                FROM marked m
                CROSS JOIN LATERAL (SELECT (m.size + 3) / 4 AS length) piece
                CROSS JOIN LATERAL (
                    SELECT k * piece.length + 1 AS first, least((k + 1) * piece.length, m.size) AS last
                    FROM generate_series(0, 3) AS k
                ) part
                WHERE m.state = 'split' AND part.first <= part.last
                ORDER BY m.run_id, m.t, m.chunk, part.first
            )
            SELECT coalesce(sum(size) FILTER (WHERE state <> 'dead'), 0), coalesce(sum(size) FILTER (WHERE state = 'dead'), 0)
            FROM marked
            """)[0]
        return (try row.decode(0), try row.decode(1))
    }
}

/// A chunk held under a lease: its key and fencing token.
struct HeldChunk: Hashable, Comparable {
    var run: Int64
    var t: Int
    var chunk: Int64
    var token: Int64

    static func < (a: HeldChunk, b: HeldChunk) -> Bool { (a.run, a.t, a.chunk) < (b.run, b.t, b.chunk) }

    /// The distinct chunks of `tasks`, in key order.
    static func of(_ tasks: [LeasedTask]) -> [HeldChunk] {
        Set(tasks.map { HeldChunk(run: $0.run, t: $0.t, chunk: $0.chunk, token: $0.leaseToken) }).sorted()
    }

    static func arrays(_ chunks: [HeldChunk]) -> [(any PostgresEncodable)?] {
        [chunks.map(\.run), chunks.map { Int32(clamping: $0.t) }, chunks.map(\.chunk), chunks.map(\.token)]
    }
}

/// The key of a task's prompt: one per (run, t, prompt).
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
