import Postgres

extension ReplayBuffer {
    /// Drops this buffer's session and opens a new one (LISTENs included). Throws, and stays
    /// closed, while the server cannot be reached: call it again later.
    public func reconnect() async throws {
        try await connection.reconnect()
    }

    /// Closes this buffer's connection; later calls fail.
    public func close() async {
        await connection.close()
    }

    /// Whether `error` means the database connection was lost or refused (the server restarted,
    /// is shutting down or starting, or the network failed), so reconnecting later can fix it.
    /// The statement that failed may or may not have taken effect.
    public static func isConnectionLoss(_ error: any Error) -> Bool {
        switch error {
        case let error as PostgresError: error.isConnectionLoss
        case let error as BufferError: error.underlying?.isConnectionLoss ?? false
        default: false
        }
    }
}
