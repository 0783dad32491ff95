import Buffer
import Logging
import Observability

/// Keeps a daemon's database work going through outages (DESIGN §4): when the connection is lost
/// (the server restarted, is starting or shutting down, the network failed), it waits with
/// capped exponential backoff and jitter, reconnects (LISTENs included) and carries on. Each
/// outage is logged once when it starts and once, with its duration, when it ends.
///
/// Every daemon uses this one type; none of them reconnects on its own.
public struct DatabaseSupervisor: Sendable {
    /// The buffer whose connection this supervisor restores.
    public let buffer: ReplayBuffer
    let logger: Logger
    /// The first pause after a failed reconnect; doubled each time up to `maxDelay`.
    var initialDelay: Duration = .milliseconds(100)
    var maxDelay: Duration = .seconds(2)

    public init(buffer: ReplayBuffer, logger: Logger) {
        self.buffer = buffer
        self.logger = logger
    }

    /// Runs `body`; when it fails because the connection was lost, reconnects and runs it again,
    /// for as long as it takes. Use it only for work that is safe to repeat: idempotent, or
    /// fenced by a lease token (a submission whose lease expired meanwhile is then refused, never
    /// applied twice). Throws ``DaemonStopping`` if the daemon is asked to stop during an outage.
    public func perform<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        while true {
            do {
                return try await body()
            } catch  where ReplayBuffer.isConnectionLoss(error) {
                try await recover(from: error, during: what)
            }
        }
    }

    /// Waits until the connection is open again after `error` (a connection loss); logs the
    /// outage. Throws ``DaemonStopping`` if the daemon is asked to stop meanwhile.
    public func recover(from error: any Error, during what: String) async throws {
        let started = ContinuousClock.now
        OptuneMetrics.databaseOutageStarted()
        logger.warning(
            "database connection lost; reconnecting",
            metadata: [
                "during": "\(what)", "error": "\(Self.firstLine(of: error))",
            ])
        var delay = initialDelay
        var attempts = 0
        var lastReport = started
        while true {
            if Task.shouldStop { throw DaemonStopping() }
            attempts += 1
            do {
                try await buffer.reconnect()
                OptuneMetrics.databaseReconnected()
                logger.warning(
                    "database connection restored",
                    metadata: [
                        "during": "\(what)", "outage_s": "\(String(format: "%.1f", (ContinuousClock.now - started).seconds))",
                        "attempts": "\(attempts)",
                    ])
                return
            } catch {
                if ContinuousClock.now - lastReport > .seconds(60) {
                    lastReport = .now
                    logger.warning(
                        "database still unreachable; retrying",
                        metadata: [
                            "outage_s": "\(Int((ContinuousClock.now - started).seconds))", "error": "\(Self.firstLine(of: error))",
                        ])
                }
            }
            let jittered = delay * Double.random(in: 0.5...1.0)
            try? await Task.sleep(for: jittered)
            delay = min(delay * 2, maxDelay)
        }
    }

    /// Opens a buffer on `databaseURL`, waiting (with backoff) up to `patience` while the server
    /// cannot be reached, so a daemon started before its database, or during a restart, does not
    /// exit. Past `patience` the last connection error is thrown (a wrong host or a server that
    /// never comes is then reported instead of waited on forever).
    public static func connect(
        to databaseURL: String, applicationName: String, logger: Logger, patience: Duration = .seconds(300)
    ) async throws -> ReplayBuffer {
        var delay: Duration = .milliseconds(100)
        var warned = false
        let started = ContinuousClock.now
        while true {
            do {
                let buffer = try await ReplayBuffer.connect(to: databaseURL, applicationName: applicationName)
                OptuneMetrics.databaseConnected()
                return buffer
            } catch  where ReplayBuffer.isConnectionLoss(error) {
                if Task.shouldStop { throw DaemonStopping() }
                if ContinuousClock.now - started >= patience { throw error }
                if !warned {
                    warned = true
                    logger.warning(
                        "database unreachable; waiting for it",
                        metadata: [
                            "error": "\(firstLine(of: error))", "patience_s": "\(Int(patience.seconds))",
                        ])
                }
                try? await Task.sleep(for: delay * Double.random(in: 0.5...1.0))
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    static func firstLine(of error: any Error) -> String {
        String("\(error)".split(separator: "\n", maxSplits: 1).first ?? "")
    }
}

/// The daemon was asked to stop (SIGTERM/SIGINT) while it waited for the database.
public struct DaemonStopping: Error, CustomStringConvertible {
    public var description: String { "stopping while the database is unreachable" }
}
