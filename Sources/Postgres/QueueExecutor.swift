import Dispatch

/// A serial executor backed by a private dispatch queue.
///
/// Every ``Connection`` runs on its own `QueueExecutor`, so the blocking libpq calls it makes
/// happen on a dispatch thread and never on Swift's cooperative thread pool.
final class QueueExecutor: SerialExecutor {
    let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }
}
