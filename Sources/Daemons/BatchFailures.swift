import Backends
import Buffer
import Logging

extension TaskFailure {
    /// The failure of `task` as a backend reported it: an unavailable backend returns the prompt
    /// to the queue without counting the attempt.
    init(_ task: LeasedTask, _ error: BackendError) {
        self.init(task: task, message: error.message, retryable: error.retryable, counted: !error.unavailable)
    }
}

/// Logs the failed prompts of one batch (their chunks were settled with the submission).
func logFailures(_ failures: [(LeasedTask, BackendError)], queue: WorkQueue, logger: Logger) {
    let counted = failures.filter { !$0.1.unavailable }
    if let first = counted.first {
        logger.warning(
            "\(counted.count) task(s) failed: \(first.1.message)",
            metadata: [
                "queue": "\(queue.rawValue)", "retryable": "\(first.1.retryable)",
                "distinct_errors": "\(Set(counted.map(\.1.message)).count)",
            ])
    }
    if let first = failures.first(where: { $0.1.unavailable }) {
        logger.warning(
            "backend unavailable; task(s) returned to the queue uncounted: \(first.1.message)",
            metadata: ["queue": "\(queue.rawValue)", "returned": "\(failures.count - counted.count)"])
    }
}
