import Foundation

/// The isolation level of a transaction.
public enum IsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

extension Connection {
    /// Runs `body` in a transaction on this connection and commits it; rolls back if it throws.
    ///
    /// `body` runs synchronously on the connection (it is isolated to it), so no other caller's
    /// statement can interleave with the transaction. With `maxAttempts > 1`, a serialization
    /// failure (40001) or deadlock (40P01) rolls back and runs `body` again after a short,
    /// jittered pause; `body` must then be safe to repeat.
    @discardableResult
    public func transaction<T: Sendable>(
        _ isolation: IsolationLevel = .readCommitted,
        maxAttempts: Int = 1,
        _ body: @Sendable (isolated Connection) throws -> T
    ) throws -> T {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        var attempt = 1
        while true {
            try simpleQuery("BEGIN ISOLATION LEVEL \(isolation.rawValue)")
            do {
                let value = try body(self)
                try simpleQuery("COMMIT")
                return value
            } catch {
                if isOpen { try? simpleQuery("ROLLBACK") }
                guard let failure = error as? PostgresError, failure.isTransient, attempt < maxAttempts else {
                    throw error
                }
                attempt += 1
                let pause = Double.random(in: 0.005...0.02) * Double(attempt)
                Thread.sleep(forTimeInterval: pause)  // on this connection's queue, not the cooperative pool
            }
        }
    }

    /// Runs `body` while holding a session-level advisory lock on `key`, waiting for it if needed.
    public func withAdvisoryLock<T: Sendable>(_ key: Int64, _ body: @Sendable (isolated Connection) throws -> T) throws -> T {
        try execute("SELECT pg_advisory_lock($1)", [key])
        defer { _ = try? execute("SELECT pg_advisory_unlock($1)", [key]) }
        return try body(self)
    }
}

extension Connection {
    /// Runs `body` synchronously on this connection, with no transaction of its own: use it to
    /// group several statements without another caller's statements interleaving.
    @discardableResult
    public func run<T: Sendable>(_ body: @Sendable (isolated Connection) throws -> T) throws -> T {
        try body(self)
    }
}
