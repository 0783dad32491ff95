import Buffer
import Logging
import ServiceLifecycle

/// The coordinator daemon for one run: holds the run's leadership lock and advances it until it
/// is done or failed. A second coordinator of the same run waits as a standby.
public struct CoordinatorService: Service, CustomStringConvertible {
    /// Names the service without its database URL (which must never reach logs).
    public var description: String { "CoordinatorService(run: \(run))" }

    let databaseURL: String
    let run: Int64
    let pollInterval: Duration
    let logger: Logger
    /// Called after each finished iteration (for `optune run`'s report).
    let onIterationDone: @Sendable (IterationSummary) async -> Void

    public init(
        databaseURL: String, run: Int64, pollInterval: Duration = .milliseconds(200), logger: Logger,
        onIterationDone: @escaping @Sendable (IterationSummary) async -> Void = { _ in }
    ) {
        self.databaseURL = databaseURL
        self.run = run
        self.pollInterval = pollInterval
        self.logger = logger
        self.onIterationDone = onIterationDone
    }

    /// The run ended in failure.
    public struct RunFailed: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { "run failed: \(reason)" }
    }

    public func run() async throws {
        let buffer = try await ReplayBuffer.connect(to: databaseURL, applicationName: "optune-coordinate")
        let coordinator = Coordinator(buffer: buffer, run: run)
        let wakeUp = await WakeUp(databaseURL: databaseURL, pollInterval: pollInterval)
        do {
            try await lead(coordinator, buffer: buffer, wakeUp: wakeUp)
        } catch {
            await wakeUp.close()
            await buffer.connection.close()
            throw error
        }
        await wakeUp.close()
        await buffer.connection.close()
    }

    private func lead(_ coordinator: Coordinator, buffer: ReplayBuffer, wakeUp: WakeUp) async throws {
        while !(try await coordinator.acquireLeadership()) {
            logger.info("another coordinator leads this run; standing by", metadata: ["run": "\(run)"])
            if Task.shouldStop { return }
            try await Task.sleep(for: .seconds(2))
        }
        while !Task.shouldStop {
            switch try await coordinator.step() {
            case .progressed:
                continue
            case .iterationDone(let t):
                await onIterationDone(try await buffer.iterationSummary(run: run, t: t))
            case .waiting:
                await wakeUp.wait()
            case .finished:
                logger.info("run finished", metadata: ["run": "\(run)"])
                return
            case .failed(let reason):
                throw RunFailed(reason: reason)
            }
        }
    }
}
