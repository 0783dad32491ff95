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
