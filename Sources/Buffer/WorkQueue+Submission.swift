import Postgres

extension ReplayBuffer {
    /// Submits a generation batch in one transaction. `tasks` are the prompts that succeeded,
    /// `responses` their samples; `failures` the prompts that did not. For each chunk whose lease
    /// is still held (same token) the responses are stored (one COPY), a scoring chunk of its
    /// succeeded prompts is enqueued, and the chunk becomes done — or, when some of its prompts
    /// failed, it is split (see ``settleChunks(_:succeeded:failures:on:)``). Everything for a chunk
    /// whose lease was lost is dropped. A repeat of a committed submission changes nothing.
    public func submitGenerations(_ tasks: [LeasedTask], responses: [NewResponse], failures: [TaskFailure] = []) async throws
        -> SubmissionOutcome
    {
        try await connection.transaction { c in
            let settled = try Self.settleChunks(.generation, succeeded: tasks, failures: failures, on: c)
            var kept: [NewResponse] = []
            kept.reserveCapacity(responses.count)
            // A prompt's samples are usually neighbours: look its chunk up once for them.
            var last: (key: TaskKey, done: Int64?)?
            for var response in responses {
                let key = TaskKey(run: response.run, t: response.t, prompt: response.prompt)
                if last?.key != key { last = (key, settled.doneChunk[key]) }
                guard let done = last?.done else { continue }
                response.chunk = done
                kept.append(response)
            }
            _ = try Self.insertResponses(kept, on: c)
            for chunk in settled.newlyDone {
                try c.execute(
                    """
                    INSERT INTO optune.scoring_tasks (run_id, t, purpose, policy_id, prompt_ids, size)
                    SELECT run_id, t, purpose, policy_id, prompt_ids, size FROM optune.generation_tasks
                    WHERE run_id = $1 AND t = $2 AND chunk = $3
                    """, [chunk.run, Int32(clamping: chunk.t), chunk.chunk])
            }
            if !settled.newlyDone.isEmpty { try c.notify(WorkNotice.channel, payload: WorkNotice.scoring) }
            return settled.outcome
        }
    }

    /// Submits a scoring batch in one transaction, fenced like ``submitGenerations(_:responses:failures:)``:
    /// a reward is kept only when the chunk holding its prompt (`taskOfResponse`, keyed by run, t
    /// and prompt) is still held and the prompt succeeded, so a batch spanning runs that share a
    /// prompt keeps exactly the rewards of the prompts it holds.
    public func submitScores(
        _ tasks: [LeasedTask], rewards: [NewReward], taskOfResponse: [Int64: TaskKey], failures: [TaskFailure] = []
    ) async throws -> SubmissionOutcome {
        try await connection.transaction { c in
            let settled = try Self.settleChunks(.scoring, succeeded: tasks, failures: failures, on: c)
            let fresh = Set(settled.newlyDone)
            let kept = rewards.filter { reward in
                guard let key = taskOfResponse[reward.response], let done = settled.doneChunk[key] else { return false }
                return fresh.contains(ChunkKey(run: key.run, t: key.t, chunk: done))
            }
            _ = try Self.recordRewards(kept, on: c)
            try c.notify(WorkNotice.channel, payload: WorkNotice.scored)
            return settled.outcome
        }
    }

    /// Records a failed attempt of every prompt of `tasks`: each goes back to pending, or to
    /// `dead` with the error kept when its chunk has used its attempts or `retryable` is false.
    /// Fenced like a submission. Other prompts of the same chunks return to the queue uncounted.
    public func failTasks(_ queue: WorkQueue, _ tasks: [LeasedTask], error: String, retryable: Bool) async throws {
        try await reportFailures(queue, tasks.map { TaskFailure(task: $0, message: error, retryable: retryable) })
    }

    /// Records failed prompts of chunks none of whose prompts succeeded in this batch (a whole
    /// batch failed), fenced like a submission: see ``settleChunks(_:succeeded:failures:on:)``.
    public func reportFailures(_ queue: WorkQueue, _ failures: [TaskFailure]) async throws {
        guard !failures.isEmpty else { return }
        _ = try await connection.transaction { c in
            try Self.settleChunks(queue, succeeded: [], failures: failures, on: c)
        }
    }

    /// What settling a batch's chunks did.
    struct SettledChunks {
        /// For each succeeded prompt of a chunk still held: the done chunk its results belong to
        /// (the chunk itself, or the part split off for its succeeded prompts).
        var doneChunk: [TaskKey: Int64] = [:]
        /// Done chunks made by this call (not by an earlier commit of the same submission).
        var newlyDone: [ChunkKey] = []
        var outcome = SubmissionOutcome(accepted: 0, refused: 0)
    }

    /// Ends the leases of the chunks named by `succeeded` and `failures`, each fenced by its token.
    ///
    /// A chunk whose prompts all succeeded becomes done. One whose prompts all failed the same way
    /// goes back to pending (retryable, attempts left), or to dead with the error, as a whole.
    /// Otherwise it is split into parts that each take one of those ends: the succeeded prompts
    /// (done; their results reference this part), the retryable ones (pending), the dead ones
    /// (one dead part per error), and those with no report or an unavailable backend (pending,
    /// attempt not counted). A chunk already done or split under the same token was settled by an
    /// earlier commit of this submission: its prompts count as accepted and nothing is redone.
    static func settleChunks(_ queue: WorkQueue, succeeded: [LeasedTask], failures: [TaskFailure], on c: isolated Connection) throws
        -> SettledChunks
    {
        var settled = SettledChunks()
        settled.doneChunk.reserveCapacity(succeeded.count)
        let failed = Dictionary(failures.map { (TaskKey(run: $0.task.run, t: $0.task.t, prompt: $0.task.prompt), $0) }) { first, _ in first
        }
        let succeededKeys = Set(succeeded.map { TaskKey(run: $0.run, t: $0.t, prompt: $0.prompt) })
        for held in HeldChunk.of(succeeded + failures.map(\.task)) {
            let t32 = Int32(clamping: held.t)
            guard
                let row = try c.query(
                    """
                    SELECT state, lease_token, prompt_ids, attempts, max_attempts FROM \(queue.table)
                    WHERE run_id = $1 AND t = $2 AND chunk = $3 FOR UPDATE
                    """, [held.run, t32, held.chunk]
                ).first
            else { continue }
            let state: String = try row.decode(0)
            let token: Int64? = try row.decode(1)
            let prompts: [Int64] = try row.decode(2)
            let attempts: Int = try row.decode(3)
            let maxAttempts: Int = try row.decode(4)
            let key = { (prompt: Int64) in TaskKey(run: held.run, t: held.t, prompt: prompt) }
            guard token == held.token, ["leased", "done", "split"].contains(state) else {
                settled.outcome.refused += prompts.count
                continue
            }
            let mine = { prompts.filter { succeededKeys.contains(key($0)) } }
            if state == "done" {
                // A repeat of a committed submission.
                for prompt in mine() { settled.doneChunk[key(prompt)] = held.chunk }
                settled.outcome.accepted += prompts.count
                continue
            }
            if state == "split" {
                // Split by a committed submission of this lease (it made a done part under the same
                // token), or by the lease's expiry (then the lease is lost).
                let parts = try c.query(
                    "SELECT chunk, state FROM \(queue.table) WHERE run_id = $1 AND t = $2 AND parent_chunk = $3 AND lease_token = $4",
                    [held.run, t32, held.chunk, held.token])
                guard !parts.isEmpty else {
                    settled.outcome.refused += prompts.count
                    continue
                }
                let done = try parts.first { try $0.decode(1, as: String.self) == "done" }?.decode(0, as: Int64.self)
                if let done { for prompt in mine() { settled.doneChunk[key(prompt)] = done } }
                settled.outcome.accepted += prompts.count
                continue
            }
            var ends = ChunkEnds()
            for prompt in prompts {
                if succeededKeys.contains(key(prompt)) {
                    ends.succeeded.append(prompt)
                } else if let failure = failed[key(prompt)], failure.counted {
                    if failure.retryable && attempts < maxAttempts {
                        ends.retry.append(prompt)
                        ends.retryError = ends.retryError ?? failure.message
                    } else {
                        ends.dead[failure.message, default: []].append(prompt)
                    }
                } else {
                    ends.returned.append(prompt)
                }
            }
            let chunkKey = ChunkKey(run: held.run, t: held.t, chunk: held.chunk)
            let done = try settle(queue, chunkKey, ends: ends, on: c)
            if let done {
                for prompt in ends.succeeded { settled.doneChunk[key(prompt)] = done }
                settled.newlyDone.append(ChunkKey(run: held.run, t: held.t, chunk: done))
            }
            settled.outcome.accepted += prompts.count
        }
        return settled
    }

    /// Ends one held chunk's lease as `ends` says; returns the chunk its succeeded prompts'
    /// results belong to, if any succeeded.
    private static func settle(_ queue: WorkQueue, _ chunk: ChunkKey, ends: ChunkEnds, on c: isolated Connection) throws -> Int64? {
        let key: [(any PostgresEncodable)?] = [chunk.run, Int32(clamping: chunk.t), chunk.chunk]
        let finish = { (state: String, error: String?, uncount: Bool) in
            _ = try c.execute(
                """
                UPDATE \(queue.table)
                SET state = $4, last_error = coalesce($5, last_error), attempts = CASE WHEN $6 THEN greatest(attempts - 1, 0) ELSE attempts END,
                    lease_owner = CASE WHEN $4 IN ('done', 'split') THEN lease_owner END, lease_expires_at = NULL, updated_at = now()
                WHERE run_id = $1 AND t = $2 AND chunk = $3
                """, key + [state, error, uncount])
        }
        switch ends.single {
        case .succeeded:
            try finish("done", nil, false)
            return chunk.chunk
        case .retry:
            try finish("pending", ends.retryError, false)
            return nil
        case .dead(let message):
            try finish("dead", message, false)
            return nil
        case .returned:
            try finish("pending", nil, true)
            return nil
        case nil:
            break
        }
        try finish("split", nil, false)
        let part = { (prompts: [Int64], state: String, error: String?, uncount: Bool) -> Int64 in
            let inserted = try c.query(
                """
                INSERT INTO \(queue.table) (run_id, t, purpose, policy_id, prompt_ids, size, parent_chunk, state, lease_owner, lease_token,
                                            attempts, max_attempts, expiries, last_error)
                SELECT run_id, t, purpose, policy_id, $4, cardinality($4::int8[]), chunk, $5,
                       CASE WHEN $5 = 'done' THEN lease_owner END, lease_token,
                       CASE WHEN $7 THEN greatest(attempts - 1, 0) ELSE attempts END, max_attempts, expiries, coalesce($6, last_error)
                FROM \(queue.table) WHERE run_id = $1 AND t = $2 AND chunk = $3
                RETURNING chunk
                """, key + [prompts, state, error, uncount]
            ).first?.decode(0, as: Int64.self)
            // The chunk is locked (FOR UPDATE) by this transaction, so it cannot have gone.
            guard let inserted else { throw BufferError("chunk \(chunk.chunk) of run \(chunk.run), t \(chunk.t) vanished while split") }
            return inserted
        }
        var done: Int64?
        if !ends.succeeded.isEmpty { done = try part(ends.succeeded, "done", nil, false) }
        if !ends.retry.isEmpty { _ = try part(ends.retry, "pending", ends.retryError, false) }
        for (message, prompts) in ends.dead.sorted(by: { $0.key < $1.key }) { _ = try part(prompts, "dead", message, false) }
        if !ends.returned.isEmpty { _ = try part(ends.returned, "pending", nil, true) }
        return done
    }
}

/// A chunk's key.
struct ChunkKey: Hashable {
    var run: Int64
    var t: Int
    var chunk: Int64
}

/// How the prompts of one held chunk ended, in chunk order.
private struct ChunkEnds {
    var succeeded: [Int64] = []
    var retry: [Int64] = []
    var retryError: String?
    var dead: [String: [Int64]] = [:]
    var returned: [Int64] = []

    enum Single {
        case succeeded, retry, returned
        case dead(String)
    }

    /// The one end every prompt took, or nil when they differ.
    var single: Single? {
        let kinds = [!succeeded.isEmpty, !retry.isEmpty, !dead.isEmpty, !returned.isEmpty].filter { $0 }.count
        guard kinds == 1 else { return nil }
        if !succeeded.isEmpty { return .succeeded }
        if !retry.isEmpty { return .retry }
        if !returned.isEmpty { return .returned }
        if dead.count == 1, let message = dead.keys.first { return .dead(message) }
        return nil
    }
}
