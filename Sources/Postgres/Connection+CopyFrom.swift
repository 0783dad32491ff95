import CLibPQ

extension Connection {
    /// Bulk-loads rows with `COPY … FROM STDIN (FORMAT binary)`.
    ///
    /// `copyStatement` is the COPY statement itself, e.g.
    /// `COPY optune.staging (a, b) FROM STDIN (FORMAT binary)`. It is SQL text: never build it from
    /// user input. `fill` appends rows to the writer, which streams them to the server in chunks of
    /// about 1 MiB, so memory stays bounded however many rows there are. If `fill` throws, the
    /// COPY is aborted and no row of it is stored. Returns the number of rows copied.
    @discardableResult
    public func copyFromBinary(_ copyStatement: String, _ fill: @Sendable (inout BinaryCopyWriter) throws -> Void) throws -> Int {
        let connection = try liveHandle(for: copyStatement)
        let start = PQexec(connection, copyStatement)
        defer { PQclear(start) }
        try check(start, sql: copyStatement, expecting: [PGRES_COPY_IN])

        var writer = BinaryCopyWriter { chunk in
            guard let size = Int32(exactly: chunk.count) else {
                throw PostgresError(
                    code: .copyFailed, message: "a COPY chunk of \(chunk.count) bytes; it must be under 2 GiB", query: copyStatement)
            }
            let sent = chunk.withMemoryRebound(to: CChar.self) { PQputCopyData(connection, $0.baseAddress, size) }
            guard sent == 1 else {
                throw PostgresError(
                    code: .copyFailed, message: String(cString: PQerrorMessage(connection)).trimmedTrailingNewlines,
                    query: copyStatement)
            }
        }
        do {
            try fill(&writer)
            try writer.finish()
        } catch {
            PQputCopyEnd(connection, "aborted by the client")
            drainResults(connection)
            throw error
        }
        guard PQputCopyEnd(connection, nil) == 1 else {
            throw self.error(from: nil, sql: copyStatement)
        }
        var copied = 0
        var failure: PostgresError?
        while let result = PQgetResult(connection) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                copied = Int(String(cString: PQcmdTuples(result))) ?? writer.rowCount
            } else if failure == nil {
                failure = self.error(from: result, sql: copyStatement)
            }
            PQclear(result)
        }
        if let failure { throw failure }
        return copied
    }

    private func drainResults(_ connection: OpaquePointer) {
        while let result = PQgetResult(connection) { PQclear(result) }
    }
}

/// Writes rows in PostgreSQL's binary COPY format.
///
/// Each row starts with ``beginRow(fieldCount:)`` followed by exactly that many fields, in the
/// column order of the COPY statement, each in the column's binary format.
public struct BinaryCopyWriter {
    private var buffer: [UInt8] = []
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    private static let flushThreshold = 1 << 20
    /// Rows begun so far.
    public private(set) var rowCount = 0
    /// The size of a field too large for the format (≥ 2 GiB), reported by the next `beginRow`/`finish`.
    private var oversizedField: Int?

    init(sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.sink = sink
        buffer.reserveCapacity(Self.flushThreshold + 64 * 1024)
        buffer.append(contentsOf: Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        Int32(0).appendBigEndian(to: &buffer)  // flags
        Int32(0).appendBigEndian(to: &buffer)  // header extension length
    }

    /// Starts a row of `fieldCount` fields; sends buffered rows once about 1 MiB has accumulated.
    public mutating func beginRow(fieldCount: Int) throws {
        try checkFields()
        guard let count = Int16(exactly: fieldCount), count >= 0 else {
            throw PostgresError(code: .copyFailed, message: "a COPY row has \(fieldCount) fields; the format allows 0…32767")
        }
        if buffer.count >= Self.flushThreshold { try flush() }
        count.appendBigEndian(to: &buffer)
        rowCount += 1
    }

    // Concrete overloads for the column types bulk writers use: a call from another module to the
    // generic `write` below is not specialised, and looks up type metadata for every field.

    /// Appends a `bigint` field; nil is SQL NULL.
    public mutating func write(_ value: Int64?) { writeField(value) }
    /// Appends an `integer` field; nil is SQL NULL.
    public mutating func write(_ value: Int32?) { writeField(value) }
    /// Appends a `double precision` field; nil is SQL NULL.
    public mutating func write(_ value: Double?) { writeField(value) }
    /// Appends a `text` field; nil is SQL NULL.
    public mutating func write(_ value: String?) { writeField(value) }
    /// Appends a `jsonb` field; nil is SQL NULL.
    public mutating func write(_ value: JSONB?) { writeField(value) }

    /// Appends one field; nil is SQL NULL.
    public mutating func write(_ value: (some PostgresEncodable)?) { writeField(value) }

    private mutating func writeField(_ value: (some PostgresEncodable)?) {
        guard let value else { return writeNull() }
        let lengthAt = buffer.count
        Int32(0).appendBigEndian(to: &buffer)
        value.encode(into: &buffer)
        guard let size = Int32(exactly: buffer.count - lengthAt - 4) else {
            oversizedField = buffer.count - lengthAt - 4
            buffer.removeLast(buffer.count - lengthAt)
            return writeNull()
        }
        let length = size.bigEndian
        withUnsafeBytes(of: length) { bytes in
            buffer.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: lengthAt).copyMemory(from: bytes.baseAddress!, byteCount: 4) }
        }
    }

    /// Appends raw bytes as one field (a `bytea` column, or any pre-encoded binary value).
    public mutating func write(bytes: UnsafeRawBufferPointer) {
        guard let count = Int32(exactly: bytes.count) else {
            oversizedField = bytes.count
            return writeNull()
        }
        count.appendBigEndian(to: &buffer)
        buffer.append(contentsOf: bytes)
    }

    /// Appends raw bytes as one field (a `bytea` column, or any pre-encoded binary value).
    public mutating func write(bytes: [UInt8]) {
        bytes.withUnsafeBytes { write(bytes: $0) }
    }

    /// Appends SQL NULL.
    public mutating func writeNull() {
        Int32(-1).appendBigEndian(to: &buffer)
    }

    mutating func finish() throws {
        try checkFields()
        Int16(-1).appendBigEndian(to: &buffer)
        try flush()
    }

    private func checkFields() throws {
        if let oversizedField {
            throw PostgresError(code: .copyFailed, message: "a COPY field of \(oversizedField) bytes; a field must be under 2 GiB")
        }
    }

    private mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try sink($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}
