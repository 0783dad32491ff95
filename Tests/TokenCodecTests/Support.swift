import Testing
import TokenCodec

/// SplitMix64: a small seeded generator so every test run sees the same ids.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How test ids are drawn.
enum Vocabulary: String, CaseIterable, CustomTestStringConvertible {
    /// Uniform over all of UInt32.
    case fullRange
    /// Uniform below 65536 (fits width 2).
    case small
    /// A few hundred distinct ids, so LZ4 finds matches.
    case tiny
    /// Phrases repeated with variations, like text: compresses well.
    case repetitive
    /// Mostly small ids with occasional ones above 65535 (forces width 4).
    case mostlySmall

    var testDescription: String { rawValue }

    func ids(count: Int, using rng: inout SeededGenerator) -> [UInt32] {
        switch self {
        case .fullRange:
            return (0..<count).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }
        case .small:
            return (0..<count).map { _ in UInt32.random(in: 0...0xFFFF, using: &rng) }
        case .tiny:
            return (0..<count).map { _ in UInt32.random(in: 0..<300, using: &rng) }
        case .repetitive:
            let phrase = (0..<37).map { _ in UInt32.random(in: 0..<32_000, using: &rng) }
            return (0..<count).map { i in
                i % 11 == 0 ? UInt32.random(in: 0..<32_000, using: &rng) : phrase[i % phrase.count]
            }
        case .mostlySmall:
            return (0..<count).map { i in
                i % 97 == 0
                    ? UInt32.random(in: 0x1_0000...UInt32.max, using: &rng) : UInt32.random(in: 0..<1000, using: &rng)
            }
        }
    }
}

/// A (width, shuffle) combination of the format.
struct Layout: Hashable, CustomTestStringConvertible {
    var width: TokenWidth
    var shuffled: Bool

    static let all = [
        Layout(width: .two, shuffled: false), Layout(width: .two, shuffled: true),
        Layout(width: .four, shuffled: false), Layout(width: .four, shuffled: true),
    ]

    /// The layouts that can hold `ids`.
    static func valid(for ids: [UInt32]) -> [Layout] {
        ids.allSatisfy { $0 <= 0xFFFF } ? all : all.filter { $0.width == .four }
    }

    var testDescription: String { "width \(width.rawValue)\(shuffled ? " shuffled" : "")" }

    func encode(_ ids: [UInt32]) -> [UInt8] { TokenCodec.encode(ids, width: width, shuffle: shuffled) }
}

extension Array where Element == UInt8 {
    /// A copy with the header's count field set to `count`.
    func withCount(_ count: UInt32) -> [UInt8] {
        var blob = self
        for i in 0..<4 { blob[4 + i] = UInt8(truncatingIfNeeded: count >> (8 * i)) }
        return blob
    }

    /// A copy with the byte at `offset` set to `value`.
    func with(_ value: UInt8, at offset: Int) -> [UInt8] {
        var blob = self
        blob[offset] = value
        return blob
    }
}

/// Decodes `blob`, returning the error instead of throwing it.
func decodeResult(_ blob: [UInt8]) -> Result<[UInt32], TokenBlobError> {
    Result { () throws(TokenBlobError) in try TokenCodec.decode(blob) }
}
