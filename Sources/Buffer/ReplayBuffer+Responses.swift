import Postgres

extension ReplayBuffer {
    /// Stores a batch of responses in one transaction: all of them or none.
    ///
    /// Rows already stored under the same (run, t, prompt, sample) are left untouched, so a
    /// resubmitted batch is a no-op. A bad row (invalid field, or no generation task for its
    /// run, t, prompt and policy) rejects the whole batch with a ``BufferError`` that names it.
    @discardableResult
    public func insertResponses(_ batch: [NewResponse]) async throws -> BatchOutcome {
        try await connection.transaction { c in
            try Self.insertResponses(batch, on: c)
        }
    }

    /// The same as ``insertResponses(_:)`` inside the caller's open transaction.
    public static func insertResponses(_ batch: [NewResponse], on c: isolated Connection) throws -> BatchOutcome {
        guard !batch.isEmpty else { return BatchOutcome(inserted: 0, alreadyStored: 0) }
        let batch = try withChunks(batch, on: c)
        for (position, response) in batch.enumerated() {
            if let problem = response.problem() {
                throw BufferError(
                    "response batch rejected, nothing stored: row \(position) (\(response.keyDescription)) \(problem)", row: position)
            }
        }
        // Fast path: COPY straight into the table. A resubmission (unique violation) or a bad
        // row makes it fail as a whole; the savepoint undoes it and the staging path below then
        // stores what is new, or names the row at fault. The chunk check reads the batch from a
        // transition table of whole rows: work_mem keeps it in memory (at 4 MB, the default, a
        // batch of 5,000 responses of 512 tokens spills to a temporary file).
        try c.simpleQuery("SET LOCAL work_mem = '64MB'; SAVEPOINT response_copy")
        do {
            let copied = try c.copyFromBinary(
                """
                COPY optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens,
                    prompt_tokens, text, finish_reason, sampling, seed, worker_id, latency_ms, logprob_sum, chunk)
                FROM STDIN (FORMAT binary)
                """
            ) { writer in
                for response in batch { try Self.write(response, position: nil, to: &writer) }
            }
            try c.simpleQuery("RELEASE SAVEPOINT response_copy")
            return BatchOutcome(inserted: copied, alreadyStored: batch.count - copied)
        } catch let error as PostgresError where error.code == .server {
            try c.simpleQuery("ROLLBACK TO SAVEPOINT response_copy")
        }
        try c.simpleQuery(
            """
            CREATE TEMP TABLE IF NOT EXISTS response_staging (
                position int NOT NULL, run_id bigint NOT NULL, t integer NOT NULL, prompt_id bigint NOT NULL,
                sample_index integer NOT NULL, purpose text NOT NULL, policy_id bigint NOT NULL, n_tokens integer NOT NULL,
                tokens bytea, prompt_tokens bytea, text text, finish_reason text, sampling jsonb NOT NULL,
                seed bigint, worker_id text, latency_ms double precision, logprob_sum double precision, chunk bigint NOT NULL
            );
            TRUNCATE response_staging;
            """)
        try c.copyFromBinary(
            """
            COPY response_staging (position, run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens,
                prompt_tokens, text, finish_reason, sampling, seed, worker_id, latency_ms, logprob_sum, chunk)
            FROM STDIN (FORMAT binary)
            """
        ) { writer in
            for (position, response) in batch.enumerated() { try Self.write(response, position: position, to: &writer) }
        }
        try c.simpleQuery("SAVEPOINT response_batch")
        do {
            let inserted = try c.execute(
                """
                INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens,
                    prompt_tokens, text, finish_reason, sampling, seed, worker_id, latency_ms, logprob_sum, chunk)
                SELECT run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens,
                    prompt_tokens, text, finish_reason, sampling, seed, worker_id, latency_ms, logprob_sum, chunk
                FROM response_staging
                ON CONFLICT (run_id, t, prompt_id, sample_index) DO NOTHING
                """)
            try c.simpleQuery("RELEASE SAVEPOINT response_batch")
            return BatchOutcome(inserted: inserted, alreadyStored: batch.count - inserted)
        } catch let error as PostgresError where error.sqlState == SQLState.foreignKeyViolation {
            try c.simpleQuery("ROLLBACK TO SAVEPOINT response_batch")
            let orphan = try c.query(
                """
                SELECT s.position FROM response_staging s
                WHERE NOT EXISTS (
                    SELECT 1 FROM optune.generation_tasks g
                    WHERE (g.run_id, g.t, g.chunk, g.policy_id, g.purpose) = (s.run_id, s.t, s.chunk, s.policy_id, s.purpose)
                      AND s.prompt_id = ANY (g.prompt_ids))
                ORDER BY s.position LIMIT 1
                """)
            let position = try orphan.first.map { try $0.decode(0, as: Int.self) }
            let key =
                position.map { "row \($0) (\(batch[$0].keyDescription), policy \(batch[$0].policy), \(batch[$0].purpose.rawValue))" }
                ?? "a row"
            throw BufferError(
                "response batch rejected, nothing stored: \(key) has no generation task (unknown prompt, iteration or policy)",
                row: position, underlying: error)
        } catch let error as PostgresError where error.code == .server {
            throw BufferError("response batch rejected, nothing stored: \(error.constraint ?? error.message)", underlying: error)
        }
    }

    /// Records rewards in one transaction: all or none. A non-finite score or an unknown
    /// response rejects the batch with a ``BufferError`` naming the row; a reward already
    /// recorded for the same (response, reward model) is left as it is.
    @discardableResult
    public func recordRewards(_ batch: [NewReward]) async throws -> BatchOutcome {
        try await connection.transaction { c in
            try Self.recordRewards(batch, on: c)
        }
    }

    /// The same as ``recordRewards(_:)`` inside the caller's open transaction.
    public static func recordRewards(_ batch: [NewReward], on c: isolated Connection) throws -> BatchOutcome {
        for (position, reward) in batch.enumerated() where !reward.score.isFinite {
            throw BufferError(
                "reward batch rejected, nothing stored: row \(position) (response \(reward.response)) has score \(reward.score); rewards must be finite",
                row: position)
        }
        guard !batch.isEmpty else { return BatchOutcome(inserted: 0, alreadyStored: 0) }
        let parameters: [(any PostgresEncodable)?] = [batch.map(\.response), batch.map(\.rewardModel), batch.map(\.score)]
        // Fast path: a plain INSERT (ON CONFLICT costs a speculative insertion per row). A
        // resubmission makes it fail on the primary key; the savepoint undoes it and the same rows
        // go in again with ON CONFLICT DO NOTHING. An unknown response or reward model fails the
        // statement check of optune.rewards either way.
        try c.simpleQuery("SAVEPOINT reward_insert")
        do {
            let inserted = try c.execute(
                "INSERT INTO optune.rewards (response_id, reward_model_id, score) SELECT * FROM unnest($1::int8[], $2::int8[], $3::float8[])",
                parameters)
            try c.simpleQuery("RELEASE SAVEPOINT reward_insert")
            return BatchOutcome(inserted: inserted, alreadyStored: batch.count - inserted)
        } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation {
            try c.simpleQuery("ROLLBACK TO SAVEPOINT reward_insert")
        } catch let error as PostgresError where error.sqlState == SQLState.foreignKeyViolation {
            try c.simpleQuery("ROLLBACK TO SAVEPOINT reward_insert")
            throw try unknownReference(in: batch, error: error, on: c)
        }
        do {
            let inserted = try c.execute(
                """
                INSERT INTO optune.rewards (response_id, reward_model_id, score)
                SELECT * FROM unnest($1::int8[], $2::int8[], $3::float8[])
                ON CONFLICT (response_id, reward_model_id) DO NOTHING
                """, parameters)
            return BatchOutcome(inserted: inserted, alreadyStored: batch.count - inserted)
        } catch let error as PostgresError where error.sqlState == SQLState.foreignKeyViolation {
            throw try unknownReference(in: batch, error: error, on: c)
        }
    }

    /// The error for a reward batch that the statement check of optune.rewards refused: names
    /// the first row whose response does not exist, else the check's own message.
    private static func unknownReference(in batch: [NewReward], error: PostgresError, on c: isolated Connection) throws -> BufferError {
        let missing = try c.query(
            """
            SELECT i - 1 FROM unnest($1::int8[]) WITH ORDINALITY AS b(response_id, i)
            LEFT JOIN optune.responses r ON r.id = b.response_id
            WHERE r.id IS NULL ORDER BY i LIMIT 1
            """, [batch.map(\.response)])
        guard let row = missing.first else {
            return BufferError("reward batch rejected, nothing stored: \(error.message)", underlying: error)
        }
        let position = try row.decode(0, as: Int.self)
        return BufferError(
            "reward batch rejected, nothing stored: row \(position) names response \(batch[position].response), which does not exist",
            row: position, underlying: error)
    }

    /// Writes one response as a COPY row, with its batch position first when `position` is set.
    private static func write(_ response: NewResponse, position: Int?, to writer: inout BinaryCopyWriter) throws {
        try writer.beginRow(fieldCount: position == nil ? 17 : 18)
        if let position { writer.write(Int32(position)) }
        writer.write(response.run)
        writer.write(Int32(response.t))
        writer.write(response.prompt)
        writer.write(Int32(response.sampleIndex))
        writer.write(response.purpose.rawValue)
        writer.write(response.policy)
        writer.write(Int32(response.tokenCount))
        if let blob = response.tokenBlob { writer.write(bytes: blob) } else { writer.writeNull() }
        if let blob = response.promptTokenBlob { writer.write(bytes: blob) } else { writer.writeNull() }
        writer.write(response.text)
        writer.write(response.finishReason)
        writer.write(JSONB(response.samplingJSON))
        writer.write(response.seed)
        writer.write(response.worker)
        writer.write(response.latencyMs)
        writer.write(response.logprobSum)
        writer.write(response.chunk)
    }

    /// `batch` with every response's chunk set: a response without one gets the unsplit chunk of
    /// its run, t and purpose that holds its prompt. A response for which there is none is
    /// refused with a ``BufferError`` naming it.
    static func withChunks(_ batch: [NewResponse], on c: isolated Connection) throws -> [NewResponse] {
        guard batch.contains(where: { $0.chunk == nil }) else { return batch }
        struct Iteration: Hashable {
            var run: Int64
            var t: Int
            var purpose: Purpose
        }
        var found: [Iteration: [Int64: Int64]] = [:]
        let missing = Dictionary(grouping: batch.filter { $0.chunk == nil }) { Iteration(run: $0.run, t: $0.t, purpose: $0.purpose) }
        for (iteration, responses) in missing {
            let rows = try c.query(
                """
                SELECT u.prompt_id, g.chunk FROM optune.generation_tasks g
                CROSS JOIN LATERAL unnest(g.prompt_ids) AS u(prompt_id)
                WHERE g.run_id = $1 AND g.t = $2 AND g.purpose = $3 AND g.state <> 'split' AND u.prompt_id = ANY ($4::int8[])
                """, [iteration.run, Int32(clamping: iteration.t), iteration.purpose.rawValue, Array(Set(responses.map(\.prompt)))])
            for row in rows { found[iteration, default: [:]][try row.decode(0, as: Int64.self)] = try row.decode(1, as: Int64.self) }
        }
        return try batch.enumerated().map { position, response in
            guard response.chunk == nil else { return response }
            var response = response
            guard let chunk = found[Iteration(run: response.run, t: response.t, purpose: response.purpose)]?[response.prompt] else {
                throw BufferError(
                    "response batch rejected, nothing stored: row \(position) (\(response.keyDescription), policy \(response.policy), \(response.purpose.rawValue)) has no generation task (unknown prompt, iteration or policy)",
                    row: position)
            }
            response.chunk = chunk
            return response
        }
    }
}
