import Postgres

/// Imports JSONL prompt files into a named prompt set, streaming in batches.
///
/// Memory is bounded by one batch and the longest line. Without `strict`, every batch commits
/// on its own and malformed lines are reported and skipped; with `strict`, the whole import is
/// one transaction that is rolled back if any line is malformed, so nothing is stored.
public struct PromptImporter: Sendable {
    public var setName: String
    public var defaultSplit: PromptSplit = .train
    public var strict = false
    public var batchSize = 2_000

    public init(setName: String) {
        self.setName = setName
    }

    /// Counts for a finished (or rolled-back) import.
    public struct Summary: Sendable, Hashable {
        /// New prompts stored in the buffer.
        public var stored = 0
        /// Prompts already in the buffer (e.g. in another set) that joined this set.
        public var linked = 0
        /// Lines whose prompt was already in this set or earlier in the input.
        public var duplicates = 0
        /// Malformed lines, not stored.
        public var rejected = 0
        /// Blank lines, ignored.
        public var blank = 0
        /// Whether the import was rolled back (strict mode with malformed lines).
        public var rolledBack = false

        /// Prompts newly added to the set.
        public var imported: Int { stored + linked }
    }

    /// Progress of an import, reported after every batch.
    public struct Progress: Sendable {
        public var file: String
        public var bytesRead: Int64
        public var bytesTotal: Int64?
        public var linesRead: Int
    }

    /// Imports `files` in order. `rejected` is called for each malformed line; `progress` after
    /// each batch. Throws on an unreadable file or a database error (the current batch, or in
    /// strict mode the whole import, is then rolled back).
    public func run(
        files: [String], buffer: ReplayBuffer,
        rejected: @Sendable (PromptLineError) -> Void = { _ in },
        progress: @Sendable (Progress) -> Void = { _ in }
    ) async throws -> Summary {
        for file in files { try LineReader(path: file).validate() }
        let connection = buffer.connection
        var summary = Summary()
        let setName = setName
        if strict { try await connection.simpleQuery("BEGIN") }
        do {
            let setID = try await connection.run { c in try ReplayBuffer.promptSet(named: setName, on: c) }
            for file in files {
                let reader = LineReader(path: file)
                var batch: [PromptRecord] = []
                var lines = 0
                var consumed: Int64 = 0
                func flush() async throws {
                    guard !batch.isEmpty else { return }
                    let records = batch
                    batch.removeAll(keepingCapacity: true)
                    if summary.rejected > 0 && strict { return }  // will roll back; skip the work
                    let outcome: PromptBatchOutcome
                    if strict {
                        outcome = try await Self.store(records, setID: setID, split: defaultSplit, source: file, on: connection)
                    } else {
                        outcome = try await buffer.storePrompts(records, inSet: setID, defaultSplit: defaultSplit, source: file)
                    }
                    summary.stored += outcome.stored
                    summary.linked += outcome.linked
                    summary.duplicates += outcome.duplicates
                    progress(Progress(file: file, bytesRead: consumed, bytesTotal: reader.byteCount, linesRead: lines))
                }
                for line in reader {
                    lines = line.number
                    consumed = line.consumed
                    if line.bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                        summary.blank += 1
                        continue
                    }
                    do {
                        batch.append(try PromptLineParser.parse(line.bytes, file: file, line: line.number))
                    } catch {
                        summary.rejected += 1
                        rejected(error)
                    }
                    if batch.count >= batchSize { try await flush() }
                }
                try await flush()
                progress(Progress(file: file, bytesRead: consumed, bytesTotal: reader.byteCount, linesRead: lines))
            }
        } catch {
            if strict { try? await connection.simpleQuery("ROLLBACK") }
            throw error
        }
        if strict {
            if summary.rejected > 0 {
                try await connection.simpleQuery("ROLLBACK")
                summary.rolledBack = true
                summary.stored = 0
                summary.linked = 0
                summary.duplicates = 0
            } else {
                try await connection.simpleQuery("COMMIT")
            }
        }
        return summary
    }

    private static func store(
        _ records: [PromptRecord], setID: Int64, split: PromptSplit, source: String, on connection: Connection
    ) async throws -> PromptBatchOutcome {
        try await connection.run { c in
            try ReplayBuffer.storePrompts(records, inSet: setID, defaultSplit: split, source: source, on: c)
        }
    }
}
