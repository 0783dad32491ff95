import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Typed parameters round-trip through the server")
struct ParameterRoundTripTests {
    /// Sends `value` as a parameter, has the server cast it to `sqlType`, and reads it back.
    func roundTrip<T: PostgresEncodable & PostgresDecodable>(_ value: T?, as sqlType: String, on connection: Connection) async throws -> T?
    {
        let result = try await connection.query("SELECT $1::\(sqlType)", [value])
        #expect(result.columns[0].type == T.postgresType)
        return try result[0].decode(0, as: T?.self)
    }

    @Test func integersOfEveryWidthRoundTrip() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            for value: Int16 in [.min, -1, 0, 1, .max] { #expect(try await roundTrip(value, as: "int2", on: connection) == value) }
            for value: Int32 in [.min, -1, 0, 1, .max] { #expect(try await roundTrip(value, as: "int4", on: connection) == value) }
            for value: Int64 in [.min, -1, 0, 1, .max] { #expect(try await roundTrip(value, as: "int8", on: connection) == value) }
            #expect(try await roundTrip(Int(42), as: "int8", on: connection) == 42)
        }
    }

    @Test func floatsRoundTripIncludingSpecialValues() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            for value in [0.0, -0.0, 1.5, -1e300, .pi, .infinity, -.infinity, .leastNonzeroMagnitude] {
                #expect(try await roundTrip(value, as: "float8", on: connection) == value)
            }
            #expect(try await roundTrip(Double.nan, as: "float8", on: connection)?.isNaN == true)
            #expect(try await roundTrip(Float(3.25), as: "float4", on: connection) == 3.25)
        }
    }

    @Test func boolTextUnicodeAndJSONBRoundTrip() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            #expect(try await roundTrip(true, as: "bool", on: connection) == true)
            #expect(try await roundTrip(false, as: "bool", on: connection) == false)
            for text in ["", "plain", "Grüße, 世界 🚀 — ǅ", String(repeating: "x", count: 100_000)] {
                #expect(try await roundTrip(text, as: "text", on: connection) == text)
            }
            let json = try await roundTrip(JSONB(#"{"a": [1, 2], "b": "ü"}"#), as: "jsonb", on: connection)
            #expect(json == JSONB(#"{"a": [1, 2], "b": "ü"}"#))
        }
    }

    @Test func timestampsAndUUIDsRoundTrip() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            let date = Date(timeIntervalSince1970: 1_790_000_000.123456)
            let back = try await roundTrip(date, as: "timestamptz", on: connection)
            #expect(abs(back!.timeIntervalSince1970 - date.timeIntervalSince1970) < 1e-6)
            let uuid = UUID()
            #expect(try await roundTrip(uuid, as: "uuid", on: connection) == uuid)
        }
    }

    @Test func byteaRoundTripsEmptySmallAndLarge() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            #expect(try await roundTrip(ByteA([]), as: "bytea", on: connection) == ByteA([]))
            #expect(try await roundTrip(ByteA([0, 255, 0, 1]), as: "bytea", on: connection) == ByteA([0, 255, 0, 1]))
            var generator = SystemRandomNumberGenerator()
            let large = (0..<(16 << 20) + 7).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let back = try await roundTrip(ByteA(large), as: "bytea", on: connection)
            #expect(back?.bytes.count == large.count)
            #expect(back == ByteA(large))
        }
    }

    @Test func arraysRoundTripIncludingEmpty() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            #expect(try await roundTrip([Int32(1), -2, .max], as: "int4[]", on: connection) == [1, -2, .max])
            #expect(try await roundTrip([Int64](), as: "int8[]", on: connection) == [])
            #expect(try await roundTrip([0.5, -1.25], as: "float8[]", on: connection) == [0.5, -1.25])
            #expect(try await roundTrip(["a", "", "ü"], as: "text[]", on: connection) == ["a", "", "ü"])
        }
    }

    @Test func nullRoundTripsForEveryType() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            #expect(try await roundTrip(Int64?.none, as: "int8", on: connection) == nil)
            #expect(try await roundTrip(String?.none, as: "text", on: connection) == nil)
            #expect(try await roundTrip(ByteA?.none, as: "bytea", on: connection) == nil)
            #expect(try await roundTrip(Double?.none, as: "float8", on: connection) == nil)
            #expect(try await roundTrip(Date?.none, as: "timestamptz", on: connection) == nil)
            #expect(try await roundTrip(JSONB?.none, as: "jsonb", on: connection) == nil)
            #expect(try await roundTrip([Int32]?.none, as: "int4[]", on: connection) == nil)
        }
    }

    @Test func decodingTheWrongTypeIsAClearError() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            let result = try await connection.query("SELECT 'text'::text AS label, NULL::int8 AS missing")
            let mismatch = #expect(throws: PostgresDecodingError.self) { try result[0].decode(0, as: Int64.self) }
            #expect(mismatch?.description.contains("\"label\"") == true)
            #expect(mismatch?.description.contains("text") == true)
            let null = #expect(throws: PostgresDecodingError.self) { try result[0].decode("missing", as: Int64.self) }
            #expect(null?.reason == .unexpectedNull)
            #expect(try result[0].decode("missing", as: Int64?.self) == nil)
        }
    }
}
