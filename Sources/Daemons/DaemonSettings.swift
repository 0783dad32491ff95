import Buffer
import ServiceLifecycle

/// Settings every worker daemon shares.
public struct DaemonSettings: Sendable {
    /// Tasks leased per batch.
    public var batchSize = 256
    /// How long a lease lasts; a killed worker's tasks return to the queue after this.
    public var leaseSeconds = 30.0
    /// The longest wait between looks for work when no notification arrives.
    public var pollInterval: Duration = .milliseconds(500)
    /// Only work on this run, if set.
    public var run: Int64?
    /// A pause between generating and submitting each batch: a fault-injection aid for tests
    /// that kill a worker mid-batch. Zero in normal use.
    public var delayBeforeSubmit: Duration = .zero
    /// While the backend reports itself unavailable (an HTTP endpoint's circuit is open, or the
    /// server does not serve the policy yet), the daemon leases nothing and asks it again after
    /// this pause; the backend probes its endpoint on its own schedule.
    public var unavailablePause: Duration = .seconds(1)
    /// How long a starting daemon waits for a database it cannot reach before it gives up with
    /// the connection error. Once connected, a daemon waits out any outage.
    public var startupPatience: Duration = .seconds(300)
    /// Prompt contents already read, shared by the daemons given the same cache (one database
    /// only). Nil: every batch reads its prompts from the database.
    public var promptCache: PromptCache?

    public init() {}
}

extension Task where Success == Never, Failure == Never {
    /// Whether a daemon loop should stop: cancelled, or asked to shut down gracefully (SIGTERM).
    static var shouldStop: Bool {
        Task.isCancelled || Task.isShuttingDownGracefully
    }
}
