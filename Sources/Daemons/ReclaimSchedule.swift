import Synchronization

/// When a loop next reclaims expired leases: at once the first time, then at most once per
/// `interval`. A lease lasts tens of seconds or more, so a second's delay in finding that it
/// expired changes nothing, while a reclaim on every wake-up (every submission of every worker
/// notifies) costs the database a statement and the caller a round trip each time.
final class ReclaimSchedule: Sendable {
    private let interval: Duration
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(every interval: Duration = .seconds(1)) {
        self.interval = interval
    }

    /// Whether a reclaim is due now; if so, counts it as done.
    func isDue(now: ContinuousClock.Instant = .now) -> Bool {
        last.withLock { last in
            if let previous = last, now - previous < interval { return false }
            last = now
            return true
        }
    }
}
