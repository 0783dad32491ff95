import Observability

/// A circuit breaker for one HTTP endpoint, shared by every request a daemon sends there.
///
/// - closed: requests go out; every transport failure or 5xx adds to a count of consecutive
///   failures, any other answer resets it. At `failureThreshold` the circuit opens.
/// - open: requests fail at once (as `unavailable`, so their tasks go back to the queue without
///   counting an attempt), and `isAvailable` is false, so the daemon stops leasing. Every
///   `probeInterval`, `isAvailable` probes the endpoint; a successful probe half-opens it.
/// - half-open: requests go out again; the first success closes the circuit, the first
///   failure opens it again.
public actor CircuitBreaker {
    public struct Settings: Sendable, Hashable {
        /// Consecutive transport / 5xx failures that open the circuit.
        public var failureThreshold = 5
        /// How often an open circuit probes its endpoint.
        public var probeInterval: Duration = .seconds(5)

        public init(failureThreshold: Int = 5, probeInterval: Duration = .seconds(5)) {
            self.failureThreshold = failureThreshold
            self.probeInterval = probeInterval
        }
    }

    public enum State: String, Sendable {
        case closed, open, halfOpen = "half-open"
    }

    public let settings: Settings
    /// Names the endpoint in metrics (`optune_backend_circuit_state`); nil: not recorded.
    let metricsName: String?
    public private(set) var state: State = .closed {
        didSet { if let metricsName, state != oldValue { OptuneMetrics.circuit(endpoint: metricsName, state: state.rawValue) } }
    }
    private var consecutiveFailures = 0
    private var lastFailure: String?
    private var nextProbe: ContinuousClock.Instant = .now
    private var probing = false
    private var tripped = false

    public init(settings: Settings = Settings()) {
        self.settings = settings
        metricsName = nil
    }

    /// A breaker whose state is recorded as the metrics of endpoint `metricsName`.
    init(settings: Settings, metricsName: String) {
        self.settings = settings
        self.metricsName = metricsName
        OptuneMetrics.circuit(endpoint: metricsName, state: State.closed.rawValue)
    }

    /// Whether a request may go out now.
    func allowsRequest() -> Bool { state != .open }

    /// The endpoint answered (anything but a 5xx): resets the failure count and closes the circuit.
    func recordSuccess() {
        consecutiveFailures = 0
        tripped = false
        state = .closed
    }

    /// A transport failure or 5xx.
    func recordFailure(_ reason: String) {
        consecutiveFailures += 1
        lastFailure = reason
        tripped = false
        if state == .halfOpen || (state == .closed && consecutiveFailures >= settings.failureThreshold) {
            state = .open
            nextProbe = .now + settings.probeInterval
        }
    }

    /// Opens the circuit at once: the endpoint answers, but not in a way any request can use
    /// (HTTP 401/403, a base URL without /v1/models) — a daemon problem, not a task's.
    func trip(_ reason: String) {
        lastFailure = reason
        tripped = true
        state = .open
        nextProbe = .now + settings.probeInterval
    }

    /// Why the circuit is open, for error messages.
    func openDescription() -> String {
        (tripped
            ? "circuit open (\(lastFailure ?? "?")); "
            : "circuit open after \(consecutiveFailures) consecutive failures (last: \(lastFailure ?? "?")); ")
            + "probing every \(settings.probeInterval.formattedSeconds)"
    }

    /// Closed or half-open: true. Open: probes with `probe` when a probe is due, half-opens and
    /// returns true when it succeeds; false otherwise.
    func isAvailable(probe: @Sendable () async -> Bool) async -> Bool {
        guard state == .open else { return true }
        guard !probing, ContinuousClock.now >= nextProbe else { return false }
        probing = true
        let answered = await probe()
        probing = false
        if answered {
            if state == .open { state = .halfOpen }
            return true
        }
        nextProbe = .now + settings.probeInterval
        return state != .open
    }
}

extension Duration {
    /// "5 s", "0.25 s".
    var formattedSeconds: String {
        let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
        return seconds == seconds.rounded() && abs(seconds) < 1e15 ? "\(Int(seconds)) s" : "\(seconds) s"
    }

    var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
