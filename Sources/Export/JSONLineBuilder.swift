/// Builds one JSON object as UTF-8 bytes, without intermediate strings: the export's hot loop
/// (hundreds of thousands of lines, a thousand token ids each) appends straight into one
/// reused buffer. Output matches the previous String-based writer byte for byte
/// (`{"key": value, …}`, arrays as `[1, 2, 3]`).
struct JSONLineBuilder {
    private(set) var bytes: [UInt8] = []
    private var fields = 0

    init() {
        bytes.reserveCapacity(1 << 14)
    }

    /// Starts a new object, keeping the buffer's capacity.
    mutating func begin() {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(UInt8(ascii: "{"))
        fields = 0
    }

    /// Closes the object.
    mutating func end() {
        bytes.append(UInt8(ascii: "}"))
    }

    /// Writes `"name": ` (with the separator before every field but the first).
    mutating func key(_ name: StaticString) {
        if fields > 0 { ascii(", ") }
        fields += 1
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        ascii("\": ")
    }

    /// Appends ASCII text as is.
    mutating func ascii(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends JSON text that is already valid (a stored `jsonb` rendered by PostgreSQL).
    mutating func raw(_ json: String) {
        var json = json
        json.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Appends `value` as a JSON string literal: `"` and `\` escaped, control characters as
    /// `\n`, `\r`, `\t` or `\u00XX`; everything else (all bytes ≥ 0x20, UTF-8 included) copied in runs.
    mutating func string(_ value: String) {
        var value = value
        bytes.append(UInt8(ascii: "\""))
        value.withUTF8 { utf8 in
            var runStart = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): ascii("\\\"")
                case UInt8(ascii: "\\"): ascii("\\\\")
                case UInt8(ascii: "\n"): ascii("\\n")
                case UInt8(ascii: "\r"): ascii("\\r")
                case UInt8(ascii: "\t"): ascii("\\t")
                default:
                    ascii("\\u00")
                    bytes.append(Self.hexDigits[Int(byte >> 4)])
                    bytes.append(Self.hexDigits[Int(byte & 0xF)])
                }
            }
            if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends a finite double in Swift's shortest round-trip form, or `null`.
    mutating func number(_ value: Double) {
        guard value.isFinite else { return ascii("null") }
        raw(value.description)
    }

    /// Appends a decimal integer.
    mutating func integer(_ value: Int64) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            unsigned(value.magnitude)
        } else {
            unsigned(UInt64(value))
        }
    }

    /// Appends `[a, b, …]`.
    mutating func array(_ ids: [UInt32]) {
        bytes.append(UInt8(ascii: "["))
        for (index, id) in ids.enumerated() {
            if index > 0 { ascii(", ") }
            unsigned(UInt64(id))
        }
        bytes.append(UInt8(ascii: "]"))
    }

    private mutating func unsigned(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var digits: (UInt64, UInt64, UInt32) = (0, 0, 0)  // 20 bytes: UInt64.max has 20 digits, written backwards
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { scratch in
            while rest > 0 {
                count += 1
                scratch[20 - count] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[(20 - count)..<20]))
        }
    }
}
