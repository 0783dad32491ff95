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
        var decoder = TokenBlobDecoder()
        try await forEachExportRowPage(run: run, t: t, filter: filter, content: content, pageSize: pageSize) { rows in
            var records: [ExportRecord] = []
            records.reserveCapacity(rows.count)
            for index in 0..<rows.count { records.append(try rows.record(index, decoder: &decoder)) }
            try await body(records)
        }
    }

    /// Calls `body` with the pairs of D_t that `filter` keeps as raw pages (``ExportRows``, read
    /// column by column without building records), in prompt order, `pageSize` pairs a page.
    ///
    /// The next page is fetched while `body` works on the current one (the connection's queue
    /// runs the statement while the caller encodes), so at most two pages are in memory. Each
    /// page is one index range of `pairs_pkey` after the previous page's last prompt, joined to
    /// its prompts and responses by key, so a page costs the same at the end of a large D_t as
    /// at its start. No transaction is held between pages.
    public func forEachExportRowPage(
        run: Int64, t: Int, filter: PairFilter = .all, content: ExportContent = .all, pageSize: Int = 5_000,
        _ body: (ExportRows) async throws -> Void
    ) async throws {
        let t32 = try int32Iteration(t)
        guard pageSize > 0 else { throw BufferError("export page size must be at least 1, got \(pageSize)") }
        let connection = self.connection
        let limit = Int64(pageSize)
        let (text, tokens) = (content.contains(.text), content.contains(.tokens))
        let fetch: @Sendable (Int64) async throws -> QueryResult = { after in
            try await connection.query(
                Self.exportPageSQL, [run, t32, after, limit, text, tokens, filter.skipZeroGap, filter.minGap])
        }
        // The first page starts just before D_t's first prompt, so that its prompt join too is bounded.
        let first: Int64? = try await connection.query(
            "SELECT min(prompt_id) FROM optune.pairs WHERE run_id = $1 AND t = $2", [run, t32])[0].decode(0)
        guard let first else { return }
        guard first > Int64.min else { throw BufferError("prompt id \(first) in D_\(t) of run \(run) is below every page key") }
        var page = try await fetch(first - 1)
        while page.count > 0 {
            let rows = ExportRows(result: page, run: run, t: t)
            // The last prompt of a full page starts the next one, fetched while `body` runs.
            var next: Task<QueryResult, any Error>?
            if page.count >= pageSize {
                let last = try rows.prompt(page.count - 1)
                next = Task { try await fetch(last) }
            }
            do {
                try await body(rows)
            } catch {
                if let next {
                    next.cancel()
                    _ = try? await next.value  // leave the connection idle
                }
                throw error
            }
            guard let next else { return }
            page = try await next.value
        }
    }

    /// One page of D_t: the pairs after `$3` (a prompt id) as an index range of `pairs_pkey`,
    /// then their prompt and both responses by key. The prompt join is bounded below by `$3` too,
    /// so a merge join over `prompts_pkey` starts at the page instead of at the table's first
    /// prompt; the responses are index probes of `responses_sample_unique` (the LATERAL
    /// subqueries, kept apart by `OFFSET 0`, are nested loops in the page's order). Every pair of
    /// the page is a row (the responses exist by `pairs_chosen_fk`/`pairs_rejected_fk`; a missing
    /// prompt is a row the reader refuses), so a short page means the end of D_t. Columns as
    /// ``ExportRows/Column``; `$5` reads texts, `$6` blobs.
    static let exportPageSQL = """
        SELECT p.prompt_id, CASE WHEN $5 THEN q.text END, CASE WHEN $5 THEN q.messages::text END, CASE WHEN $6 THEN q.tokens END,
               CASE WHEN $6 AND q.tokens IS NULL THEN c.prompt_tokens END,
               c.id, c.policy_id, c.text, c.tokens, p.r_w,
               r.id, r.policy_id, r.text, r.tokens, p.r_l,
               p.gap, p.weight, p.origin, p.source_run_id, p.source_t, q.id IS NOT NULL
        FROM (SELECT p.prompt_id, p.source_run_id, p.source_t, p.chosen_sample, p.rejected_sample, p.r_w, p.r_l, p.gap,
                     p.weight, p.origin
              FROM optune.pairs p
              WHERE p.run_id = $1 AND p.t = $2 AND p.prompt_id > $3 AND (NOT $7 OR NOT p.zero_gap) AND p.gap >= $8
              ORDER BY p.prompt_id
              LIMIT $4) p
        LEFT JOIN optune.prompts q ON q.id = p.prompt_id AND q.id > $3
        CROSS JOIN LATERAL (
            SELECT c.id, c.policy_id, CASE WHEN $5 THEN c.text END AS text, CASE WHEN $6 THEN c.tokens END AS tokens,
                   CASE WHEN $6 THEN c.prompt_tokens END AS prompt_tokens
            FROM optune.responses c
            WHERE (c.run_id, c.t, c.prompt_id, c.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.chosen_sample)
            OFFSET 0) c
        CROSS JOIN LATERAL (
            SELECT r.id, r.policy_id, CASE WHEN $5 THEN r.text END AS text, CASE WHEN $6 THEN r.tokens END AS tokens
            FROM optune.responses r
            WHERE (r.run_id, r.t, r.prompt_id, r.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.rejected_sample)
            OFFSET 0) r
        ORDER BY p.prompt_id
        """

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
