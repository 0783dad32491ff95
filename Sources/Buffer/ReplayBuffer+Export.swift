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

extension ReplayBuffer {
    /// The number of pairs in D_t of `run`.
    public func pairCount(run: Int64, t: Int) async throws -> Int {
        try await connection.query("SELECT count(*) FROM optune.pairs WHERE run_id = $1 AND t = $2", [run, Int32(t)])[0].decode(0)
    }

    /// Calls `body` with the pairs of D_t and their prompts and responses, page by page in
    /// prompt order; memory stays bounded by `pageSize`.
    public func forEachExportPage(run: Int64, t: Int, pageSize: Int = 5_000, _ body: ([ExportRecord]) async throws -> Void) async throws {
        var after = Int64.min
        var decoder = TokenBlobDecoder()
        while true {
            let page = try await connection.query(
                """
                SELECT p.prompt_id, q.text, q.messages::text, coalesce(q.tokens, c.prompt_tokens),
                       c.id, c.policy_id, c.text, c.tokens, p.r_w,
                       r.id, r.policy_id, r.text, r.tokens, p.r_l,
                       p.gap, p.weight, p.origin, p.source_run_id, p.source_t
                FROM optune.pairs p
                JOIN optune.prompts q ON q.id = p.prompt_id
                JOIN optune.responses c ON (c.run_id, c.t, c.prompt_id, c.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.chosen_sample)
                JOIN optune.responses r ON (r.run_id, r.t, r.prompt_id, r.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.rejected_sample)
                WHERE p.run_id = $1 AND p.t = $2 AND p.prompt_id > $3
                ORDER BY p.prompt_id
                LIMIT $4
                """, [run, Int32(t), after, Int64(pageSize)])
            guard !page.isEmpty else { return }
            let records = try page.map { row in
                func tokens(_ column: Int) throws -> [UInt32]? {
                    try row.withRawBytes(column) { blob in try blob.map { try decoder.decode($0) } }
                }
                return ExportRecord(
                    run: run, t: t, prompt: try row.decode(0), promptText: try row.decode(1), promptMessagesJSON: try row.decode(2),
                    promptTokens: try tokens(3),
                    chosen: .init(response: try row.decode(4), policy: try row.decode(5), text: try row.decode(6), tokens: try tokens(7), reward: try row.decode(8)),
                    rejected: .init(response: try row.decode(9), policy: try row.decode(10), text: try row.decode(11), tokens: try tokens(12), reward: try row.decode(13)),
                    gap: try row.decode(14), weight: try row.decode(15), origin: try row.decode(16), sourceRun: try row.decode(17),
                    sourceT: try row.decode(18))
            }
            after = records[records.count - 1].prompt
            try await body(records)
            if page.count < pageSize { return }
        }
    }

    /// Records a finished export in `optune.exports`; returns its id.
    @discardableResult
    public func recordExport(run: Int64, t: Int, format: String, path: String, rows: Int, bytes: Int, sha256: String) async throws -> Int64 {
        try await connection.query(
            """
            INSERT INTO optune.exports (run_id, t, format, path, rows, bytes, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
            """, [run, Int32(t), format, path, Int64(rows), Int64(bytes), sha256])[0].decode(0)
    }
}
