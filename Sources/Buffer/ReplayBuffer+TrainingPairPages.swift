import Postgres
import TokenCodec

/// A pair of D_t as `optune.pairs` holds it: where its two samples are, not their tokens.
struct PairKey {
    var prompt: Int64
    var sourceRun: Int64
    var sourceT: Int
    var chosenSample: Int
    var rejectedSample: Int
    var weight: Double
    var zeroGap: Bool

    /// The iteration whose responses the pair names.
    struct Source: Hashable {
        var run: Int64
        var t: Int
    }

    var source: Source { Source(run: sourceRun, t: sourceT) }
}

extension ReplayBuffer {
    /// Calls `body` with D_t's pairs, prompts and decoded token ids page by page in prompt order.
    /// Each page is one range of `pairs_pkey` (`prompt_id > last key`), so a page costs the same
    /// wherever it lies; memory stays bounded by `pageSize` pairs. A blob that fails to decode
    /// throws ``CorruptTokenBlob`` naming the response.
    ///
    /// A page's pairs name prompts in one stretch of ids, and their responses lie in one stretch
    /// of `responses_sample_unique` per source iteration. Read as index ranges, the prompts and
    /// responses of a 4096-pair page cost a third of one lookup per pair; a sparse page (pairs
    /// of a prompt set spread thin among other prompts) keeps the lookups. The prompts of a dense
    /// page are taken from `promptCache` when it holds them.
    public func forEachTrainingPairPage(
        run: Int64, t: Int, pageSize: Int = trainingPageSize, promptCache: PromptCache? = nil,
        _ body: ([TrainingPairRecord]) async throws -> Void
    ) async throws {
        guard pageSize > 0 else { throw BufferError("page size must be positive, got \(pageSize)") }
        let t32 = try int32Iteration(t)
        try await forEachKeysetPage(
            after: Int64.min, pageSize: pageSize,
            fetch: { after in
                try await connection.query(
                    """
                    SELECT prompt_id, source_run_id, source_t, chosen_sample, rejected_sample, weight, zero_gap FROM optune.pairs
                    WHERE run_id = $1 AND t = $2 AND prompt_id > $3 ORDER BY prompt_id LIMIT $4
                    """, [run, t32, after, Int64(pageSize)])
            },
            decode: { page in
                try page.map { row in
                    PairKey(
                        prompt: try row.decode(0), sourceRun: try row.decode(1), sourceT: try row.decode(2),
                        chosenSample: try row.decode(3), rejectedSample: try row.decode(4), weight: try row.decode(5),
                        zeroGap: try row.decode(6))
                }
            },
            key: \.prompt
        ) { keys in
            try await body(try await trainingPairs(run: run, t: t, keys: keys, promptCache: promptCache))
        }
    }

    /// The records of `keys` (a page of D_t, in prompt order), in their order.
    private func trainingPairs(run: Int64, t: Int, keys: [PairKey], promptCache: PromptCache?) async throws -> [TrainingPairRecord] {
        guard DenseIDRange(keys.map(\.prompt)) != nil else {
            return try await trainingPairs(run: run, t: t, prompts: keys.map(\.prompt))
        }
        let prompts = try await prompts(keys.map(\.prompt), cache: promptCache)
        var samples = [PairSamples](repeating: PairSamples(), count: keys.count)
        for positions in Dictionary(grouping: keys.indices, by: { keys[$0].source }).values {
            try await readPairSamples(of: positions.sorted(), in: keys, into: &samples)
        }
        return try zip(keys, samples).map { key, found in
            guard let prompt = prompts[key.prompt] else {
                throw BufferError("pair for prompt \(key.prompt) of D_\(t) (run \(run)) names a prompt that does not exist")
            }
            guard let chosen = found.chosen, let rejected = found.rejected else {
                throw BufferError(
                    "pair for prompt \(key.prompt) names a response that does not exist at run \(key.sourceRun), t \(key.sourceT)")
            }
            guard let chosenTokens = chosen, let rejectedTokens = rejected else {
                throw BufferError("pair for prompt \(key.prompt) has a response without token ids; the built-in trainer needs them")
            }
            return TrainingPairRecord(
                prompt: prompt, chosen: chosenTokens, rejected: rejectedTokens, weight: key.weight, zeroGap: key.zeroGap)
        }
    }

    /// A pair's two responses as read: nil until found; found, their token ids (nil for a
    /// response stored without them).
    private struct PairSamples {
        var chosen: [UInt32]??
        var rejected: [UInt32]??
    }

    /// Reads the chosen and rejected responses of the pairs at `positions` of `keys` (ascending,
    /// so in prompt order, all of one source iteration) into `samples`, decoded. The rows come in
    /// (prompt, sample) order and are matched to the pairs in one pass; samples of those prompts
    /// that no pair names are skipped undecoded.
    private func readPairSamples(of positions: [Int], in keys: [PairKey], into samples: inout [PairSamples]) async throws {
        guard let first = positions.first else { return }
        let source = keys[first].source
        let prompts = positions.map { keys[$0].prompt }
        let sampleIndexes = Array(
            Set(
                positions.flatMap {
                    [Int32(truncatingIfNeeded: keys[$0].chosenSample), Int32(truncatingIfNeeded: keys[$0].rejectedSample)]
                }))
        let t32 = try int32Iteration(source.t)
        // As in responses(run:t:prompts:): a dense stretch is one index range filtered by the
        // lists (`+ 0` keeps them out of the index condition), a sparse one a lookup per prompt.
        let rows =
            if let range = DenseIDRange(prompts) {
                try await connection.query(
                    """
                    SELECT r.prompt_id, r.sample_index, r.id, r.tokens FROM optune.responses r
                    WHERE r.run_id = $1 AND r.t = $2 AND r.prompt_id BETWEEN $5 AND $6
                      AND r.prompt_id + 0 = ANY($3::int8[]) AND r.sample_index + 0 = ANY($4::int4[])
                    ORDER BY r.prompt_id, r.sample_index
                    """, [source.run, t32, prompts, sampleIndexes, range.lower, range.upper])
            } else {
                try await connection.query(
                    """
                    SELECT r.prompt_id, r.sample_index, r.id, r.tokens
                    FROM unnest($3::int8[]) AS p(prompt_id)
                    CROSS JOIN LATERAL (
                        SELECT * FROM optune.responses x
                        WHERE x.run_id = $1 AND x.t = $2 AND x.prompt_id = p.prompt_id AND x.sample_index = ANY($4::int4[]) OFFSET 0
                    ) r
                    ORDER BY r.prompt_id, r.sample_index
                    """, [source.run, t32, prompts, sampleIndexes])
            }
        var decoder = TokenBlobDecoder()
        var next = 0
        for row in rows {
            let prompt: Int64 = try row.decode(0)
            while next < positions.count, keys[positions[next]].prompt < prompt { next += 1 }
            guard next < positions.count else { break }
            let position = positions[next]
            let key = keys[position]
            guard key.prompt == prompt else { continue }
            let sample: Int = try row.decode(1)
            guard sample == key.chosenSample || sample == key.rejectedSample else { continue }
            let response: Int64 = try row.decode(2)
            let tokens = try row.withRawBytes(3) { blob in
                try decoder.decode(blob, response: response, prompt: prompt, run: source.run, t: source.t, column: .responseTokens)
            }
            if sample == key.chosenSample { samples[position].chosen = .some(tokens) } else { samples[position].rejected = .some(tokens) }
        }
    }
}
