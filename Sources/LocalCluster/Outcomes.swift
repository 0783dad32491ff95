/// What ``LocalCluster/start()`` did.
public enum StartOutcome: Sendable, Equatable {
    /// The server was started (and the cluster created first if it did not exist).
    case started
    /// A server was already running on this data directory; nothing was started.
    case alreadyRunning
}

/// What ``LocalCluster/stop()`` did.
public enum StopOutcome: Sendable, Equatable {
    /// The server was running and has shut down.
    case stopped
    /// No server was running; nothing was done.
    case notRunning
}
