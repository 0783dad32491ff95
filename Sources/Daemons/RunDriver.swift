import Backends
import Buffer
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Runs a coordinator with in-process workers until the run ends or the process is asked to
/// stop (SIGINT, SIGTERM).
public struct RunDriver: Sendable {
    let databaseURL: String
    let run: Int64
    let generators: Int

    /// How long an idle daemon of the run waits for a notification before it looks anyway.
    static let pollInterval = Duration.seconds(2)

    public init(databaseURL: String, run: Int64, generators: Int = 1) {
        self.databaseURL = databaseURL
        self.run = run
        self.generators = generators
    }

    /// How a drive ended.
    public enum Outcome: Sendable, Equatable {
        /// The run is done.
        case finished
        /// A signal stopped it (its number: 2 for SIGINT, 15 for SIGTERM); leases were returned
        /// and the run can be resumed.
        case interrupted(signal: Int32)
    }

    /// Drives the run until it finishes or a signal stops it; throws if the run fails.
    public func drive(onIteration: @escaping @Sendable (IterationSummary) async -> Void) async throws -> Outcome {
        let logger = Logger(label: "optune.run")
        var settings = DaemonSettings()
        settings.run = run
        // Every enqueue, submission and state change notifies the workers and the coordinator;
        // polling is only the fallback for a lost notification, which the daemons of one
        // process on one direct connection do not lose. At 50 ms, a 48k-prompt run of two
        // iterations leased about 1,950 times per queue for 294 batches of work, most of them
        // while π_t trained; at 250 ms the idle rounds of the four daemons still cost about
        // 0.1 s of database CPU an iteration, and at 1 s about 0.05 s (a 30 s iteration).
        settings.pollInterval = Self.pollInterval
        settings.batchSize = 256
        // The scorer and the trainer find the prompts the generator read; every daemon finds at
        // t + 1 those it read at t.
        settings.promptCache = PromptCache()
        let finished = Mutex(false)
        let caught = Mutex<Int32?>(nil)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(
                service: CoordinatorService(
                    databaseURL: databaseURL, run: run, pollInterval: Self.pollInterval, logger: logger, onIterationDone: onIteration,
                    onFinished: { finished.withLock { $0 = true } }),
                successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        ]
        for _ in 0..<generators {
            services.append(
                .init(
                    service: GeneratorService(
                        databaseURL: databaseURL, backend: BuiltinGenerationBackend(), sampling: SamplingParameters(), settings: settings,
                        logger: logger)))
        }
        services.append(
            .init(service: ScorerService(databaseURL: databaseURL, backend: BuiltinRewardBackend(), settings: settings, logger: logger)))
        services.append(
            .init(
                service: TrainerService(databaseURL: databaseURL, trainer: BuiltinPreferenceTrainer(), settings: settings, logger: logger)))
        services.append(
            .init(
                service: SignalWatcher(onSignal: { signal in caught.withLock { $0 = signal } }),
                successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        try await group.run()
        if finished.withLock({ $0 }) { return .finished }
        return .interrupted(signal: caught.withLock { $0 } ?? 2)
    }
}

/// Ends (and so shuts its service group down gracefully) on the first SIGINT or SIGTERM, after
/// telling which one it was.
struct SignalWatcher: Service {
    let onSignal: @Sendable (Int32) -> Void

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        for await signal in signals.cancelOnGracefulShutdown() {
            onSignal(signal == .sigterm ? 15 : 2)
            return
        }
    }
}
