import Postgres

/// Waits for work: a LISTEN on `optune_work` with a polling fallback.
///
/// NOTIFY is only a hint (it is lost through transaction-mode poolers and across reconnects), so
/// a wait always ends after `pollInterval` and the caller looks for work anyway. If the listening
/// connection fails, waits degrade to plain sleeps.
public actor WakeUp {
    private var listener: Connection?
    private let pollInterval: Duration

    public init(databaseURL: String, pollInterval: Duration) async {
        self.pollInterval = pollInterval
        if let connection = try? await Connection.connect(to: databaseURL, applicationName: "optune-listen") {
            if (try? await connection.listen("optune_work")) != nil { listener = connection }
        }
    }

    /// Returns when a notification arrives or after the poll interval (or shorter `timeout`).
    public func wait(upTo timeout: Duration? = nil) async {
        let limit = min(timeout ?? pollInterval, pollInterval)
        if let listener {
            do {
                _ = try await listener.waitForNotification(timeout: limit)
                return
            } catch {
                self.listener = nil
            }
        }
        try? await Task.sleep(for: limit)
    }

    public func close() async {
        await listener?.close()
        listener = nil
    }
}
