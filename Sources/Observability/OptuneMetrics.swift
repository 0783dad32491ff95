import Metrics

/// Every metric optune records, in one place: names, labels and what they count (see
/// docs/metrics.md). Recording goes through swift-metrics, so it costs nothing until a process
/// serves metrics (``MetricsEndpoint/start(port:)`` bootstraps the Prometheus backend).
///
/// Label values are queue names, run names, iteration states and HTTP endpoint names (scheme,
/// host, port and path; never credentials).
public enum OptuneMetrics {
    /// Metric names, as scraped.
    public enum Name {
        public static let tasksLeased = "optune_tasks_leased_total"
        public static let tasksCompleted = "optune_tasks_completed_total"
        public static let tasksFailed = "optune_tasks_failed_total"
        public static let tasksReturned = "optune_tasks_returned_total"
        public static let tasksExpired = "optune_tasks_expired_total"
        public static let leaseDuration = "optune_lease_duration_seconds"
        public static let submitDuration = "optune_submit_duration_seconds"
        public static let batchDuration = "optune_batch_duration_seconds"
        public static let responsesGenerated = "optune_responses_generated_total"
        public static let tokensGenerated = "optune_tokens_generated_total"
        public static let rewardsScored = "optune_rewards_scored_total"
        public static let runIteration = "optune_run_iteration"
        public static let iterationState = "optune_iteration_state"
        public static let databaseOutages = "optune_database_outages_total"
        public static let databaseReconnects = "optune_database_reconnects_total"
        public static let databaseConnected = "optune_database_connected"
        public static let backendRequests = "optune_backend_requests_total"
        public static let backendRetries = "optune_backend_retries_total"
        public static let backendCircuitOpen = "optune_backend_circuit_open"
        public static let backendCircuitState = "optune_backend_circuit_state"
    }

    /// The iteration states `optune_iteration_state` has one series for each.
    public static let iterationStates = ["selecting", "generating", "scoring", "building", "training", "evaluating", "done", "failed"]

    // MARK: Work queues (generation, scoring, training)

    /// Registers the counters of `queue` at zero, so dashboards see them before the first task.
    public static func prepare(_ queue: String) {
        for name in [Name.tasksLeased, Name.tasksCompleted, Name.tasksFailed, Name.tasksReturned, Name.tasksExpired] {
            Counter(label: name, dimensions: [("queue", queue)]).increment(by: 0)
        }
        switch queue {
        case "generation":
            Counter(label: Name.responsesGenerated).increment(by: 0)
            Counter(label: Name.tokensGenerated).increment(by: 0)
        case "scoring": Counter(label: Name.rewardsScored).increment(by: 0)
        default: break
        }
    }

    /// `count` tasks of `queue` were leased.
    public static func leased(_ queue: String, count: Int, after duration: Duration) {
        Timer(label: Name.leaseDuration, dimensions: [("queue", queue)]).record(duration: duration)
        guard count > 0 else { return }
        Counter(label: Name.tasksLeased, dimensions: [("queue", queue)]).increment(by: count)
    }

    /// `count` leased tasks of `queue` finished with their results submitted.
    public static func completed(_ queue: String, count: Int) {
        guard count > 0 else { return }
        Counter(label: Name.tasksCompleted, dimensions: [("queue", queue)]).increment(by: count)
    }

    /// `count` tasks of `queue` failed (counted as an attempt: back to pending, or dead).
    public static func failed(_ queue: String, count: Int) {
        guard count > 0 else { return }
        Counter(label: Name.tasksFailed, dimensions: [("queue", queue)]).increment(by: count)
    }

    /// `count` tasks of `queue` went back to the queue uncounted (backend unavailable, shutdown).
    public static func returned(_ queue: String, count: Int) {
        guard count > 0 else { return }
        Counter(label: Name.tasksReturned, dimensions: [("queue", queue)]).increment(by: count)
    }

    /// `count` leases of `queue` expired and were reclaimed (a worker died or hung).
    public static func expired(_ queue: String, count: Int) {
        guard count > 0 else { return }
        Counter(label: Name.tasksExpired, dimensions: [("queue", queue)]).increment(by: count)
    }

    /// A batch's submission (one fenced transaction, retried across outages) took `duration`.
    public static func submitted(_ queue: String, after duration: Duration) {
        Timer(label: Name.submitDuration, dimensions: [("queue", queue)]).record(duration: duration)
    }

    /// A leased batch took `duration` from lease to settled.
    public static func batchProcessed(_ queue: String, after duration: Duration) {
        Timer(label: Name.batchDuration, dimensions: [("queue", queue)]).record(duration: duration)
    }

    /// Results stored for a batch of `queue`: responses for generation, rewards for scoring.
    public static func stored(_ queue: String, count: Int) {
        guard count > 0 else { return }
        switch queue {
        case "generation": Counter(label: Name.responsesGenerated).increment(by: count)
        case "scoring": Counter(label: Name.rewardsScored).increment(by: count)
        default: break
        }
    }

    /// Tokens in responses the generator stored.
    public static func tokensGenerated(_ count: Int) {
        guard count > 0 else { return }
        Counter(label: Name.tokensGenerated).increment(by: count)
    }

    // MARK: Runs

    /// The run's latest iteration is `t`, in `state`: sets `optune_run_iteration{run}` and
    /// `optune_iteration_state{run,state}` (1 for the current state, 0 for the others).
    public static func iteration(run: String, t: Int, state: String) {
        Gauge(label: Name.runIteration, dimensions: [("run", run)]).record(t)
        for candidate in iterationStates {
            Gauge(label: Name.iterationState, dimensions: [("run", run), ("state", candidate)]).record(candidate == state ? 1 : 0)
        }
    }

    // MARK: Database

    /// The database connection was lost (an outage began).
    public static func databaseOutageStarted() {
        Counter(label: Name.databaseOutages).increment()
        Gauge(label: Name.databaseConnected).record(0)
    }

    /// The connection was restored.
    public static func databaseReconnected() {
        Counter(label: Name.databaseReconnects).increment()
        Gauge(label: Name.databaseConnected).record(1)
    }

    /// A daemon connected to its database.
    public static func databaseConnected() {
        Gauge(label: Name.databaseConnected).record(1)
    }

    // MARK: HTTP backends

    /// One HTTP attempt to `endpoint` ended with `outcome`: "2xx", "4xx", "429", "5xx",
    /// "timeout", "unreachable", "transient" or "fatal".
    public static func backendRequest(endpoint: String, outcome: String) {
        Counter(label: Name.backendRequests, dimensions: [("endpoint", endpoint), ("outcome", outcome)]).increment()
    }

    /// A request to `endpoint` is retried.
    public static func backendRetry(endpoint: String) {
        Counter(label: Name.backendRetries, dimensions: [("endpoint", endpoint)]).increment()
    }

    /// The circuit of `endpoint` is now `state` ("closed", "open", "half-open").
    public static func circuit(endpoint: String, state: String) {
        Gauge(label: Name.backendCircuitOpen, dimensions: [("endpoint", endpoint)]).record(state == "open" ? 1 : 0)
        for candidate in ["closed", "open", "half-open"] {
            Gauge(label: Name.backendCircuitState, dimensions: [("endpoint", endpoint), ("state", candidate)])
                .record(candidate == state ? 1 : 0)
        }
    }
}
