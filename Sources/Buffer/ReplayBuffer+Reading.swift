import Postgres
import TokenCodec

/// A stored response, with its token ids decoded.
public struct StoredResponse: Sendable, Hashable {
    public var id: Int64
    public var run: Int64
    public var t: Int
    public var prompt: Int64
    public var sampleIndex: Int
    public var purpose: Purpose
    public var policy: Int64
    public var tokenCount: Int
    /// The decoded ids, or nil when the backend stored only text.
    public var tokens: [UInt32]?
    public var text: String?
    public var finishReason: String?
    public var seed: Int64?
}

/// A training pair of D_t.
public struct StoredPair: Sendable, Hashable {
    public var run: Int64
    public var t: Int
    public var prompt: Int64
    public var origin: String
    public var chosenResponse: Int64
    public var rejectedResponse: Int64
    public var chosenReward: Double
    public var rejectedReward: Double
    public var gap: Double
    public var weight: Double
}

extension ReplayBuffer {
    /// Calls `body` with the responses of iteration (`run`, `t`) page by page, in (prompt,
    /// sample) order, decoding token blobs (a blob that fails to decode throws
    /// ``CorruptTokenBlob``). Memory stays bounded by `pageSize`; no transaction
    /// is held between pages (keyset pagination on the natural key).
    public func forEachResponsePage(
        run: Int64, t: Int, pageSize: Int = 10_000, _ body: ([StoredResponse]) async throws -> Void
    ) async throws {
        let t32 = try int32Iteration(t)
        var decoder = TokenBlobDecoder()
        try await forEachKeysetPage(
            after: (prompt: Int64.min, sample: Int32.min), pageSize: pageSize,
            fetch: { after in
                try await connection.query(
                    """
                    SELECT id, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens, text, finish_reason, seed
                    FROM optune.responses
                    WHERE run_id = $1 AND t = $2 AND (prompt_id, sample_index) > ($3, $4)
                    ORDER BY prompt_id, sample_index
                    LIMIT $5
                    """, [run, t32, after.prompt, after.sample, Int64(pageSize)])
            },
            decode: { page in
                try page.map { row in
                    let id: Int64 = try row.decode(0)
                    let prompt: Int64 = try row.decode(1)
                    let tokens = try row.withRawBytes(6) { blob in
                        try decoder.decode(blob, response: id, prompt: prompt, run: run, t: t, column: .responseTokens)
                    }
                    return StoredResponse(
                        id: id, run: run, t: t, prompt: prompt, sampleIndex: try row.decode(2),
                        purpose: try Purpose.decoding(try row.decode(3)), policy: try row.decode(4),
                        tokenCount: try row.decode(5), tokens: tokens, text: try row.decode(7), finishReason: try row.decode(8),
                        seed: try row.decode(9))
                }
            },
            key: { (prompt: $0.prompt, sample: Int32(truncatingIfNeeded: $0.sampleIndex)) },  // read from an integer column
            body)
    }

    /// Every response of iteration (`run`, `t`), decoded. Prefer ``forEachResponsePage`` for
    /// large iterations.
    public func responses(run: Int64, t: Int) async throws -> [StoredResponse] {
        var all: [StoredResponse] = []
        try await forEachResponsePage(run: run, t: t) { all += $0 }
        return all
    }

    /// Calls `body` with the pairs of D_t page by page, in prompt order.
    public func forEachPairPage(run: Int64, t: Int, pageSize: Int = 10_000, _ body: ([StoredPair]) async throws -> Void) async throws {
        let t32 = try int32Iteration(t)
        try await forEachKeysetPage(
            after: Int64.min, pageSize: pageSize,
            fetch: { after in
                try await connection.query(
                    """
                    SELECT p.prompt_id, p.origin, c.id, r.id, p.r_w, p.r_l, p.gap, p.weight
                    FROM optune.pairs p
                    JOIN optune.responses c ON (c.run_id, c.t, c.prompt_id, c.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.chosen_sample)
                    JOIN optune.responses r ON (r.run_id, r.t, r.prompt_id, r.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.rejected_sample)
                    WHERE p.run_id = $1 AND p.t = $2 AND p.prompt_id > $3
                    ORDER BY p.prompt_id
                    LIMIT $4
                    """, [run, t32, after, Int64(pageSize)])
            },
            decode: { page in
                try page.map { row in
                    StoredPair(
                        run: run, t: t, prompt: try row.decode(0), origin: try row.decode(1), chosenResponse: try row.decode(2),
                        rejectedResponse: try row.decode(3), chosenReward: try row.decode(4), rejectedReward: try row.decode(5),
                        gap: try row.decode(6), weight: try row.decode(7))
                }
            },
            key: \.prompt, body)
    }
}
