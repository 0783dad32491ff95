import Foundation
import Postgres
import Testing

@testable import Export

@Suite("JSON line builder")
struct JSONLineBuilderTests {
    static let strings = [
        "", "plain", "quote \" and backslash \\", "tab\tnew\nline\rcr", "nul \u{0} bell \u{7} unit \u{1F} del \u{7F}",
        "ü, 日本語, emoji 🎉, line sep \u{2028}", String(repeating: "long ", count: 1000),
    ]

    @Test(arguments: strings)
    func stringsMatchTheStringWriterAndParseBack(_ value: String) throws {
        var line = JSONLineBuilder()
        line.begin()
        line.key("s")
        line.string(value)
        line.end()
        let text = String(decoding: line.bytes, as: UTF8.self)
        #expect(text == "{\"s\": \(JSONB.quoted(value))}")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(line.bytes)) as? [String: String])
        #expect(parsed["s"] == value)
    }

    @Test func integersAndArraysAreDecimal() throws {
        var line = JSONLineBuilder()
        line.begin()
        let values: [Int64] = [0, 7, 9, 10, 99, 100, 4_294_967_295, Int64.max, Int64.min, -1]
        for value in values {
            line.key("n")
            line.integer(value)
        }
        line.key("ids")
        line.array([0, 1, 9, 10, 12345, UInt32.max])
        line.key("x")
        line.number(0.25)
        line.key("inf")
        line.number(.infinity)
        line.end()
        let text = String(decoding: line.bytes, as: UTF8.self)
        let expected = values.map { "\"n\": \($0)" } + ["\"ids\": [0, 1, 9, 10, 12345, 4294967295]", "\"x\": 0.25", "\"inf\": null"]
        #expect(text == "{" + expected.joined(separator: ", ") + "}")
    }
}

@Suite("JSON line builder: digits and the escape test")
struct JSONLineBuilderDigitTests {
    @Test func tokenIDsOfEveryDigitCountAreDecimal() {
        var ids: [UInt32] = []
        var power: UInt32 = 1
        for _ in 0..<10 {
            ids += [power &- 1, power, power &+ 1, power &* 5].filter { $0 > 0 }
            power &*= 10
        }
        ids += [0, 999_999, 1_000_000, 4_294_967_294, UInt32.max, 31_999, 100_277]
        var line = JSONLineBuilder()
        line.array(ids)
        #expect(String(decoding: line.bytes, as: UTF8.self) == "[" + ids.map { String($0) }.joined(separator: ", ") + "]")
        line.reset()
        line.array([])
        #expect(String(decoding: line.bytes, as: UTF8.self) == "[]")
    }

    @Test func theWordTestFlagsExactlyTheBytesToEscape() {
        for byte in 0...255 {
            for position in 0..<8 {
                var word = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                word[position] = UInt8(byte)
                let value = word.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                let expected = byte < 0x20 || byte == 0x22 || byte == 0x5C
                #expect(JSONLineBuilder.needsEscape(value) == expected, "byte \(byte) at \(position)")
            }
        }
    }

    @Test func linesAppendAfterEachOtherUntilReset() {
        var line = JSONLineBuilder()
        for value in [1, 2] as [Int64] {
            line.begin()
            line.key("n")
            line.integer(value)
            line.end()
            line.ascii("\n")
        }
        #expect(String(decoding: line.bytes, as: UTF8.self) == "{\"n\": 1}\n{\"n\": 2}\n")
        line.reset()
        #expect(line.count == 0)
    }
}
