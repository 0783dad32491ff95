import Synchronization

/// When a loop next does something it need not do on every round: at once the first time, then
/// at most once per `interval`. Reclaiming expired leases (every second: a lease lasts tens of
/// seconds or more, so a second's delay in finding that it expired changes nothing) and
/// refreshing a worker's heartbeat (every 10 s: `optune status` calls a worker stale after 30 s)
/// would otherwise cost the database a statement on every wake-up, and every submission of every
/// worker wakes every loop.
final class PeriodicSchedule: Sendable {
    private let interval: Duration
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(every interval: Duration = .seconds(1)) {
        self.interval = interval
    }

    /// Whether the action is due now; if so, counts it as done.
    func isDue(now: ContinuousClock.Instant = .now) -> Bool {
        last.withLock { last in
            if let previous = last, now - previous < interval { return false }
            last = now
            return true
        }
    }
}
