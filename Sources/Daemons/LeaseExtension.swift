import Buffer

/// Runs `body` while a background task keeps the leases on `tasks` alive (every third of the
/// lease), so work that outlasts a lease — a slow HTTP backend — is not redone by another
/// worker meanwhile. A killed worker stops extending, so its leases still expire.
func withLeaseExtension<T>(
    _ queue: WorkQueue, _ tasks: [LeasedTask], buffer: ReplayBuffer, leaseSeconds: Double, _ body: () async throws -> T
) async throws -> T {
    let extender = Task {
        let interval = Duration.milliseconds(Int64(max(200, leaseSeconds * 1000 / 3)))
        while true {
            do { try await Task.sleep(for: interval) } catch { return }
            try? await buffer.extendLeases(queue, tasks, leaseSeconds: leaseSeconds)
        }
    }
    defer { extender.cancel() }
    return try await body()
}
