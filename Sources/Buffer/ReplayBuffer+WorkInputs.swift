import Foundation
import Postgres
import TokenCodec

/// A prompt's content as stored.
public struct StoredPrompt: Sendable, Hashable {
    public var id: Int64
    public var text: String?
    public var messagesJSON: String?
}

/// A policy's stored origin: built-in weights (compressed blob) or an external URI.
public struct StoredPolicy: Sendable, Hashable {
    public var id: Int64
    public var run: Int64?
    public var t: Int
    public var parent: Int64?
    public var weightsBlob: [UInt8]?
    public var uri: String?
}

extension ReplayBuffer {
    /// The content of prompts `ids`, keyed by id: those in `cache` from there, the others read
    /// with one range of `prompts_pkey` when they are dense (``DenseIDRange``), else one lookup
    /// per id (and added to `cache`).
    public func prompts(_ ids: [Int64], cache: PromptCache? = nil) async throws -> [Int64: StoredPrompt] {
        guard let cache else { return try await readPrompts(ids) }
        var (found, missing) = cache.lookup(ids)
        guard !missing.isEmpty else { return found }
        let read = try await readPrompts(missing)
        cache.store(read.values)
        found.merge(read) { cached, _ in cached }
        return found
    }

    private func readPrompts(_ ids: [Int64]) async throws -> [Int64: StoredPrompt] {
        // `id + 0` keeps the list out of the index condition: it filters the range (hashed).
        let rows =
            if let range = DenseIDRange(ids) {
                try await connection.query(
                    "SELECT id, text, messages::text FROM optune.prompts WHERE id BETWEEN $2 AND $3 AND id + 0 = ANY($1::int8[])",
                    [ids, range.lower, range.upper])
            } else {
                try await connection.query("SELECT id, text, messages::text FROM optune.prompts WHERE id = ANY($1::int8[])", [ids])
            }
        var result: [Int64: StoredPrompt] = [:]
        result.reserveCapacity(rows.count)
        for row in rows {
            let prompt = StoredPrompt(id: try row.decode(0), text: try row.decode(1), messagesJSON: try row.decode(2))
            result[prompt.id] = prompt
        }
        return result
    }

    /// The policy with id `id`.
    public func policy(_ id: Int64) async throws -> StoredPolicy {
        guard
            let row = try await connection.query(
                "SELECT id, run_id, t, parent_policy_id, weights, uri FROM optune.policies WHERE id = $1", [id]
            ).first
        else { throw BufferError("no policy with id \(id)") }
        return StoredPolicy(
            id: try row.decode(0), run: try row.decode(1), t: try row.decode(2), parent: try row.decode(3),
            weightsBlob: try row.decode(4, as: ByteA?.self)?.bytes, uri: try row.decode(5))
    }

    /// A shared base policy (no run) whose config equals `configJSON`, if one was stored.
    public func basePolicy(configJSON: String) async throws -> Int64? {
        try await connection.query(
            "SELECT id FROM optune.policies WHERE run_id IS NULL AND config = $1::jsonb ORDER BY id LIMIT 1", [JSONB(configJSON)]
        ).first?.decode(0, as: Int64.self)
    }

    /// The responses of (`run`, `t`) for `prompts`, decoded, in (prompt, sample) order. A blob
    /// that fails to decode throws ``CorruptTokenBlob``.
    public func responses(run: Int64, t: Int, prompts: [Int64]) async throws -> [StoredResponse] {
        let t32 = try int32Iteration(t)
        // Dense prompts (a chunk of the selection, in id order): one range of
        // `responses_sample_unique`, the list filtering it (`prompt_id + 0` keeps it out of the
        // index condition). Only the prompts generated at (run, t) have rows there, so the range
        // holds little else.
        // Sparse ones: one index lookup per prompt, whatever the statistics say. With an
        // iteration's responses written since the last ANALYZE, `prompt_id = ANY(…)` was planned
        // as a filter over every response of (run, t) — 28 ms a call at 48k prompts instead of
        // 2 ms. OFFSET 0 keeps the planner from flattening the lateral lookup into a join.
        let columns = "r.id, r.prompt_id, r.sample_index, r.purpose, r.policy_id, r.n_tokens, r.tokens, r.text, r.finish_reason, r.seed"
        let rows =
            if let range = DenseIDRange(prompts) {
                try await connection.query(
                    """
                    SELECT \(columns) FROM optune.responses r
                    WHERE r.run_id = $1 AND r.t = $2 AND r.prompt_id BETWEEN $4 AND $5 AND r.prompt_id + 0 = ANY($3::int8[])
                    ORDER BY r.prompt_id, r.sample_index
                    """, [run, t32, prompts, range.lower, range.upper])
            } else {
                try await connection.query(
                    """
                    SELECT \(columns)
                    FROM (SELECT DISTINCT unnest($3::int8[]) AS prompt_id) p
                    CROSS JOIN LATERAL (
                        SELECT * FROM optune.responses x WHERE x.run_id = $1 AND x.t = $2 AND x.prompt_id = p.prompt_id OFFSET 0
                    ) r
                    ORDER BY r.prompt_id, r.sample_index
                    """, [run, t32, prompts])
            }
        var decoder = TokenBlobDecoder()
        return try rows.map { row in
            let id: Int64 = try row.decode(0)
            let prompt: Int64 = try row.decode(1)
            return StoredResponse(
                id: id, run: run, t: t, prompt: prompt, sampleIndex: try row.decode(2),
                purpose: try Purpose.decoding(try row.decode(3)), policy: try row.decode(4), tokenCount: try row.decode(5),
                tokens: try row.withRawBytes(6) { blob in
                    try decoder.decode(blob, response: id, prompt: prompt, run: run, t: t, column: .responseTokens)
                },
                text: try row.decode(7), finishReason: try row.decode(8), seed: try row.decode(9))
        }
    }

    /// Registers π_{t+1} trained from `policyIn` — built-in weights (a compressed blob) or an
    /// external checkpoint (`uri`, optional `sha256`) — and its training run, and moves the iteration
    /// from `training` to `evaluating` — one transaction. Returns the new policy's id, or nil if
    /// the iteration was no longer in `training` (another trainer finished it first).
    /// `trainerJSON` records how the training ran (`training_runs.trainer`). With `fence`, the
    /// result is stored only while that training lease is current (else ``TrainingLeaseLost``).
    public func storeTrainingResult(
        run: Int64, t: Int, policyIn: Int64, weightsBlob: [UInt8]?, uri: String? = nil, sha256: String? = nil,
        configJSON: String, loss: LossKind,
        beta1: Double, beta2: Double, optimizerJSON: String, pairsUsed: Int, skippedZeroGap: Int,
        lossCurve: [Double], seconds: Double, trainerJSON: String = "{}", fence: TrainingLease? = nil
    ) async throws -> Int64? {
        try await connection.transaction { c in
            if let fence, try !Self.holdsTrainingLease(fence, on: c) { throw TrainingLeaseLost(lease: fence) }
            guard
                try c.query(
                    "SELECT 1 FROM optune.iterations WHERE run_id = $1 AND t = $2 AND state = 'training' FOR UPDATE", [run, Int32(t)]
                ).count == 1
            else { return nil }
            let policy = try c.query(
                """
                INSERT INTO optune.policies (run_id, t, parent_policy_id, weights, uri, sha256, config)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
                """, [run, Int32(t + 1), policyIn, weightsBlob.map(ByteA.init), uri, sha256, JSONB(configJSON)])[0].decode(
                    0, as: Int64.self)
            try c.execute(
                """
                INSERT INTO optune.training_runs (run_id, t, policy_in, policy_out, loss, beta1, beta2, optimizer, pairs_used,
                                                  skipped_zero_gap, loss_curve, train_seconds, finished_at, trainer)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now(), $13)
                """,
                [
                    run, Int32(t), policyIn, policy, loss.rawValue, beta1, beta2, JSONB(optimizerJSON), Int64(pairsUsed),
                    Int64(skippedZeroGap), lossCurve, seconds, JSONB(trainerJSON),
                ])
            guard try Self.transition(run: run, t: t, from: .training, to: .evaluating, stageSeconds: seconds, on: c) else {
                throw BufferError("iteration \(t) of run \(run) left the training state during training")
            }
            return policy
        }
    }

    /// The policy trained at iteration (`run`, `t`), i.e. π_{t+1}, if training finished.
    public static func trainedPolicy(run: Int64, t: Int, on c: isolated Connection) throws -> Int64? {
        try c.query("SELECT policy_out FROM optune.training_runs WHERE run_id = $1 AND t = $2", [run, Int32(t)])
            .first?.decode(0, as: Int64?.self)
    }

    /// Iterations waiting for a trainer, oldest first.
    public func iterationsAwaitingTraining() async throws -> [IterationRecord] {
        try await connection.query(
            """
            SELECT i.run_id, i.t, i.policy_id FROM optune.iterations i
            WHERE i.state = 'training'
              AND NOT EXISTS (SELECT 1 FROM optune.training_runs tr WHERE (tr.run_id, tr.t) = (i.run_id, i.t))
            ORDER BY i.updated_at
            """
        ).map { row in
            IterationRecord(run: try row.decode(0), t: try row.decode(1), state: .training, policy: try row.decode(2), failureReason: nil)
        }
    }

    /// Registers (or refreshes) a worker row and its heartbeat.
    public func heartbeat(worker: String, role: String, host: String, pid: Int32, version: String) async throws {
        try await connection.execute(
            """
            INSERT INTO optune.workers (id, role, host, pid, version) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE SET last_heartbeat = now(), stopped_at = NULL
            """, [worker, role, host, pid, version])
    }

    /// Marks a worker as stopped.
    public func workerStopped(_ worker: String) async throws {
        try await connection.execute("UPDATE optune.workers SET stopped_at = now(), last_heartbeat = now() WHERE id = $1", [worker])
    }
}
