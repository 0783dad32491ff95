import Postgres

/// The hub's Swift API: every read and write of the replay buffer goes through here.
///
/// A `ReplayBuffer` wraps one ``Connection``; give each concurrent writer its own. The connection
/// is the package's own (`package`): users of the library, like the daemons and the CLI, call the
/// buffer's operations and never compose SQL themselves. All SQL is
/// parameterised; bulk writes go through binary COPY into a session-local staging table and one
/// set-based `INSERT … SELECT … ON CONFLICT DO NOTHING`, so a resubmitted batch is a no-op and a
/// failed batch leaves nothing half-written.
public struct ReplayBuffer: Sendable {
    package let connection: Connection

    package init(connection: Connection) {
        self.connection = connection
    }

    /// Connects to `conninfo` and returns a buffer on that connection.
    public static func connect(to conninfo: String, applicationName: String = "optune") async throws -> ReplayBuffer {
        ReplayBuffer(connection: try await Connection.connect(to: conninfo, applicationName: applicationName))
    }
}

/// A write was refused; nothing of the batch was stored.
public struct BufferError: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// The position in the submitted batch of the row at fault, when one row is.
    public var row: Int?
    /// The database error underneath, if any.
    public var underlying: PostgresError?

    public init(_ message: String, row: Int? = nil, underlying: PostgresError? = nil) {
        self.message = message
        self.row = row
        self.underlying = underlying
    }

    public var description: String {
        var text = message
        if let underlying { text += " (\(underlying.sqlState ?? "") \(underlying.constraint ?? underlying.message))" }
        return text
    }
}
