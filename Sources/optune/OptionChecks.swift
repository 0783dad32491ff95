import ArgumentParser

/// Range checks for numeric options, run from `validate()`: a bad value is a usage error naming
/// the option, never a trap further on (an `Int32` column, a `Duration` in milliseconds).
enum OptionCheck {
    /// `value` must lie in `range`.
    static func integer<T: BinaryInteger>(_ value: T, in range: ClosedRange<T>, _ flag: String) throws {
        if value < range.lowerBound { throw ValidationError("\(flag) must be at least \(range.lowerBound), got \(value)") }
        if value > range.upperBound { throw ValidationError("\(flag) must be at most \(range.upperBound), got \(value)") }
    }

    /// `value` must be a finite number of seconds in (0, `maximum`].
    static func seconds(_ value: Double, upTo maximum: Double, _ flag: String, allowZero: Bool = false) throws {
        guard value.isFinite, allowZero ? value >= 0 : value > 0, value <= maximum else {
            let range = allowZero ? "[0, \(Int(maximum))]" : "(0, \(Int(maximum))]"
            throw ValidationError("\(flag) must be a number of seconds in \(range), got \(value)")
        }
    }

    /// A day, the longest timeout or probe interval an option accepts.
    static let day = 86_400.0
    /// A week, the longest lease.
    static let week = 604_800.0
}
