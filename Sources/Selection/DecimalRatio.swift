/// A selection ratio ρ held exactly as a decimal: `numerator / 10^scale` (DESIGN §2 step 1).
///
/// A binary `Double` cannot hold 0.07; `ceil(0.07 · 100)` in floating point is 8. Parsing the
/// decimal the user wrote (or the shortest decimal that round-trips a `Double`, which is what a
/// `Double` parsed from that text prints as) keeps ⌈ρ·|P|⌉ exact: 7.
public struct DecimalRatio: Sendable, Hashable, CustomStringConvertible {
    /// The decimal digits without the point, e.g. 7 for 0.07.
    public let numerator: UInt64
    /// Digits after the point, e.g. 2 for 0.07.
    public let scale: Int

    /// The largest scale kept exactly; a ratio with more digits after the point is below
    /// 10^−(scale − 19) and rounds its product up anyway (see ``ceilingOfProduct(_:)``).
    static let maxScale = 37

    /// Parses a plain or exponent decimal (`0.07`, `1`, `.5`, `5e-2`, `1E-05`). Returns nil for
    /// anything else: signs, spaces, hex, `nan`, `inf`, more than 19 significant digits, or a
    /// value above 1 (a ratio is at most 1) or not above 0.
    public init?(_ text: String) {
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            let tail = text[text.index(after: e)...]
            guard !tail.isEmpty, tail.count <= 6, let value = Int(tail) else { return nil }
            exponent = value
        }
        let parts = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard !(whole.isEmpty && fraction.isEmpty), (whole + fraction).allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var digits = Substring(String(whole + fraction).drop { $0 == "0" })
        var scale = fraction.count - exponent
        // Trailing zeros carry no value: 0.50 is 0.5.
        while scale > 0, digits.last == "0" {
            digits = digits.dropLast()
            scale -= 1
        }
        guard digits.count <= 19, let numerator = digits.isEmpty ? 0 : UInt64(digits), numerator > 0 else { return nil }
        // A negative scale means a whole number ≥ 10; with at least one digit that is above 1.
        guard scale >= 0 else { return nil }
        // Above 1: the numerator exceeds 10^scale.
        if scale < 20, numerator > Self.powerOfTen(scale) { return nil }
        self.numerator = numerator
        self.scale = scale
    }

    /// The shortest decimal that round-trips `value` (Swift's `description`), e.g. 0.07 → 7/100.
    /// Nil when `value` is not in (0, 1].
    public init?(_ value: Double) {
        guard value.isFinite, value > 0, value <= 1 else { return nil }
        self.init(value.description)
    }

    /// 1.
    public static let one = DecimalRatio(numerator: 1, scale: 0)

    private init(numerator: UInt64, scale: Int) {
        self.numerator = numerator
        self.scale = scale
    }

    /// The nearest `Double` (for display and plotting, never for N).
    public var doubleValue: Double { Double(description) ?? .nan }

    /// ⌈ratio · count⌉ in exact integer arithmetic; `count` must be ≥ 0.
    public func ceilingOfProduct(_ count: Int) -> Int {
        guard count > 0 else { return 0 }
        guard scale <= Self.maxScale else {
            // numerator < 10^19 and count < 2^63 < 10^19, so the product is < 10^38 ≤ 10^scale:
            // the exact value lies in (0, 1).
            return 1
        }
        let denominator = UInt128(Self.powerOfTen(scale: scale))
        let product = UInt128(numerator) * UInt128(count)  // < 10^19 · 2^63 < 2^127: no overflow
        let (quotient, remainder) = product.quotientAndRemainder(dividingBy: denominator)
        // ratio ≤ 1, so the quotient is ≤ count and fits in Int.
        return Int(quotient) + (remainder == 0 ? 0 : 1)
    }

    /// The decimal, e.g. `0.07`.
    public var description: String {
        let digits = String(numerator)
        guard scale > 0 else { return digits }
        let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
        let point = padded.index(padded.endIndex, offsetBy: -scale)
        return padded[..<point] + "." + padded[point...]
    }

    private static func powerOfTen(_ n: Int) -> UInt64 {
        var x: UInt64 = 1
        for _ in 0..<n { x = x &* 10 }
        return x
    }

    private static func powerOfTen(scale n: Int) -> UInt128 {
        var x: UInt128 = 1
        for _ in 0..<n { x *= 10 }
        return x
    }
}
