import Foundation

/// Maps a data interval onto a pixel interval (reversed for y: larger values go up).
struct LinearScale {
    var domain: (lower: Double, upper: Double)
    var range: (start: Double, end: Double)

    func callAsFunction(_ value: Double) -> Double {
        let span = domain.upper - domain.lower
        guard span > 0, value.isFinite else { return range.start }
        let clamped = Swift.min(Swift.max(value, domain.lower), domain.upper)
        return range.start + (clamped - domain.lower) / span * (range.end - range.start)
    }
}

/// Round tick values covering a data interval: steps of 1, 2, 2.5 or 5 × 10^k.
struct Ticks {
    var values: [Double]
    var step: Double
    var lower: Double
    var upper: Double

    /// Ticks for [`lower`, `upper`] (padded when degenerate), about `target` of them. With
    /// `integer`, steps are whole numbers (iterations).
    init(lower rawLower: Double, upper rawUpper: Double, target: Int = 6, integer: Bool = false) {
        var lower = rawLower.isFinite ? rawLower : 0
        var upper = rawUpper.isFinite ? rawUpper : 1
        if lower > upper { swap(&lower, &upper) }
        if upper - lower < 1e-12 {
            let pad = integer ? 1 : Swift.max(abs(lower) * 0.1, 0.05)
            lower -= pad
            upper += pad
        }
        let rough = (upper - lower) / Double(Swift.max(1, target))
        let power = pow(10, (log10(rough)).rounded(.down))
        var step = [1, 2, 2.5, 5, 10].map { $0 * power }.first { $0 >= rough * 0.999 } ?? 10 * power
        if integer { step = Swift.max(1, step.rounded(.up)) }
        let first = (lower / step).rounded(.down) * step
        let last = (upper / step).rounded(.up) * step
        var values: [Double] = []
        var k = 0.0
        while first + k * step <= last + step * 1e-9, values.count < 100 {
            values.append(first + k * step)
            k += 1
        }
        self.values = values
        self.step = step
        self.lower = first
        self.upper = last
    }
}
