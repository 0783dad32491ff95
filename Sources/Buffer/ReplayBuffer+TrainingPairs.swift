import Postgres
import TokenCodec

/// A pair of D_t with what a trainer needs: the prompt and both responses' token ids.
public struct TrainingPairRecord: Sendable, Hashable {
    /// x.
    public var prompt: StoredPrompt
    /// y_w's token ids.
    public var chosen: [UInt32]
    /// y_l's token ids.
    public var rejected: [UInt32]
    /// R = σ(β2·(r_w − r_l)).
    public var weight: Double
    /// Whether r_w = r_l.
    public var zeroGap: Bool
}

/// Which pairs of D_t a trainer uses: their prompt ids, ascending (D_t's keys in `pairs_pkey`
/// order), and how many pairs were left out for a zero reward gap.
public struct TrainingPairKeys: Sendable, Hashable {
    /// Prompt ids of the pairs to train on, ascending.
    public var prompts: [Int64]
    /// Pairs left out because r_w = r_l (only when asked to skip them).
    public var skippedZeroGap: Int
}

extension ReplayBuffer {
    /// Pairs per page of a D_t read: about 4096 (token ids of a page take a few hundred kB).
    public static let trainingPageSize = 4096

    /// A D_t read whose pairs are the rows of `pairs` (a subquery of `optune.pairs` with the
    /// columns below, an index range or lookup of `pairs_pkey`), in the row order of `pairs`.
    /// Each pair's prompt is one index lookup, and its two responses one more: the range of its
    /// prompt's samples at (source_run_id, source_t), from which the aggregates pick chosen and
    /// rejected (a pair whose response is missing decodes as an error naming it). LATERAL keeps
    /// the planner from hashing the whole responses table. Run by ``readTrainingPairs(_:_:)``.
    /// Decoded by ``decodeTrainingPairs(_:)``.
    private static func trainingPairStatement(pairs: String) -> String {
        """
        SELECT p.prompt_id, q.text, q.messages::text, s.chosen_tokens, s.rejected_tokens, p.weight, p.zero_gap,
               s.chosen_id, s.rejected_id, p.source_run_id, p.source_t
        FROM (\(pairs)) p
        CROSS JOIN LATERAL (SELECT text, messages FROM optune.prompts WHERE id = p.prompt_id LIMIT 1) q
        CROSS JOIN LATERAL (
            SELECT min(id) FILTER (WHERE sample_index = p.chosen_sample) AS chosen_id,
                   (array_agg(tokens) FILTER (WHERE sample_index = p.chosen_sample))[1] AS chosen_tokens,
                   min(id) FILTER (WHERE sample_index = p.rejected_sample) AS rejected_id,
                   (array_agg(tokens) FILTER (WHERE sample_index = p.rejected_sample))[1] AS rejected_tokens
            FROM optune.responses
            WHERE (run_id, t, prompt_id) = (p.source_run_id, p.source_t, p.prompt_id)
              AND sample_index IN (p.chosen_sample, p.rejected_sample)) s
        """
    }

    /// Runs a D_t read without Memoize: the planner caches each pair's lookups expecting repeats,
    /// but every pair has its own prompt and responses, so the cache only copied rows (a fifth of
    /// the read's time at 4096 pairs a page).
    private func readTrainingPairs(_ statement: String, _ parameters: [(any PostgresEncodable)?]) async throws -> QueryResult {
        try await connection.transaction { c in
            try c.simpleQuery("SET LOCAL enable_memoize = off")
            return try c.query(statement, parameters)
        }
    }

    /// The pairs of D_t for the prompt ids $3, one `pairs_pkey` lookup each.
    private static let trainingPairsByPromptStatement = trainingPairStatement(
        pairs: """
            SELECT prompt_id, source_run_id, source_t, chosen_sample, rejected_sample, weight, zero_gap FROM optune.pairs
            WHERE run_id = $1 AND t = $2 AND prompt_id = ANY($3::int8[])
            """)

    /// All of D_t with prompts and decoded token ids, in prompt order (read in pages, returned
    /// whole). A blob that fails to decode throws ``CorruptTokenBlob`` naming the response. A
    /// trainer should read pages instead: ``forEachTrainingPairPage(run:t:pageSize:_:)`` and
    /// ``trainingPairs(run:t:prompts:)`` keep memory bounded by a page.
    public func trainingPairs(run: Int64, t: Int) async throws -> [TrainingPairRecord] {
        var all: [TrainingPairRecord] = []
        try await forEachTrainingPairPage(run: run, t: t) { all += $0 }
        return all
    }

    /// The prompt ids of D_t's pairs in prompt order, without the zero-gap pairs when
    /// `skipZeroGap` (read in keyset pages of `pageSize`; no token data).
    public func trainingPairKeys(run: Int64, t: Int, skipZeroGap: Bool, pageSize: Int = 65_536) async throws -> TrainingPairKeys {
        let t32 = try int32Iteration(t)
        var keys = TrainingPairKeys(prompts: [], skippedZeroGap: 0)
        try await forEachKeysetPage(
            after: Int64.min, pageSize: pageSize,
            fetch: { after in
                try await connection.query(
                    """
                    SELECT p.prompt_id, p.zero_gap FROM optune.pairs p
                    WHERE p.run_id = $1 AND p.t = $2 AND p.prompt_id > $3
                    ORDER BY p.prompt_id
                    LIMIT $4
                    """, [run, t32, after, Int64(pageSize)])
            },
            decode: { page in
                try page.map { row in (prompt: try row.decode(0, as: Int64.self), zeroGap: try row.decode(1, as: Bool.self)) }
            },
            key: \.prompt
        ) { page in
            for pair in page {
                if skipZeroGap && pair.zeroGap {
                    keys.skippedZeroGap += 1
                } else {
                    keys.prompts.append(pair.prompt)
                }
            }
        }
        return keys
    }

    /// The pairs of D_t for prompts `prompts`, in the order of `prompts` (a page of a shuffled
    /// order: one index lookup per pair). Throws if a prompt has no pair in D_t. A blob that
    /// fails to decode throws ``CorruptTokenBlob`` naming the response.
    public func trainingPairs(run: Int64, t: Int, prompts: [Int64]) async throws -> [TrainingPairRecord] {
        let t32 = try int32Iteration(t)
        guard !prompts.isEmpty else { return [] }
        let rows = try await readTrainingPairs(Self.trainingPairsByPromptStatement, [run, t32, prompts])
        var byPrompt: [Int64: TrainingPairRecord] = [:]
        byPrompt.reserveCapacity(rows.count)
        for record in try Self.decodeTrainingPairs(rows) { byPrompt[record.prompt.id] = record }
        return try prompts.map { prompt in
            guard let record = byPrompt[prompt] else {
                throw BufferError("D_\(t) of run \(run) has no pair for prompt \(prompt) (it changed while being read)")
            }
            return record
        }
    }

    /// Decodes rows of ``trainingPairStatement(pairs:)``.
    private static func decodeTrainingPairs(_ rows: QueryResult) throws -> [TrainingPairRecord] {
        var decoder = TokenBlobDecoder()
        var records: [TrainingPairRecord] = []
        records.reserveCapacity(rows.count)
        for row in rows {
            let prompt: Int64 = try row.decode(0)
            let (sourceRun, sourceT): (Int64, Int) = (try row.decode(9), try row.decode(10))
            guard let chosenID = try row.decode(7, as: Int64?.self), let rejectedID = try row.decode(8, as: Int64?.self) else {
                throw BufferError(
                    "pair for prompt \(prompt) names a response that does not exist at run \(sourceRun), t \(sourceT)")
            }
            let chosen = try row.withRawBytes(3) { blob in
                try decoder.decode(blob, response: chosenID, prompt: prompt, run: sourceRun, t: sourceT, column: .responseTokens)
            }
            let rejected = try row.withRawBytes(4) { blob in
                try decoder.decode(blob, response: rejectedID, prompt: prompt, run: sourceRun, t: sourceT, column: .responseTokens)
            }
            guard let chosen, let rejected else {
                throw BufferError("pair for prompt \(prompt) has a response without token ids; the built-in trainer needs them")
            }
            records.append(
                TrainingPairRecord(
                    prompt: StoredPrompt(id: prompt, text: try row.decode(1), messagesJSON: try row.decode(2)),
                    chosen: chosen, rejected: rejected, weight: try row.decode(5), zeroGap: try row.decode(6)))
        }
        return records
    }
}
