import Buffer
import Foundation
import Logging
import Observability
import ServiceLifecycle

/// The coordinator daemon for one run: holds the run's leadership lease and advances the run
/// until it is done or failed. A second coordinator of the same run waits as a standby and
/// takes over when the leader's lease expires (a killed or hung leader). Survives database
/// outages: every step is a guarded transaction, so repeating one after reconnecting is safe.
public struct CoordinatorService: Service, CustomStringConvertible {
    /// Names the service without its database URL (which must never reach logs).
    public var description: String { "CoordinatorService(run: \(run))" }

    let databaseURL: String
    let run: Int64
    let pollInterval: Duration
    let leaseSeconds: Double
    let startupPatience: Duration
    let identity = WorkerIdentity(role: "coordinator")
    let logger: Logger
    /// Called after each finished iteration (for `optune run`'s report).
    let onIterationDone: @Sendable (IterationSummary) async -> Void
    /// Called once when the run has finished (not when the service stops early).
    let onFinished: @Sendable () async -> Void

    public init(
        databaseURL: String, run: Int64, pollInterval: Duration = .milliseconds(200), leaseSeconds: Double = 15,
        startupPatience: Duration = .seconds(300), logger: Logger,
        onIterationDone: @escaping @Sendable (IterationSummary) async -> Void = { _ in },
        onFinished: @escaping @Sendable () async -> Void = {}
    ) {
        self.databaseURL = databaseURL
        self.run = run
        self.pollInterval = pollInterval
        self.leaseSeconds = leaseSeconds
        self.startupPatience = startupPatience
        self.logger = logger
        self.onIterationDone = onIterationDone
        self.onFinished = onFinished
    }

    /// The shortest time between two steps while the run waits on workers. Every submission of
    /// every worker notifies the coordinator; stepping at most this often bounds its load on the
    /// database however many workers there are, and delays the end of a stage by at most this.
    public static let minimumStepInterval: Duration = .milliseconds(50)

    /// The run ended in failure.
    public struct RunFailed: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { "run failed: \(reason)" }
    }

    public func run() async throws {
        let buffer: ReplayBuffer
        do {
            buffer = try await DatabaseSupervisor.connect(
                to: databaseURL, applicationName: "optune-coordinate", logger: logger, patience: startupPatience)
        } catch is DaemonStopping {
            return
        }
        let supervisor = DatabaseSupervisor(buffer: buffer, logger: logger)
        let coordinator = Coordinator(buffer: buffer, run: run)
        let wakeUp = await WakeUp(databaseURL: databaseURL, pollInterval: pollInterval)
        do {
            try await lead(coordinator, supervisor: supervisor, wakeUp: wakeUp)
            try? await buffer.releaseRunLeadership(run: run, holder: identity.id)
            try? await buffer.workerStopped(identity.id)
        } catch is DaemonStopping {
            logger.warning("coordinator stopping while the database is unreachable", metadata: ["run": "\(run)"])
        } catch {
            try? await buffer.releaseRunLeadership(run: run, holder: identity.id)
            await wakeUp.close()
            await buffer.close()
            throw error
        }
        await wakeUp.close()
        await buffer.close()
    }

    private func lead(_ coordinator: Coordinator, supervisor: DatabaseSupervisor, wakeUp: WakeUp) async throws {
        let buffer = supervisor.buffer
        var leading = false
        var renewed = ContinuousClock.now - .seconds(3600)
        var standbyLogged = false
        var lastStep = ContinuousClock.now - .seconds(3600)
        // The iteration gauges are read again after every step that moved the run, and at most
        // once a second while it waits (a state another daemon changed is seen within a second).
        let gauges = PeriodicSchedule(every: .seconds(1))
        try await supervisor.perform("registering the coordinator") { try await identity.register(buffer, run: run) }
        let name = try await supervisor.perform("reading the run") { try await buffer.runRecord(run).name }
        if try await supervisor.perform("checking the role", { try await buffer.canSettlePairs() }) == false {
            logger.notice(
                "this role does not own optune.pairs, so the VACUUM before each selection is skipped and left to autovacuum; a selection may then read D_{t-1}'s rows (about 0.5 s more at 1M prompts). Run the coordinator as the schema owner to avoid it.",
                metadata: ["run": "\(run)"])
        }
        while !Task.shouldStop {
            do {
                // Renew the lease well before it expires (every third of it).
                if !leading || ContinuousClock.now - renewed > .milliseconds(Int64(leaseSeconds * 1000 / 3)) {
                    let held = try await coordinator.acquireLeadership(holder: identity.id, leaseSeconds: leaseSeconds)
                    if held != leading {
                        logger.info(
                            held ? "leading the run" : "another coordinator leads this run; standing by", metadata: ["run": "\(run)"])
                        standbyLogged = !held
                    } else if !held && !standbyLogged {
                        logger.info("another coordinator leads this run; standing by", metadata: ["run": "\(run)"])
                        standbyLogged = true
                    }
                    leading = held
                    renewed = .now
                    try await identity.heartbeat(buffer)
                }
                guard leading else {
                    try? await Task.sleep(for: .seconds(max(0.2, min(2, leaseSeconds / 3))))
                    continue
                }
                lastStep = .now
                let step = try await coordinator.step()
                if step != .waiting || gauges.isDue() { try await recordIteration(buffer, name: name) }
                switch step {
                case .progressed:
                    continue
                case .iterationDone(let t):
                    await onIterationDone(try await buffer.iterationSummary(run: run, t: t))
                case .waiting:
                    await wakeUp.wait()
                    // Notifications that arrive meanwhile are answered by the next step.
                    let since = ContinuousClock.now - lastStep
                    if since < Self.minimumStepInterval { try? await Task.sleep(for: Self.minimumStepInterval - since) }
                case .finished:
                    logger.info("run finished", metadata: ["run": "\(run)"])
                    await onFinished()
                    return
                case .failed(let reason):
                    throw RunFailed(reason: reason)
                }
            } catch  where ReplayBuffer.isConnectionLoss(error) {
                try await supervisor.recover(from: error, during: "coordinating run \(run)")
                // The lease may have expired during the outage: check it before the next step.
                leading = false
            }
        }
    }

    /// Sets the run's iteration gauges (`optune_run_iteration`, `optune_iteration_state`) from
    /// the database.
    private func recordIteration(_ buffer: ReplayBuffer, name: String) async throws {
        guard let latest = try await buffer.connection.run({ [run] c in try ReplayBuffer.latestIteration(run: run, on: c) }) else { return }
        OptuneMetrics.iteration(run: name, t: latest.t, state: latest.state.rawValue)
    }
}
