import Postgres

/// Waits for work: a LISTEN on `optune_work` with a polling fallback. Only notifications that
/// can concern the waiter's ``WorkNotice/Audience`` end a wait.
///
/// NOTIFY is only a hint (it is lost through transaction-mode poolers and across reconnects), so
/// a wait always ends after `pollInterval` and the caller looks for work anyway. If the listening
/// connection fails (the database restarted), waits degrade to plain sleeps and the listener is
/// opened again, at most every few seconds, until it works.
public actor WakeUp {
    private let databaseURL: String
    private var listener: Connection?
    private let pollInterval: Duration
    private let audience: WorkNotice.Audience
    private var lastAttempt: ContinuousClock.Instant?
    private let retryInterval: Duration = .seconds(2)

    public init(databaseURL: String, pollInterval: Duration, audience: WorkNotice.Audience = .coordinators) async {
        self.databaseURL = databaseURL
        self.pollInterval = pollInterval
        self.audience = audience
        await openListener()
    }

    /// Returns when a notification for this audience arrives or after the poll interval (or
    /// shorter `timeout`).
    public func wait(upTo timeout: Duration? = nil) async {
        let limit = min(timeout ?? pollInterval, pollInterval)
        let deadline = ContinuousClock.now + limit
        if listener == nil, let lastAttempt, ContinuousClock.now - lastAttempt >= retryInterval {
            await openListener()
        }
        if let listener {
            do {
                while true {
                    let remaining = deadline - ContinuousClock.now
                    guard remaining > .zero, let notice = try await listener.waitForNotification(timeout: remaining) else { return }
                    if WorkNotice.concerns(notice.payload, audience) { return }
                }
            } catch {
                await listener.close()
                self.listener = nil
            }
        }
        try? await Task.sleep(for: limit)
    }

    public func close() async {
        await listener?.close()
        listener = nil
    }

    private func openListener() async {
        lastAttempt = .now
        guard let connection = try? await Connection.connect(to: databaseURL, applicationName: "optune-listen", countsAsWork: false) else {
            return
        }
        if (try? await connection.listen(WorkNotice.channel)) != nil {
            listener = connection
        } else {
            await connection.close()
        }
    }
}
