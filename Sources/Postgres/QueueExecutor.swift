import Dispatch
import Synchronization

/// A serial executor backed by a private dispatch queue.
///
/// Every ``Connection`` runs on its own `QueueExecutor`, so the blocking libpq calls it makes
/// happen on a dispatch thread and never on Swift's cooperative thread pool. With an
/// `application` name, the CPU time of its jobs and of the session's server backend (when it is
/// on this host) is added to ``ConnectionUsage`` under it.
final class QueueExecutor: SerialExecutor {
    let queue: DispatchQueue
    let application: String?

    /// The session's backend, when it runs on this host, and its CPU seconds when last read.
    private struct Backend {
        var pid: Int32
        var cpu: Double
        var readAt: ContinuousClock.Instant
    }

    /// nil: no session; `.some(nil)`: a session whose backend is not on this host.
    private let backend = Mutex<Backend??>(nil)

    init(label: String, application: String?) {
        queue = DispatchQueue(label: label)
        self.application = application
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async {
            guard let application = self.application else { return job.runSynchronously(on: self.asUnownedSerialExecutor()) }
            let started = ConnectionUsage.threadCPU()
            job.runSynchronously(on: self.asUnownedSerialExecutor())
            let client = ConnectionUsage.threadCPU() - started
            ConnectionUsage.record(client: client, server: self.serverCPU(force: false), for: application)
        }
    }

    /// Called on this executor when a session opens (`pid` its backend; `local` whether the
    /// server runs on this host) or closes (`pid` nil), after counting the previous backend's
    /// last CPU time.
    func sessionChanged(backendPID pid: Int32?, local: Bool) {
        if let application, let last = serverCPU(force: true), last > 0 {
            ConnectionUsage.record(client: 0, server: last, for: application)
        }
        backend.withLock { backend in
            guard let pid else { return backend = nil }
            guard local, let cpu = ConnectionUsage.processCPU(pid) else { return backend = .some(nil) }
            backend = Backend(pid: pid, cpu: cpu, readAt: .now)
        }
    }

    /// The backend's CPU seconds since they were last read; read at most every 100 ms unless
    /// `force` (the difference of a monotonic counter, so nothing is lost between reads). nil
    /// when the backend cannot be seen; 0 when there is no session or it is not time yet.
    private func serverCPU(force: Bool) -> Double? {
        backend.withLock { backend -> Double? in
            guard let known = backend else { return 0 }
            guard var state = known else { return nil }
            guard force || ContinuousClock.now - state.readAt >= .milliseconds(100) else { return 0 }
            guard let cpu = ConnectionUsage.processCPU(state.pid) else { return 0 }
            defer { backend = .some(state) }
            let spent = max(0, cpu - state.cpu)
            state.cpu = cpu
            state.readAt = .now
            return spent
        }
    }
}
