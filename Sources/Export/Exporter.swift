import Buffer
import Postgres

/// Which pairs of D_t an export writes.
public struct ExportOptions: Sendable, Hashable {
    /// What to do with pairs whose chosen and rejected rewards are equal.
    public enum ZeroGap: String, Sendable, Hashable {
        /// Follow the run's configuration (`skip_zero_gap`, as its trainer does).
        case followRun
        /// Write them.
        case keep
        /// Leave them out.
        case skip
    }

    public var zeroGap: ZeroGap
    /// Leave out pairs whose gap r_w − r_l is below this (finite, ≥ 0; 0 keeps every gap).
    public var minGap: Double

    public init(zeroGap: ZeroGap = .followRun, minGap: Double = 0) {
        self.zeroGap = zeroGap
        self.minGap = minGap
    }
}

/// What an export wrote.
public typealias ExportSummary = Exporter.Summary

/// Streams D_t of a run to a file, device or standard output in one format and records the
/// export in `optune.exports` — only once the output is complete.
///
/// The one entry point for the CLI and for daemons (e.g. a trainer that hands D_t to an external
/// command): ``export(buffer:run:t:path:progress:)``, or the static
/// ``export(buffer:run:t:format:to:options:)``.
public struct Exporter: Sendable {
    public var format: ExportFormat
    public var options: ExportOptions
    /// Pairs fetched per page (tests use small pages to cross page boundaries).
    var pageSize = 5_000

    public init(format: ExportFormat, options: ExportOptions = ExportOptions()) {
        self.format = format
        self.options = options
    }

    /// What an export wrote.
    public struct Summary: Sendable, Hashable {
        /// Pairs written (lines).
        public var rows: Int
        /// Bytes of the output as stored (after compression).
        public var bytes: Int
        /// SHA-256 of the output as stored, 64 lowercase hex digits.
        public var sha256: String
        /// The `optune.exports` row.
        public var exportID: Int64
        /// Where it went, as recorded (`(stdout)` for standard output).
        public var path: String
        /// Pairs of D_t the options left out (zero gap or below the minimum gap).
        public var skipped: Int
        /// Whether prompts were written as message lists (TRL's conversational format).
        public var conversational: Bool
    }

    /// Writes the pairs of (`run`, `t`) in `format` to `path` — see
    /// ``export(buffer:run:t:path:progress:)``.
    public static func export(
        buffer: ReplayBuffer, run: Int64, t: Int, format: ExportFormat, to path: String, options: ExportOptions = ExportOptions()
    ) async throws -> Summary {
        try await Exporter(format: format, options: options).export(buffer: buffer, run: run, t: t, path: path)
    }

    /// Writes every pair of (`run`, `t`) that the options keep to `path` (`-` for standard
    /// output; `.gz` compresses), then records the export. A regular file is written beside the
    /// target and renamed into place, so a failed export leaves the previous file as it was and
    /// no `optune.exports` row. `progress` gets the rows written so far after each page.
    ///
    /// Throws ``ExportError`` (bad options, a write/flush/close/rename failure, a response without
    /// the text or ids the format needs), ``CorruptTokenBlob`` (naming the response), or a
    /// database error.
    public func export(
        buffer: ReplayBuffer, run: Int64, t: Int, path: String, progress: (Int) -> Void = { _ in }
    ) async throws -> Summary {
        guard options.minGap.isFinite, options.minGap >= 0 else {
            throw ExportError("the minimum gap must be a finite number ≥ 0, got \(options.minGap)")
        }
        guard try await buffer.iterationState(run: run, t: t) != nil else {
            throw ExportError("run \(run) has no iteration \(t)")
        }
        let filter = try await pairFilter(buffer: buffer, run: run)
        let total = try await buffer.pairCount(run: run, t: t)
        let conversational = format == .tokens ? false : try await buffer.promptSetHasMessages(run: run)
        let content: ExportContent = format == .tokens ? .tokens : .text
        let sink = try OutputSink(path: path)
        let completed: OutputSink.Completed
        var rows = 0
        // Three stages overlap: the buffer fetches page k + 1 while page k is encoded (its two
        // halves on two tasks) into reused byte buffers and the writer hashes and writes page k − 1.
        let writer = PageWriter(sink: sink)
        let secondHalf = PageHalfEncoder()
        do {
            var scratch = ExportLine.Scratch()
            try await buffer.forEachExportRowPage(run: run, t: t, filter: filter, content: content, pageSize: pageSize) { page in
                let middle = page.count / 2
                async let encoded = secondHalf.encode(page, rows: middle..<page.count, format: format, conversational: conversational)
                for row in 0..<middle {
                    try ExportLine.append(page, row, format: format, conversational: conversational, scratch: &scratch, to: &writer.lines)
                    writer.lines.ascii("\n")
                }
                try await encoded.lines.withBytes { writer.lines.raw($0) }
                try await writer.submit()
                rows += page.count
                progress(rows)
            }
            try await writer.finish()
            completed = try sink.finish()
        } catch {
            await writer.abandon()
            sink.abandon()
            throw error
        }
        // The row and the rename go together: the row commits only if the file is in place.
        let recordedPath = path == "-" ? "(stdout)" : path
        let (formatName, rowCount) = (format.rawValue, rows)
        let id: Int64
        do {
            id = try await buffer.connection.transaction { c in
                let id = try ReplayBuffer.recordExport(
                    run: run, t: t, format: formatName, path: recordedPath, rows: rowCount, bytes: completed.bytes,
                    sha256: completed.sha256, on: c)
                try completed.commit()
                return id
            }
        } catch {
            completed.discard()  // a no-op once renamed
            throw error
        }
        return Summary(
            rows: rows, bytes: completed.bytes, sha256: completed.sha256, exportID: id, path: recordedPath,
            skipped: max(0, total - rows), conversational: conversational)
    }

    /// The pair filter the options ask for, reading the run's `skip_zero_gap` when they follow it.
    public func pairFilter(buffer: ReplayBuffer, run: Int64) async throws -> PairFilter {
        let skipZeroGap: Bool
        switch options.zeroGap {
        case .keep: skipZeroGap = false
        case .skip: skipZeroGap = true
        case .followRun: skipZeroGap = try await buffer.runRecord(run).config.skipZeroGap
        }
        return PairFilter(skipZeroGap: skipZeroGap, minGap: options.minGap)
    }
}
