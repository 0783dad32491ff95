import Foundation

/// One measured line of `optune bench`: what, how fast, against which baseline.
public struct BenchmarkRow: Sendable {
    public var section: String
    public var name: String
    public var value: Double
    public var unit: String
    /// A comparison such as "10.2× naive" or "61% of ceiling", if any.
    public var comparison: String

    public init(section: String, name: String, value: Double, unit: String, comparison: String = "") {
        self.section = section
        self.name = name
        self.value = value
        self.unit = unit
        self.comparison = comparison
    }
}

/// Collects rows and summary figures and prints them as a table plus one JSON summary line.
public struct BenchmarkReport: Sendable {
    public private(set) var rows: [BenchmarkRow] = []
    /// Machine-readable figures, printed last as `BENCH-SUMMARY {json}`.
    public private(set) var summary: [String: Double] = [:]

    public init() {}

    public mutating func add(_ row: BenchmarkRow) { rows.append(row) }
    public mutating func record(_ key: String, _ value: Double) { summary[key] = value }

    /// The table, one line per row, columns aligned.
    public func table() -> String {
        let header = ["section", "measurement", "value", "unit", "compared with baselines"]
        let cells = rows.map { [$0.section, $0.name, Self.format($0.value), $0.unit, $0.comparison] }
        let widths = (0..<header.count).map { column in
            ([header[column]] + cells.map { $0[column] }).map(\.count).max() ?? 0
        }
        func line(_ values: [String]) -> String {
            values.enumerated().map { column, value in
                column == 2 ? value.leftPadded(to: widths[column]) : value.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + cells.map(line)).joined(separator: "\n")
    }

    /// `BENCH-SUMMARY {"key": value, …}` with keys sorted.
    public func summaryLine() -> String {
        let fields = summary.keys.sorted().map { "\"\($0)\": \(Self.jsonNumber(summary[$0]!))" }
        return "BENCH-SUMMARY {" + fields.joined(separator: ", ") + "}"
    }

    static func format(_ value: Double) -> String {
        if value >= 1000 { return String(format: "%.0f", value).groupedThousands() }
        if value >= 100 { return String(format: "%.1f", value) }
        return String(format: "%.3f", value)
    }

    static func jsonNumber(_ value: Double) -> String {
        value.isFinite ? String(format: "%.6g", value) : "null"
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }

    func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }

    func groupedThousands() -> String {
        var digits = Array(self)
        var result = ""
        while digits.count > 3 {
            result = "," + String(digits.suffix(3)) + result
            digits.removeLast(3)
        }
        return String(digits) + result
    }
}
