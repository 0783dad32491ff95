import CLibPQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A message delivered by `NOTIFY`.
public struct Notification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    /// The server process that sent it.
    public var senderPID: Int32
}

extension Connection {
    /// Subscribes this session to `channel`. The channel name is quoted as an identifier.
    public func listen(_ channel: String) throws {
        try simpleQuery("LISTEN \(try quoteIdentifier(channel))")
        listeningChannels.insert(channel)
    }

    /// Unsubscribes this session from `channel`.
    public func unlisten(_ channel: String) throws {
        try simpleQuery("UNLISTEN \(try quoteIdentifier(channel))")
        listeningChannels.remove(channel)
    }

    /// Sends `payload` on `channel` (delivered when the current transaction commits).
    public func notify(_ channel: String, payload: String = "") throws {
        try execute("SELECT pg_notify($1, $2)", [channel, payload])
    }

    /// Waits up to `timeout` for a notification on a channel this session listens to.
    ///
    /// Returns nil on timeout. It blocks this connection (not the cooperative pool) while waiting,
    /// so listen on a connection of its own. Notifications can be lost across reconnects and
    /// through transaction-mode poolers: treat them as wake-ups and keep polling as a fallback.
    public func waitForNotification(timeout: Duration) throws -> Notification? {
        let connection = try liveHandle(for: nil)
        let deadline = ContinuousClock.now + timeout
        while true {
            guard PQconsumeInput(connection) == 1 else { throw error(from: nil, sql: nil) }
            if let notification = PQnotifies(connection) {
                defer { PQfreemem(notification) }
                return Notification(
                    channel: String(cString: notification.pointee.relname),
                    payload: String(cString: notification.pointee.extra),
                    senderPID: notification.pointee.be_pid)
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return nil }
            let milliseconds = Int32(
                min(min(remaining.components.seconds, 60) * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno != EINTR {
                throw PostgresError(code: .connectionClosed, message: "poll on the connection socket failed: errno \(errno)")
            }
        }
    }

    /// Quotes `identifier` for use as an SQL identifier (libpq's `PQescapeIdentifier`).
    public func quoteIdentifier(_ identifier: String) throws -> String {
        let connection = try liveHandle(for: nil)
        guard let quoted = PQescapeIdentifier(connection, identifier, identifier.utf8.count) else {
            throw PostgresError(code: .unexpectedResponse, message: String(cString: PQerrorMessage(connection)))
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }
}
