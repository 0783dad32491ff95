import Foundation

/// Number formatting shared by the charts and tables.
enum Format {
    /// A reward with three decimals, or an en dash for none.
    static func reward(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.3f", value)
    }

    /// A signed value with three decimals (gains).
    static func signed(_ value: Double) -> String {
        guard value.isFinite else { return "–" }
        return String(format: "%+.3f", value)
    }

    /// A share as a percentage, e.g. `87%`.
    static func percent(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.0f%%", value * 100)
    }

    /// A count with thin grouping, e.g. `1 234 567` (narrow no-break spaces).
    static func count(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "\u{202F}" }
            out.append(c)
        }
        return value < 0 ? "−" + out : out
    }

    /// A compact count for axes: `850`, `12k`, `1.5M`.
    static func compact(_ value: Double) -> String {
        let magnitude = abs(value)
        let (scaled, suffix): (Double, String) =
            magnitude >= 1e9
            ? (value / 1e9, "G") : magnitude >= 1e6 ? (value / 1e6, "M") : magnitude >= 1e3 ? (value / 1e3, "k") : (value, "")
        return trimmed(scaled, maxDecimals: 2) + suffix
    }

    /// An axis tick value with as many decimals as `step` needs (0.25 → 2, 0.1 → 1, 5 → 0).
    static func tick(_ value: Double, step: Double) -> String {
        var decimals = 0
        while decimals < 6 {
            let scaled = step * pow(10, Double(decimals))
            if abs(scaled - scaled.rounded()) < 1e-6 * max(1, scaled) { break }
            decimals += 1
        }
        let text = String(format: "%.\(decimals)f", value)
        return Double(text) == 0 ? String(format: "%.\(decimals)f", 0.0) : text
    }

    /// A coordinate for SVG: at most two decimals, no trailing zeros.
    static func coordinate(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        return trimmed(value, maxDecimals: 2)
    }

    static func trimmed(_ value: Double, maxDecimals: Int) -> String {
        var text = String(format: "%.\(maxDecimals)f", value)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }
}
