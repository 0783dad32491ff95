import Backends
import Buffer
import Logging

/// Records failed tasks of `owner` (see `BatchContext.settle`). Call after every success of
/// the batch was submitted: the unavailable ones are returned with `releaseLeases`, which
/// returns everything `owner` still holds.
func settleFailures(_ failures: [(LeasedTask, BackendError)], queue: WorkQueue, buffer: ReplayBuffer, owner: String, logger: Logger)
    async throws
{
    guard !failures.isEmpty else { return }
    struct Key: Hashable {
        var message: String
        var retryable: Bool
    }
    let counted = failures.filter { !$0.1.unavailable }
    for (key, group) in Dictionary(grouping: counted, by: { Key(message: $0.1.message, retryable: $0.1.retryable) }) {
        try await buffer.failTasks(queue, group.map(\.0), error: key.message, retryable: key.retryable)
    }
    if let first = counted.first {
        logger.warning(
            "\(counted.count) task(s) failed: \(first.1.message)",
            metadata: [
                "queue": "\(queue.rawValue)", "retryable": "\(first.1.retryable)",
                "distinct_errors": "\(Set(counted.map(\.1.message)).count)",
            ])
    }
    if let first = failures.first(where: { $0.1.unavailable }) {
        let returned = try await buffer.releaseLeases(queue, owner: owner)
        logger.warning(
            "backend unavailable; task(s) returned to the queue uncounted: \(first.1.message)",
            metadata: [
                "queue": "\(queue.rawValue)", "returned": "\(returned)",
            ])
    }
}
