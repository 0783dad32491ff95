import Buffer
import Foundation
import Logging

/// Who a daemon is, as recorded in `optune.workers` and in lease owners.
public struct WorkerIdentity: Sendable, Hashable {
    public var id: String
    public var role: String
    public var host: String
    public var pid: Int32

    /// A fresh identity for `role` on this host and process.
    public init(role: String) {
        self.role = role
        host = ProcessInfo.processInfo.hostName
        pid = ProcessInfo.processInfo.processIdentifier
        id = "\(role)-\(host)-\(pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The optune version recorded with workers.
    public static let version = "0.1.0"

    /// `logger` with this worker's id in its metadata.
    public func tagging(_ logger: Logger) -> Logger {
        var logger = logger
        logger[metadataKey: "worker"] = "\(id)"
        return logger
    }

    /// Registers the worker, or refreshes its heartbeat.
    func heartbeat(_ buffer: ReplayBuffer) async throws {
        try await buffer.heartbeat(worker: id, role: role, host: host, pid: pid, version: Self.version)
    }

    /// Runs `body` while a background task refreshes this worker's heartbeat every `interval`, so
    /// a worker busy with one long batch is not shown as stale by `optune status`.
    func keepingHeartbeat<T>(
        _ buffer: ReplayBuffer, every interval: Duration = .seconds(10), _ body: () async throws -> T
    ) async throws -> T {
        let beat = Task { [self] in
            while true {
                do { try await Task.sleep(for: interval) } catch { return }
                try? await heartbeat(buffer)
            }
        }
        defer { beat.cancel() }
        return try await body()
    }

    /// Registers the worker as serving `run` only (nil: any run), for `optune status`.
    func register(_ buffer: ReplayBuffer, run: Int64?) async throws {
        try await heartbeat(buffer)
        if let run { try await buffer.bindWorker(id, run: run) }
    }
}
