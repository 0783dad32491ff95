import Backends
import Buffer
import TokenCodec

/// Runs and policies a daemon has already read; both are immutable once written.
actor RunCache {
    private var runs: [Int64: RunRecord] = [:]
    private var policies: [Int64: PolicyHandle] = [:]

    func run(_ id: Int64, buffer: ReplayBuffer) async throws -> RunRecord {
        if let run = runs[id] { return run }
        let run = try await buffer.runRecord(id)
        runs[id] = run
        return run
    }

    func policy(_ id: Int64, buffer: ReplayBuffer) async throws -> PolicyHandle {
        if let policy = policies[id] { return policy }
        let stored = try await buffer.policy(id)
        var weights: [UInt8]?
        if let blob = stored.weightsBlob {
            guard let bytes = CompressedBytes.decompress(blob) else {
                throw BackendError("policy \(id): stored weights are corrupt", retryable: false)
            }
            weights = bytes
        }
        let handle = PolicyHandle(id: id, weights: weights, uri: stored.uri)
        if policies.count > 16 { policies.removeAll() }
        policies[id] = handle
        return handle
    }
}
