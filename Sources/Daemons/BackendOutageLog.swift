import Logging

/// Logs an outage of a daemon's backend once when it starts and once when it ends, and keeps
/// the worker's heartbeat fresh meanwhile.
struct OutageLog {
    let logger: Logger
    let what: String
    private var since: ContinuousClock.Instant?
    private var lastHeartbeat: ContinuousClock.Instant = .now

    init(logger: Logger, what: String) {
        self.logger = logger
        self.what = what
    }

    mutating func unavailable(heartbeat: () async throws -> Void) async throws {
        if since == nil {
            since = .now
            logger.warning("\(what) unavailable: leasing nothing until it answers again")
        }
        if ContinuousClock.now - lastHeartbeat > .seconds(10) {
            try await heartbeat()
            lastHeartbeat = .now
        }
    }

    mutating func available() {
        guard let since else { return }
        logger.info("\(what) available again; leasing", metadata: ["down_s": "\(Int((ContinuousClock.now - since).seconds))"])
        self.since = nil
    }
}
