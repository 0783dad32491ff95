import Postgres

/// Imports JSONL prompt files (plain or gzip, or `-` for standard input) into a named prompt
/// set, streaming in batches.
///
/// Memory is bounded by one batch and `maxLineBytes`. Without `strict`, every batch commits
/// on its own and malformed lines are reported (`FILE:LINE: reason`) and skipped, the rest of
/// the file is imported; with `strict`, the whole import is one transaction that is rolled
/// back if any line is malformed, so nothing is stored. The set is created with the first
/// prompt stored into it: an import that stores nothing leaves no (empty) set behind.
public struct PromptImporter: Sendable {
    public var setName: String
    public var defaultSplit: PromptSplit = .train
    public var strict = false
    public var batchSize = 2_000
    /// Which fields hold the prompt, and whether string prompts become a user message.
    public var options = PromptLineOptions()
    /// Lines longer than this are skipped and reported (default 16 MiB).
    public var maxLineBytes = LineReader.defaultMaxLineBytes

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
        /// Malformed, null, NUL-carrying or oversized lines, not stored.
        public var rejected = 0
        /// Blank lines, ignored.
        public var blank = 0
        /// Whether the import was rolled back (strict mode with malformed lines).
        public var rolledBack = false

        /// Prompts newly added to the set.
        public var imported: Int { stored + linked }
        /// Lines that held a usable prompt (new to the set or not).
        public var accepted: Int { imported + duplicates }
    }

    /// Progress of an import, reported after every batch.
    public struct Progress: Sendable {
        public var file: String
        public var bytesRead: Int64
        public var bytesTotal: Int64?
        public var linesRead: Int
    }

    /// Imports `files` in order (`-` is standard input, at most once). `rejected` is called
    /// for each rejected line; `progress` after each batch. Throws `LineReaderError` on an
    /// input that cannot be read (a directory, no permission, corrupt gzip) and database
    /// errors (the current batch, or in strict mode the whole import, is then rolled back).
    public func run(
        files: [String], buffer: ReplayBuffer,
        rejected: @Sendable (PromptLineError) -> Void = { _ in },
        progress: @Sendable (Progress) -> Void = { _ in }
    ) async throws -> Summary {
        let inputs = files.map { LineReader(path: $0, maxLineBytes: maxLineBytes) }
        if inputs.filter(\.isStandardInput).count > 1 {
            throw LineReaderError(input: "-", reason: "standard input can be given only once")
        }
        for input in inputs { try input.validate() }
        let connection = buffer.connection
        var summary = Summary()
        let setName = setName
        let options = options
        let limit = maxLineBytes
        if strict { try await connection.simpleQuery("BEGIN") }
        do {
            for input in inputs {
                let reader = try input.open()
                let file = input.displayName
                let total = input.byteCount
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
                        outcome = try await Self.store(records, setName: setName, split: defaultSplit, source: file, on: connection)
                    } else {
                        outcome = try await buffer.storePrompts(records, inSetNamed: setName, defaultSplit: defaultSplit, source: file)
                    }
                    summary.stored += outcome.stored
                    summary.linked += outcome.linked
                    summary.duplicates += outcome.duplicates
                    progress(Progress(file: file, bytesRead: consumed, bytesTotal: total, linesRead: lines))
                }
                while let line = try reader.next() {
                    lines = line.number
                    consumed = line.consumed
                    switch line.content {
                    case .tooLong(let byteCount):
                        summary.rejected += 1
                        rejected(
                            PromptLineError(
                                file: file, line: line.number,
                                reason: "line of \(byteCount) bytes is longer than the limit of \(limit) bytes; skipped"))
                    case .bytes(let bytes):
                        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                            summary.blank += 1
                            continue
                        }
                        do {
                            batch.append(try PromptLineParser.parse(bytes, file: file, line: line.number, options: options))
                        } catch {
                            summary.rejected += 1
                            rejected(error)
                        }
                    }
                    if batch.count >= batchSize { try await flush() }
                }
                try await flush()
                progress(Progress(file: file, bytesRead: consumed, bytesTotal: total, linesRead: lines))
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
        _ records: [PromptRecord], setName: String, split: PromptSplit, source: String, on connection: Connection
    ) async throws -> PromptBatchOutcome {
        try await connection.run { c in
            let setID = try ReplayBuffer.promptSet(named: setName, on: c)
            return try ReplayBuffer.storePrompts(records, inSet: setID, defaultSplit: split, source: source, on: c)
        }
    }
}
