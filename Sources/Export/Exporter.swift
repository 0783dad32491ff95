import Buffer

/// Streams D_t of a run to a sink in one format and records the export.
public struct Exporter: Sendable {
    public var format: ExportFormat

    public init(format: ExportFormat) {
        self.format = format
    }

    /// What an export wrote.
    public struct Summary: Sendable, Hashable {
        public var rows: Int
        public var bytes: Int
        public var sha256: String
        public var exportID: Int64
    }

    /// Writes every pair of (`run`, `t`) to `path` (`-` for standard output; `.gz` compresses),
    /// then records the export. `progress` gets the rows written so far after each page.
    public func export(
        buffer: ReplayBuffer, run: Int64, t: Int, path: String, progress: (Int) -> Void = { _ in }
    ) async throws -> Summary {
        let sink = try OutputSink(path: path)
        var rows = 0
        let newline = UInt8(ascii: "\n")
        try await buffer.forEachExportPage(run: run, t: t) { page in
            for record in page {
                try sink.write(try ExportLine.encode(record, format: format).utf8)
                try sink.write(CollectionOfOne(newline))
            }
            rows += page.count
            progress(rows)
        }
        let (bytes, sha256) = try sink.finish()
        let id = try await buffer.recordExport(run: run, t: t, format: format.rawValue, path: path == "-" ? "(stdout)" : path, rows: rows, bytes: bytes, sha256: sha256)
        return Summary(rows: rows, bytes: bytes, sha256: sha256, exportID: id)
    }
}
