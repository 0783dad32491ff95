import CLibPQ

/// The rows a statement returned, copied out of libpq into one contiguous buffer.
///
/// A `QueryResult` is a value: it can cross actors and outlive its connection.
public struct QueryResult: Sendable, RandomAccessCollection {
    /// A result column: its name and PostgreSQL type.
    public struct Column: Sendable, Hashable {
        public var name: String
        public var type: PostgresType
    }

    public let columns: [Column]
    /// Rows changed by an INSERT/UPDATE/DELETE/COPY, or returned by a SELECT.
    public let affectedRows: Int
    let storage: [UInt8]
    /// Per cell: start offset in `storage` and length, or length -1 for NULL.
    let cells: [(offset: Int, length: Int)]
    let rowCount: Int

    public var startIndex: Int { 0 }
    public var endIndex: Int { rowCount }
    public subscript(position: Int) -> Row { Row(result: self, index: position) }

    /// The index of the column called `name`, if any.
    public func columnIndex(named name: String) -> Int? { columns.firstIndex { $0.name == name } }

    init(copying result: OpaquePointer) {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        columns = (0..<columnCount).map { column in
            Column(name: String(cString: PQfname(result, Int32(column))), type: PostgresType(oid: PQftype(result, Int32(column))))
        }
        var total = 0
        for row in 0..<rowCount {
            for column in 0..<columnCount { total += Int(PQgetlength(result, Int32(row), Int32(column))) }
        }
        var storage = [UInt8]()
        storage.reserveCapacity(total)
        var cells = [(offset: Int, length: Int)]()
        cells.reserveCapacity(rowCount * columnCount)
        for row in 0..<rowCount {
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) != 0 {
                    cells.append((storage.count, -1))
                    continue
                }
                let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                let value = PQgetvalue(result, Int32(row), Int32(column))!
                cells.append((storage.count, length))
                value.withMemoryRebound(to: UInt8.self, capacity: length) {
                    storage.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
                }
            }
        }
        self.storage = storage
        self.cells = cells
        self.rowCount = rowCount
        let tuples = String(cString: PQcmdTuples(result))
        affectedRows = Int(tuples) ?? rowCount
    }
}

/// One row of a ``QueryResult``.
public struct Row: Sendable {
    let result: QueryResult
    /// The row's position in its result.
    public let index: Int

    /// Decodes column `column` (by position). Throws ``PostgresDecodingError`` on a type mismatch
    /// or an unexpected NULL.
    public func decode<T: PostgresDecodable>(_ column: Int, as type: T.Type = T.self) throws(PostgresDecodingError) -> T {
        precondition(column >= 0 && column < result.columns.count, "column index \(column) out of range")
        let cell = result.cells[index * result.columns.count + column]
        let pgType = result.columns[column].type
        do throws(PostgresDecodingError.Reason) {
            if cell.length < 0 {
                guard let null = T.nullValue else { throw PostgresDecodingError.Reason.unexpectedNull }
                return null
            }
            let decoded = result.storage.withUnsafeBytes { storage in
                Result { () throws(PostgresDecodingError.Reason) in
                    try T.decode(from: UnsafeRawBufferPointer(rebasing: storage[cell.offset..<cell.offset + cell.length]), type: pgType)
                }
            }
            return try decoded.get()
        } catch {
            throw PostgresDecodingError(
                reason: error, column: result.columns[column].name, columnIndex: column, row: index,
                swiftType: String(describing: T.self))
        }
    }

    /// Decodes the column called `name`.
    public func decode<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws(PostgresDecodingError) -> T {
        guard let column = result.columnIndex(named: name) else {
            throw PostgresDecodingError(
                reason: .malformed("no such column; the result has \(result.columns.map(\.name))"),
                column: name, columnIndex: -1, row: index, swiftType: String(describing: T.self))
        }
        return try decode(column, as: type)
    }

    /// Calls `body` with the raw binary bytes of a column (nil for NULL) without copying.
    public func withRawBytes<R>(_ column: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let cell = result.cells[index * result.columns.count + column]
        if cell.length < 0 { return try body(nil) }
        return try result.storage.withUnsafeBytes { storage in
            try body(UnsafeRawBufferPointer(rebasing: storage[cell.offset..<cell.offset + cell.length]))
        }
    }
}
