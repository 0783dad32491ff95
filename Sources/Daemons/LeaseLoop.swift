import Backends
import Buffer
import Logging
import Observability
import Synchronization

/// What a lease-loop daemon does with the batches it leases: generation or scoring.
protocol BatchWork: Sendable {
    /// The queue this work leases from.
    var queue: WorkQueue { get }
    /// What the backend is called in logs, e.g. "generation backend".
    var backendName: String { get }
    var identity: WorkerIdentity { get }
    var settings: DaemonSettings { get }
    var logger: Logger { get }
    /// Whether the backend can take work now (an HTTP endpoint's circuit is closed and it serves
    /// what is asked); while it cannot, the loop leases nothing, so no task burns its attempts.
    func isBackendAvailable() async -> Bool
    /// Processes one leased batch and submits its results, writing through
    /// `context.supervisor` so a submission survives a database outage (it is fenced by the
    /// lease token). Returns how many results were stored. A `BackendError` thrown here fails
    /// every task of the batch; failures of single tasks go through `context.settle`.
    func process(_ tasks: [LeasedTask], context: BatchContext) async throws -> Int
}

extension BatchWork {
    /// Processes one leased batch outside the loop, as the loop would (tests, one-shot use).
    @discardableResult
    func process(_ tasks: [LeasedTask], buffer: ReplayBuffer, cache: RunCache = RunCache()) async throws -> Int {
        let context = BatchContext(
            buffer: buffer, supervisor: DatabaseSupervisor(buffer: buffer, logger: logger), cache: cache, identity: identity,
            settings: settings, logger: logger)
        return try await process(tasks, context: context)
    }
}

/// What a batch's processing may use.
struct BatchContext: Sendable {
    let buffer: ReplayBuffer
    let supervisor: DatabaseSupervisor
    let cache: RunCache
    let identity: WorkerIdentity
    let settings: DaemonSettings
    let logger: Logger
    /// Failed and returned tasks of the batch in hand (for `optune_tasks_completed_total`).
    var tally = BatchTally()

    /// Records failed prompts with no success in their chunks (fenced; repeated across a database
    /// outage): each goes back to pending or to dead with its error, except those whose endpoint
    /// was unavailable, which return to the queue uncounted.
    func settle(_ failures: [(LeasedTask, BackendError)], queue: WorkQueue) async throws {
        guard !failures.isEmpty else { return }
        try await supervisor.perform("recording failed tasks") {
            try await buffer.reportFailures(queue, failures.map { TaskFailure($0.0, $0.1) })
        }
        count(failures, queue: queue)
    }

    /// Logs and counts failed prompts whose chunks a submission has settled.
    func count(_ failures: [(LeasedTask, BackendError)], queue: WorkQueue) {
        guard !failures.isEmpty else { return }
        logFailures(failures, queue: queue, logger: logger)
        let returned = failures.filter { $0.1.unavailable }.count
        OptuneMetrics.failed(queue.rawValue, count: failures.count - returned)
        OptuneMetrics.returned(queue.rawValue, count: returned)
        tally.add(failures.count)
    }

    /// Submits a batch's results through the supervisor (fenced; repeated across an outage),
    /// timing it for `optune_submit_duration_seconds`.
    func submit<T>(_ what: String, queue: WorkQueue, _ body: () async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        defer { OptuneMetrics.submitted(queue.rawValue, after: .now - started) }
        return try await supervisor.perform(what, body)
    }
}

/// How many tasks of one batch were settled as failed or returned.
final class BatchTally: Sendable {
    private let count = Mutex(0)
    func add(_ n: Int) { count.withLock { $0 += n } }
    var settled: Int { count.withLock { $0 } }
}

/// The one lease loop of the generator and scorer daemons (DESIGN §4, §6): reclaim expired
/// leases (at most once a second), lease a batch, process it with the lease kept alive, submit
/// with the fencing token; wait on LISTEN/NOTIFY (with a polling fallback) when there is no
/// work; survive database outages (``DatabaseSupervisor``); on SIGTERM return what it holds and
/// exit.
struct LeaseLoop {
    let databaseURL: String
    let applicationName: String
    let identity: WorkerIdentity
    let settings: DaemonSettings
    let logger: Logger

    func run(_ work: some BatchWork) async throws {
        let buffer: ReplayBuffer
        do {
            buffer = try await DatabaseSupervisor.connect(
                to: databaseURL, applicationName: applicationName, logger: logger, patience: settings.startupPatience)
        } catch is DaemonStopping {
            return
        }
        let supervisor = DatabaseSupervisor(buffer: buffer, logger: logger)
        OptuneMetrics.prepare(work.queue.rawValue)
        let wakeUp = await WakeUp(
            databaseURL: databaseURL, pollInterval: settings.pollInterval, audience: work.queue == .generation ? .generators : .scorers)
        let context = BatchContext(
            buffer: buffer, supervisor: supervisor, cache: RunCache(), identity: identity, settings: settings, logger: logger)
        var state = LoopState(backendOutage: OutageLog(logger: logger, what: work.backendName))
        do {
            try await supervisor.perform("registering the worker") { try await identity.register(buffer, run: settings.run) }
            logger.info("\(identity.role) started")
            while !Task.shouldStop {
                do {
                    try await round(work, context: context, wakeUp: wakeUp, state: &state)
                } catch  where ReplayBuffer.isConnectionLoss(error) {
                    try await supervisor.recover(from: error, during: "\(work.queue.rawValue) batch")
                    // Leases still held after the outage go back uncounted; one that expired and
                    // was leased again is someone else's now and is left alone.
                    _ = try? await buffer.releaseLeases(work.queue, owner: identity.id)
                }
            }
        } catch is DaemonStopping {
            logger.warning("\(identity.role) stopping while the database is unreachable; its leases will expire")
            await wakeUp.close()
            await buffer.close()
            return
        }
        let released = (try? await buffer.releaseLeases(work.queue, owner: identity.id)) ?? 0
        try? await buffer.workerStopped(identity.id)
        await wakeUp.close()
        await buffer.close()
        logger.info("\(identity.role) stopped", metadata: ["stored": "\(state.produced)", "released": "\(released)"])
    }

    private struct LoopState {
        var backendOutage: OutageLog
        var produced = 0
        /// Expired leases are looked for at most once a second, not on every round.
        let reclaim = PeriodicSchedule()
        /// The heartbeat is refreshed at most every 10 s, busy or idle.
        let heartbeat = PeriodicSchedule(every: .seconds(10))
    }

    /// One look for work, and the batch it found.
    private func round(_ work: some BatchWork, context: BatchContext, wakeUp: WakeUp, state: inout LoopState) async throws {
        let buffer = context.buffer
        if state.reclaim.isDue() {
            let expired = try await buffer.reclaimExpiredLeases(work.queue)
            OptuneMetrics.expired(work.queue.rawValue, count: expired.requeued + expired.dead)
        }
        guard await work.isBackendAvailable() else {
            try await state.backendOutage.unavailable(heartbeat: { try await identity.heartbeat(buffer) })
            try? await Task.sleep(for: settings.unavailablePause)
            return
        }
        state.backendOutage.available()
        if state.heartbeat.isDue() { try await identity.heartbeat(buffer) }
        let leasing = ContinuousClock.now
        let tasks = try await buffer.lease(
            work.queue, owner: identity.id, limit: settings.batchSize, leaseSeconds: settings.leaseSeconds, run: settings.run)
        OptuneMetrics.leased(work.queue.rawValue, count: tasks.count, after: .now - leasing)
        if tasks.isEmpty {
            await wakeUp.wait()
            return
        }
        var batch = context
        batch.tally = BatchTally()
        do {
            let context = batch
            let stored = try await identity.keepingHeartbeat(buffer) { try await work.process(tasks, context: context) }
            state.produced += stored
            OptuneMetrics.stored(work.queue.rawValue, count: stored)
        } catch let error as BackendError {
            try await batch.settle(tasks.map { ($0, error) }, queue: work.queue)
        }
        OptuneMetrics.completed(work.queue.rawValue, count: tasks.count - batch.tally.settled)
        OptuneMetrics.batchProcessed(work.queue.rawValue, after: .now - leasing)
    }
}
