import Postgres

extension ReplayBuffer {
    /// Records that `worker` (already registered by a heartbeat) serves only `run`, so status
    /// lists it with that run.
    public func bindWorker(_ worker: String, run: Int64) async throws {
        try await connection.execute("UPDATE optune.workers SET run_id = $2 WHERE id = $1", [worker, run])
    }
}
