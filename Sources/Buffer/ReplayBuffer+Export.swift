import Postgres
import TokenCodec

/// One pair of D_t with everything an export writes.
public struct ExportRecord: Sendable, Hashable {
    public struct Side: Sendable, Hashable {
        public var response: Int64
        public var policy: Int64
        public var text: String?
        public var tokens: [UInt32]?
        public var reward: Double
    }

    public var run: Int64
    public var t: Int
    public var prompt: Int64
    public var promptText: String?
    public var promptMessagesJSON: String?
    /// The prompt's token ids, from the prompt row or as the generator recorded them.
    public var promptTokens: [UInt32]?
    public var chosen: Side
    public var rejected: Side
    public var gap: Double
    public var weight: Double
    public var origin: String
    /// The (run, t) whose generation produced both responses (another run's for a fork's reused pairs).
    public var sourceRun: Int64
    public var sourceT: Int
}

/// Which pairs of D_t an export keeps.
public struct PairFilter: Sendable, Hashable {
    /// Leave out pairs whose chosen and rejected rewards are equal (`pairs.zero_gap`).
    public var skipZeroGap: Bool
    /// Keep only pairs with gap = r_w − r_l ≥ `minGap` (0 keeps every pair; gaps are never negative).
    public var minGap: Double

    public init(skipZeroGap: Bool = false, minGap: Double = 0) {
        self.skipZeroGap = skipZeroGap
        self.minGap = minGap
    }

    /// Every pair.
    public static let all = PairFilter()
}

/// What an export page reads besides ids and numbers; leaving one out skips fetching and
/// decompressing those columns.
public struct ExportContent: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Prompt text/messages and response text.
    public static let text = ExportContent(rawValue: 1)
    /// Prompt and response token ids (blobs, decoded).
    public static let tokens = ExportContent(rawValue: 2)
    public static let all: ExportContent = [.text, .tokens]
}

extension ReplayBuffer {
    /// The number of pairs in D_t of `run` that `filter` keeps.
    public func pairCount(run: Int64, t: Int, filter: PairFilter = .all) async throws -> Int {
        try await connection.query(
            """
            SELECT count(*) FROM optune.pairs p
            WHERE p.run_id = $1 AND p.t = $2 AND (NOT $3 OR NOT p.zero_gap) AND p.gap >= $4
            """, [run, try int32Iteration(t), filter.skipZeroGap, filter.minGap])[0].decode(0)
    }

    /// The state of iteration (`run`, `t`), or nil if the run has no such iteration.
    public func iterationState(run: Int64, t: Int) async throws -> IterationState? {
        guard let t32 = Int32(exactly: t) else { return nil }
        return try await connection.query("SELECT state FROM optune.iterations WHERE run_id = $1 AND t = $2", [run, t32])
            .first.map { IterationState(rawValue: try $0.decode(0)) ?? .failed }
    }

    /// Whether the run's prompt set holds any prompt stored as messages. An export of such a run
    /// writes every prompt as a message list, so each line has one schema.
    public func promptSetHasMessages(run: Int64) async throws -> Bool {
        try await connection.query(
            """
            SELECT EXISTS (SELECT 1 FROM optune.prompt_set_members m JOIN optune.prompts q ON q.id = m.prompt_id
                           WHERE m.set_id = (SELECT prompt_set_id FROM optune.runs WHERE id = $1) AND q.messages IS NOT NULL)
            """, [run])[0].decode(0)
    }

    /// Calls `body` with the pairs of D_t that `filter` keeps, with their prompts and responses,
    /// page by page in prompt order; memory stays bounded by `pageSize`. `content` says whether
    /// to read texts, token ids or both. A blob that fails to decode throws ``CorruptTokenBlob``.
    public func forEachExportPage(
        run: Int64, t: Int, filter: PairFilter = .all, content: ExportContent = .all, pageSize: Int = 5_000,
        _ body: ([ExportRecord]) async throws -> Void
    ) async throws {
        let t32 = try int32Iteration(t)
        var decoder = TokenBlobDecoder()
        let text = content.contains(.text)
        let tokens = content.contains(.tokens)
        try await forEachKeysetPage(
            after: Int64.min, pageSize: pageSize,
            fetch: { after in
                try await connection.query(
                    """
                    SELECT p.prompt_id, CASE WHEN $5 THEN q.text END, CASE WHEN $5 THEN q.messages::text END,
                           CASE WHEN $6 THEN q.tokens END, CASE WHEN $6 AND q.tokens IS NULL THEN c.prompt_tokens END,
                           c.id, c.policy_id, CASE WHEN $5 THEN c.text END, CASE WHEN $6 THEN c.tokens END, p.r_w,
                           r.id, r.policy_id, CASE WHEN $5 THEN r.text END, CASE WHEN $6 THEN r.tokens END, p.r_l,
                           p.gap, p.weight, p.origin, p.source_run_id, p.source_t
                    FROM optune.pairs p
                    JOIN optune.prompts q ON q.id = p.prompt_id
                    JOIN optune.responses c ON (c.run_id, c.t, c.prompt_id, c.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.chosen_sample)
                    JOIN optune.responses r ON (r.run_id, r.t, r.prompt_id, r.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.rejected_sample)
                    WHERE p.run_id = $1 AND p.t = $2 AND p.prompt_id > $3 AND (NOT $7 OR NOT p.zero_gap) AND p.gap >= $8
                    ORDER BY p.prompt_id
                    LIMIT $4
                    """, [run, t32, after, Int64(pageSize), text, tokens, filter.skipZeroGap, filter.minGap])
            },
            decode: { page in
                var records: [ExportRecord] = []
                records.reserveCapacity(page.count)
                for row in page {
                    let prompt: Int64 = try row.decode(0)
                    let chosenID: Int64 = try row.decode(5)
                    let rejectedID: Int64 = try row.decode(10)
                    let sourceRun: Int64 = try row.decode(18)
                    let sourceT: Int = try row.decode(19)
                    let promptTokens =
                        try row.withRawBytes(3) { blob in
                            try decoder.decode(blob, response: nil, prompt: prompt, run: run, t: t, column: .promptTokens)
                        }
                        ?? row.withRawBytes(4) { blob in
                            try decoder.decode(
                                blob, response: chosenID, prompt: prompt, run: sourceRun, t: sourceT, column: .responsePromptTokens)
                        }
                    let chosenTokens = try row.withRawBytes(8) { blob in
                        try decoder.decode(blob, response: chosenID, prompt: prompt, run: sourceRun, t: sourceT, column: .responseTokens)
                    }
                    let rejectedTokens = try row.withRawBytes(13) { blob in
                        try decoder.decode(blob, response: rejectedID, prompt: prompt, run: sourceRun, t: sourceT, column: .responseTokens)
                    }
                    records.append(
                        ExportRecord(
                            run: run, t: t, prompt: prompt, promptText: try row.decode(1), promptMessagesJSON: try row.decode(2),
                            promptTokens: promptTokens,
                            chosen: .init(
                                response: chosenID, policy: try row.decode(6), text: try row.decode(7), tokens: chosenTokens,
                                reward: try row.decode(9)),
                            rejected: .init(
                                response: rejectedID, policy: try row.decode(11), text: try row.decode(12), tokens: rejectedTokens,
                                reward: try row.decode(14)),
                            gap: try row.decode(15), weight: try row.decode(16), origin: try row.decode(17), sourceRun: sourceRun,
                            sourceT: sourceT))
                }
                return records
            },
            key: \.prompt, body)
    }

    /// Records a finished export in `optune.exports`; returns its id.
    @discardableResult
    public func recordExport(run: Int64, t: Int, format: String, path: String, rows: Int, bytes: Int, sha256: String) async throws -> Int64
    {
        try await connection.run { c in
            try Self.recordExport(run: run, t: t, format: format, path: path, rows: rows, bytes: bytes, sha256: sha256, on: c)
        }
    }

    /// Records a finished export in `optune.exports` on `c` (inside the caller's transaction, so
    /// the row can commit together with putting the file in place); returns its id.
    public static func recordExport(
        run: Int64, t: Int, format: String, path: String, rows: Int, bytes: Int, sha256: String, on c: isolated Connection
    ) throws -> Int64 {
        try c.query(
            """
            INSERT INTO optune.exports (run_id, t, format, path, rows, bytes, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
            """, [run, try int32Iteration(t), format, path, Int64(rows), Int64(bytes), sha256])[0].decode(0)
    }
}
