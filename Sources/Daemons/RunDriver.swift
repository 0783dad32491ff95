import Backends
import Buffer
import Logging
import ServiceLifecycle

/// Runs a coordinator with in-process workers until the run ends.
public struct RunDriver: Sendable {
    let databaseURL: String
    let run: Int64
    let generators: Int

    public init(databaseURL: String, run: Int64, generators: Int = 1) {
        self.databaseURL = databaseURL
        self.run = run
        self.generators = generators
    }

    /// Drives the run to its end; throws if it fails.
    public func drive(onIteration: @escaping @Sendable (IterationSummary) async -> Void) async throws {
        let logger = Logger(label: "optune.run")
        var settings = DaemonSettings()
        settings.run = run
        settings.pollInterval = .milliseconds(50)
        settings.batchSize = 256
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(
                service: CoordinatorService(databaseURL: databaseURL, run: run, pollInterval: .milliseconds(50), logger: logger, onIterationDone: onIteration),
                successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        ]
        for _ in 0..<generators {
            services.append(.init(service: GeneratorService(databaseURL: databaseURL, backend: BuiltinGenerationBackend(), sampling: SamplingParameters(), settings: settings, logger: logger)))
        }
        services.append(.init(service: ScorerService(databaseURL: databaseURL, backend: BuiltinRewardBackend(), settings: settings, logger: logger)))
        services.append(.init(service: TrainerService(databaseURL: databaseURL, trainer: BuiltinPreferenceTrainer(), settings: settings, logger: logger)))
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
