/// Builds JSON lines as UTF-8 bytes in one reused buffer, without intermediate strings: the
/// export's hot loop (hundreds of thousands of lines, a thousand token ids each) appends
/// straight into it, and a page of lines goes to the sink in one write. Output matches the
/// previous String-based writer byte for byte (`{"key": value, …}`, arrays as `[1, 2, 3]`).
struct JSONLineBuilder {
    private var storage = ByteStorage(capacity: 1 << 16)
    private var fields = 0

    init() {}

    /// The bytes written since the last ``reset()``.
    var bytes: [UInt8] { storage.withBytes { Array($0) } }

    /// Bytes written since the last ``reset()``.
    var count: Int { storage.count }

    /// Calls `body` with the bytes written since the last ``reset()``.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withBytes(body)
    }

    /// Forgets everything written, keeping the buffer's capacity.
    mutating func reset() {
        storage.count = 0
        fields = 0
    }

    /// Starts a new object after whatever the buffer holds.
    mutating func begin() {
        storage.append(UInt8(ascii: "{"))
        fields = 0
    }

    /// Closes the object.
    mutating func end() {
        storage.append(UInt8(ascii: "}"))
    }

    /// Writes `"name": ` (with the separator before every field but the first).
    mutating func key(_ name: StaticString) {
        if fields > 0 { ascii(", ") }
        fields += 1
        storage.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { storage.append(UnsafeRawBufferPointer($0)) }
        ascii("\": ")
    }

    /// Appends ASCII text as is.
    mutating func ascii(_ text: StaticString) {
        text.withUTF8Buffer { storage.append(UnsafeRawBufferPointer($0)) }
    }

    /// Appends JSON text that is already valid (a stored `jsonb` rendered by PostgreSQL).
    mutating func raw(_ json: String) {
        var json = json
        json.withUTF8 { storage.append(UnsafeRawBufferPointer($0)) }
    }

    /// Appends bytes that are already valid JSON text.
    mutating func raw(_ json: UnsafeRawBufferPointer) {
        storage.append(json)
    }

    /// Appends `value` as a JSON string literal (see ``string(utf8:)``).
    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { string(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// Appends UTF-8 text as a JSON string literal: `"` and `\` escaped, control characters as
    /// `\n`, `\r`, `\t` or `\u00XX`; everything else (all bytes ≥ 0x20, UTF-8 included) copied in
    /// runs. Eight bytes at a time are tested at once; only a word that holds a byte to escape
    /// is looked at byte by byte.
    mutating func string(utf8: UnsafeRawBufferPointer) {
        storage.append(UInt8(ascii: "\""))
        let count = utf8.count
        var runStart = 0
        var index = 0
        while index < count {
            if index + 8 <= count, !Self.needsEscape(utf8.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                index += 8
                continue
            }
            let stop = min(index + 8, count)
            while index < stop {
                let byte = utf8[index]
                if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    if runStart < index { storage.append(UnsafeRawBufferPointer(rebasing: utf8[runStart..<index])) }
                    runStart = index + 1
                    escape(byte)
                }
                index += 1
            }
        }
        if runStart < count { storage.append(UnsafeRawBufferPointer(rebasing: utf8[runStart..<count])) }
        storage.append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): ascii("\\\"")
        case UInt8(ascii: "\\"): ascii("\\\\")
        case UInt8(ascii: "\n"): ascii("\\n")
        case UInt8(ascii: "\r"): ascii("\\r")
        case UInt8(ascii: "\t"): ascii("\\t")
        default:
            ascii("\\u00")
            storage.append(Self.hexDigit(byte >> 4))
            storage.append(Self.hexDigit(byte & 0xF))
        }
    }

    /// Whether any byte of `word` is below 0x20, `"` or `\` (exact for the word as a whole).
    @inline(__always)
    static func needsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ value: UInt64) -> UInt64 { (value &- ones) & ~value & highs }
        let control = (word &- ones &* 0x20) & ~word & highs
        return control | hasZeroByte(word ^ (ones &* 0x22)) | hasZeroByte(word ^ (ones &* 0x5C)) != 0
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }

    /// Appends a finite double in Swift's shortest round-trip form, or `null`.
    mutating func number(_ value: Double) {
        guard value.isFinite else { return ascii("null") }
        raw(value.description)
    }

    /// Appends a decimal integer.
    mutating func integer(_ value: Int64) {
        storage.reserve(21)
        storage.unsafeWrite { out in
            var at = 0
            if value < 0 {
                out[0] = UInt8(ascii: "-")
                at = 1
            }
            return at + Self.writeDecimal(value.magnitude, to: out.baseAddress.unsafelyUnwrapped + at)
        }
    }

    /// Appends `[a, b, …]`.
    mutating func array(_ ids: [UInt32]) {
        ids.withUnsafeBufferPointer { array($0) }
    }

    /// Appends `[a, b, …]`: digits written straight into the buffer. An id below 100 000 (all
    /// of a 32k vocabulary, most of larger ones) is one 8-byte store with no branch on its
    /// length: its five digits and the `", "` after them are built in a word whose leading zeros
    /// are shifted out.
    mutating func array(_ ids: UnsafeBufferPointer<UInt32>) {
        guard !ids.isEmpty else { return ascii("[]") }
        // "[" + at most 10 digits and ", " per id (the last ", " becomes "]") + 8 bytes of slack
        // for the word stores.
        storage.reserve(1 + 12 * ids.count + 8)
        Self.digitPairs.withUnsafeBytes { table in
            guard let pairs = table.baseAddress else { return }
            storage.unsafeWrite { out in
                guard let base = out.baseAddress else { return 0 }
                @inline(__always) func pair(_ value: UInt32) -> UInt64 {
                    UInt64(UInt16(littleEndian: pairs.loadUnaligned(fromByteOffset: 2 * Int(value), as: UInt16.self)))
                }
                let separator = UInt64(UInt8(ascii: ",")) | UInt64(UInt8(ascii: " ")) << 8
                base[0] = UInt8(ascii: "[")
                var at = 1
                for id in ids {
                    if id < 100_000 {
                        let (first, rest) = id.quotientAndRemainder(dividingBy: 10_000)
                        let (middle, last) = rest.quotientAndRemainder(dividingBy: 100)
                        // Bytes in memory order: d0 d1 d2 d3 d4 ',' ' ' (a little-endian word).
                        var word = UInt64(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: first))
                        word |= pair(middle) << 8 | pair(last) << 24 | separator << 40
                        // Digits without branches: c − id wraps (sets bit 31) exactly when id > c.
                        let longer = ((9 &- id) >> 31) &+ ((99 &- id) >> 31) &+ ((999 &- id) >> 31) &+ ((9999 &- id) >> 31)
                        word >>= UInt64(8 &* (4 &- longer))
                        UnsafeMutableRawPointer(base + at).storeBytes(of: word.littleEndian, as: UInt64.self)
                        at &+= Int(longer) &+ 3
                    } else {
                        at &+= Self.writeDecimal(id, to: base + at, pairs: pairs)
                        UnsafeMutableRawPointer(base + at).storeBytes(
                            of: UInt16(truncatingIfNeeded: separator).littleEndian, as: UInt16.self)
                        at &+= 2
                    }
                }
                // The last ", " becomes "]".
                base[at - 2] = UInt8(ascii: "]")
                return at - 1
            }
        }
    }

    /// "00", "01", … "99": the two digits of every value below 100.
    private static let digitPairs: [UInt8] = (0..<100).flatMap { [UInt8(ascii: "0") + UInt8($0 / 10), UInt8(ascii: "0") + UInt8($0 % 10)] }

    /// Writes `value` in decimal at `out` (room for 10 digits); returns the digits written. Token
    /// ids are mostly under a million: those take one or two divisions and 2-byte copies.
    @inline(__always)
    private static func writeDecimal(_ value: UInt32, to out: UnsafeMutablePointer<UInt8>, pairs: UnsafeRawPointer) -> Int {
        @inline(__always) func two(_ pair: UInt32, at offset: Int) {
            let digits = pairs.loadUnaligned(fromByteOffset: 2 * Int(pair), as: UInt16.self)
            UnsafeMutableRawPointer(out + offset).storeBytes(of: digits, as: UInt16.self)
        }
        @inline(__always) func one(_ digit: UInt32, at offset: Int) {
            out[offset] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: digit)
        }
        if value < 100 {
            if value < 10 {
                one(value, at: 0)
                return 1
            }
            two(value, at: 0)
            return 2
        }
        if value < 10_000 {
            let (high, low) = value.quotientAndRemainder(dividingBy: 100)
            if high < 10 {
                one(high, at: 0)
                two(low, at: 1)
                return 3
            }
            two(high, at: 0)
            two(low, at: 2)
            return 4
        }
        if value < 1_000_000 {
            let (high, low) = value.quotientAndRemainder(dividingBy: 10_000)
            let (middle, last) = low.quotientAndRemainder(dividingBy: 100)
            if high < 10 {
                one(high, at: 0)
                two(middle, at: 1)
                two(last, at: 3)
                return 5
            }
            two(high, at: 0)
            two(middle, at: 2)
            two(last, at: 4)
            return 6
        }
        return writeDecimal(UInt64(value), to: out)
    }

    /// Writes `value` in decimal at `out` (room for 20 digits); returns the digits written.
    @inline(__always)
    private static func writeDecimal(_ value: UInt64, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var length = 1
        var bound: UInt64 = 10
        while length < 20, value >= bound {
            length += 1
            bound = bound &* 10
        }
        var rest = value
        var at = length
        while rest >= 100 {
            let pair = Int(rest % 100)
            rest /= 100
            at -= 2
            out[at] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: pair / 10)
            out[at + 1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: pair % 10)
        }
        if rest >= 10 {
            out[at - 2] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest / 10)
            out[at - 1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
        } else {
            out[at - 1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest)
        }
        return length
    }
}

/// A growable byte buffer the builder owns: appends are a capacity check and a copy, and
/// ``unsafeWrite(_:)`` lets the number writers fill reserved room in place.
private final class ByteStorage {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit {
        base.deallocate()
    }

    /// Makes room for `extra` more bytes.
    @inline(__always)
    func reserve(_ extra: Int) {
        if capacity - count < extra { grow(to: count + extra) }
    }

    private func grow(to needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.update(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    @inline(__always)
    func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    /// Calls `body` with the reserved room after the written bytes; `body` returns how many it
    /// wrote (at most what was reserved).
    @inline(__always)
    func unsafeWrite(_ body: (UnsafeMutableBufferPointer<UInt8>) -> Int) {
        let written = body(UnsafeMutableBufferPointer(start: base + count, count: capacity - count))
        precondition(written >= 0 && written <= capacity - count, "wrote past the reserved room")
        count += written
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }
}
