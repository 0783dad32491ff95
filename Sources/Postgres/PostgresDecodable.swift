import Foundation

/// A Swift value that can be read from a result column in binary format.
public protocol PostgresDecodable: Sendable {
    /// Reads a non-NULL value of `type`; throws ``PostgresDecodingError/Reason`` on a mismatch.
    static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Self
    /// The value for SQL NULL, or nil when this type cannot hold NULL.
    static var nullValue: Self? { get }
}

extension PostgresDecodable {
    public static var nullValue: Self? { nil }
}

/// A result value could not be read as the requested Swift type.
public struct PostgresDecodingError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Error, Sendable, Equatable {
        case typeMismatch(expected: String, actual: PostgresType)
        case unexpectedNull
        case malformed(String)
    }

    public var reason: Reason
    public var column: String
    public var columnIndex: Int
    public var row: Int
    public var swiftType: String

    public var description: String {
        let place = "column \"\(column)\" (index \(columnIndex)), row \(row), as \(swiftType)"
        switch reason {
        case .typeMismatch(let expected, let actual):
            return "cannot decode \(place): the column is \(actual), expected \(expected)"
        case .unexpectedNull:
            return "cannot decode \(place): the value is NULL (decode an Optional to accept NULL)"
        case .malformed(let what):
            return "cannot decode \(place): \(what)"
        }
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func readBigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int = 0) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

@inline(__always)
private func requireLength(_ bytes: UnsafeRawBufferPointer, _ length: Int, _ type: PostgresType) throws(PostgresDecodingError.Reason) {
    guard bytes.count == length else {
        throw .malformed("\(type) value of \(bytes.count) bytes, expected \(length)")
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Self {
        try Wrapped.decode(from: bytes, type: type)
    }
    public static var nullValue: Self? { .some(.none) }
}

extension Bool: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Bool {
        guard type == .bool else { throw .typeMismatch(expected: "bool", actual: type) }
        try requireLength(bytes, 1, type)
        return bytes[0] != 0
    }
}

extension Int64: PostgresDecodable {
    /// Reads int2, int4, int8 and oid columns (widening is lossless).
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int64 {
        switch type {
        case .int2: try requireLength(bytes, 2, type); return Int64(bytes.readBigEndian(Int16.self))
        case .int4: try requireLength(bytes, 4, type); return Int64(bytes.readBigEndian(Int32.self))
        case .oidType: try requireLength(bytes, 4, type); return Int64(bytes.readBigEndian(UInt32.self))
        case .int8: try requireLength(bytes, 8, type); return bytes.readBigEndian(Int64.self)
        default: throw .typeMismatch(expected: "int2, int4 or int8", actual: type)
        }
    }
}

extension Int: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int {
        Int(try Int64.decode(from: bytes, type: type))
    }
}

extension Int32: PostgresDecodable {
    /// Reads int2 and int4 columns; an int8 column must be decoded as Int64.
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int32 {
        switch type {
        case .int2: try requireLength(bytes, 2, type); return Int32(bytes.readBigEndian(Int16.self))
        case .int4: try requireLength(bytes, 4, type); return bytes.readBigEndian(Int32.self)
        default: throw .typeMismatch(expected: "int2 or int4", actual: type)
        }
    }
}

extension Int16: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int16 {
        guard type == .int2 else { throw .typeMismatch(expected: "int2", actual: type) }
        try requireLength(bytes, 2, type)
        return bytes.readBigEndian(Int16.self)
    }
}

extension Double: PostgresDecodable {
    /// Reads float4 and float8 columns. Cast numeric to float8 in SQL to read it.
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Double {
        switch type {
        case .float8: try requireLength(bytes, 8, type); return Double(bitPattern: bytes.readBigEndian(UInt64.self))
        case .float4: try requireLength(bytes, 4, type); return Double(Float(bitPattern: bytes.readBigEndian(UInt32.self)))
        default: throw .typeMismatch(expected: "float4 or float8 (cast numeric with ::float8)", actual: type)
        }
    }
}

extension Float: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Float {
        guard type == .float4 else { throw .typeMismatch(expected: "float4", actual: type) }
        try requireLength(bytes, 4, type)
        return Float(bitPattern: bytes.readBigEndian(UInt32.self))
    }
}

extension String: PostgresDecodable {
    /// Reads text-like columns (text, varchar, bpchar, name, json) and jsonb as its text.
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> String {
        switch type {
        case .text, .varchar, .bpchar, .name, .json, .unknown:
            return String(decoding: bytes, as: UTF8.self)
        case .jsonb:
            guard bytes.first == 1 else { throw .malformed("jsonb with unknown format version") }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes.dropFirst()), as: UTF8.self)
        default:
            throw .typeMismatch(expected: "text, varchar, name, json or jsonb", actual: type)
        }
    }
}

extension ByteA: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> ByteA {
        guard type == .bytea else { throw .typeMismatch(expected: "bytea", actual: type) }
        return ByteA(Array(bytes))
    }
}

extension Data: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Data {
        guard type == .bytea else { throw .typeMismatch(expected: "bytea", actual: type) }
        return Data(bytes)
    }
}

extension JSONB: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> JSONB {
        guard type == .jsonb || type == .json else { throw .typeMismatch(expected: "jsonb or json", actual: type) }
        return JSONB(try String.decode(from: bytes, type: type))
    }
}

extension UUID: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> UUID {
        guard type == .uuid else { throw .typeMismatch(expected: "uuid", actual: type) }
        try requireLength(bytes, 16, type)
        var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: bytes) }
        return UUID(uuid: raw)
    }
}

extension Date: PostgresDecodable {
    /// Reads timestamptz and timestamp (taken as UTC) columns.
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Date {
        guard type == .timestamptz || type == .timestamp else {
            throw .typeMismatch(expected: "timestamptz", actual: type)
        }
        try requireLength(bytes, 8, type)
        let micros = bytes.readBigEndian(Int64.self)
        if micros == .max || micros == .min { return micros == .max ? .distantFuture : .distantPast }
        return Date(timeIntervalSince1970: Double(micros + postgresEpochOffsetMicros) / 1_000_000)
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// Reads a one-dimensional array (or an empty one); NULL elements need an Optional element type.
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> [Element] {
        guard let elementType = type.arrayElement else {
            throw .typeMismatch(expected: "an array", actual: type)
        }
        guard bytes.count >= 12 else { throw .malformed("array header truncated") }
        let dimensions = bytes.readBigEndian(Int32.self, at: 0)
        if dimensions == 0 { return [] }
        guard dimensions == 1 else { throw .malformed("\(dimensions)-dimensional array; only one dimension is supported") }
        guard bytes.count >= 20 else { throw .malformed("array header truncated") }
        let count = Int(bytes.readBigEndian(Int32.self, at: 12))
        var offset = 20
        var result: [Element] = []
        result.reserveCapacity(count)
        for _ in 0..<count {
            guard offset + 4 <= bytes.count else { throw .malformed("array element truncated") }
            let length = Int(bytes.readBigEndian(Int32.self, at: offset))
            offset += 4
            if length < 0 {
                guard let null = Element.nullValue else { throw .unexpectedNull }
                result.append(null)
                continue
            }
            guard offset + length <= bytes.count else { throw .malformed("array element truncated") }
            result.append(try Element.decode(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]), type: elementType))
            offset += length
        }
        return result
    }
}
