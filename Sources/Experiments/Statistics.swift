import Foundation

/// A mean with its 95% confidence interval (Student's t over the samples).
public struct Estimate: Sendable, Hashable {
    public var mean: Double
    /// Half-width of the 95% interval; nil with fewer than two samples.
    public var halfWidth: Double?
    public var count: Int

    /// The estimate of the mean of `samples`.
    public init(_ samples: [Double]) {
        count = samples.count
        mean = samples.isEmpty ? .nan : samples.reduce(0, +) / Double(samples.count)
        guard samples.count >= 2 else {
            halfWidth = nil
            return
        }
        let variance = samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples.count - 1)
        halfWidth = Self.tCritical95(degreesOfFreedom: samples.count - 1) * (variance / Double(samples.count)).squareRoot()
    }

    /// Whether the interval excludes zero (the difference is distinguishable from none).
    public var excludesZero: Bool {
        guard let halfWidth else { return false }
        return mean - halfWidth > 0 || mean + halfWidth < 0
    }

    /// `0.8123 ± 0.0041`.
    public func formatted(digits: Int = 4) -> String {
        guard count > 0 else { return "—" }
        let value = String(format: "%+.\(digits)f", mean).replacingOccurrences(of: "+", with: mean < 0 ? "" : "")
        guard let halfWidth else { return value }
        return value + String(format: " ± %.\(digits)f", halfWidth)
    }

    /// Two-sided 95% critical values of Student's t for 1…30 degrees of freedom; 1.96 beyond.
    static func tCritical95(degreesOfFreedom df: Int) -> Double {
        let table: [Double] = [
            12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
            2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        ]
        return df >= 1 && df <= table.count ? table[df - 1] : 1.96
    }
}
