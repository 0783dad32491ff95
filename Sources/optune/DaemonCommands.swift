import ArgumentParser
import Backends
import Buffer
import Daemons
import Foundation
import Logging
import ServiceLifecycle

/// Options every worker daemon takes.
struct DaemonOptions: ParsableArguments {
    @Option(help: "Only work on this run (by name); default: any run.")
    var run: String?

    @Option(help: "Tasks leased per batch.")
    var batchSize = 64

    @Option(help: "Lease length in seconds; a killed worker's tasks return to the queue after it.")
    var leaseSeconds = 30.0

    @Option(help: "Longest wait in milliseconds between looks for work (LISTEN/NOTIFY wakes sooner).")
    var pollMilliseconds = 500

    @Option(help: "Log level.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard leaseSeconds > 0 else { throw ValidationError("--lease-seconds must be positive") }
    }

    /// Settings and the database URL; resolves --run to an id.
    func resolve() async throws -> (url: String, settings: DaemonSettings) {
        bootstrapLogging(level: logLevel)
        let url = try await DatabaseTarget().connectionURL(progress: { note($0) })
        var settings = DaemonSettings()
        settings.batchSize = batchSize
        settings.leaseSeconds = leaseSeconds
        settings.pollInterval = .milliseconds(pollMilliseconds)
        if let run {
            let buffer = try await ReplayBuffer.connect(to: url, applicationName: "optune")
            guard let id = try await buffer.runID(named: run) else { throw ValidationError("no run named \(run)") }
            settings.run = id
            await buffer.connection.close()
        }
        return (url, settings)
    }
}

/// Runs one service until SIGTERM or SIGINT, then shuts it down gracefully.
func runUntilSignalled(_ service: some Service, label: String) async throws {
    let logger = Logger(label: label)
    let group = ServiceGroup(configuration: .init(
        services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a generator daemon: lease generation tasks, sample, submit.",
        discussion: "Run as many as you like, here or on other machines sharing OPTUNE_DATABASE_URL. SIGTERM finishes the batch in hand, returns unfinished leases and exits 0.")

    @OptionGroup var daemon: DaemonOptions

    @Option(help: "Sampling temperature.")
    var temperature = 1.0

    @Option(help: "Nucleus sampling top-p.")
    var topP = 1.0

    @Option(help: "Maximum tokens per response.")
    var maxTokens = 12

    @Option(help: ArgumentHelp("Wait this long before submitting each batch (fault-injection for tests).", visibility: .hidden))
    var delayBeforeSubmitMs = 0

    func run() async throws {
        var (url, settings) = try await daemon.resolve()
        settings.delayBeforeSubmit = .milliseconds(delayBeforeSubmitMs)
        let sampling = SamplingParameters(temperature: temperature, topP: topP, maxTokens: maxTokens)
        try await runUntilSignalled(
            GeneratorService(databaseURL: url, backend: BuiltinGenerationBackend(), sampling: sampling, settings: settings, logger: Logger(label: "optune.generate")),
            label: "optune.generate")
    }
}

struct Score: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scorer daemon: lease scoring tasks, score with the reward backend, submit.")

    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let (url, settings) = try await daemon.resolve()
        try await runUntilSignalled(
            ScorerService(databaseURL: url, backend: BuiltinRewardBackend(), settings: settings, logger: Logger(label: "optune.score")),
            label: "optune.score")
    }
}

struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a trainer daemon: train π_t → π_{t+1} with DPO/wDPO for iterations in state training.")

    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let (url, settings) = try await daemon.resolve()
        try await runUntilSignalled(
            TrainerService(databaseURL: url, trainer: BuiltinPreferenceTrainer(), settings: settings, logger: Logger(label: "optune.train")),
            label: "optune.train")
    }
}

struct Coordinate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the selection service for one run: advance its iterations until it is done.",
        discussion: "One coordinator leads a run at a time (an advisory lock); a second one stands by. Prints one line per finished iteration.")

    @Option(help: "The run to coordinate (by name).")
    var run: String

    @Option(help: "Log level.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        bootstrapLogging(level: logLevel)
        let url = try await DatabaseTarget().connectionURL(progress: { note($0) })
        let buffer = try await ReplayBuffer.connect(to: url, applicationName: "optune")
        guard let id = try await buffer.runID(named: run) else { throw ValidationError("no run named \(run)") }
        await buffer.connection.close()
        try await runUntilSignalled(
            CoordinatorService(databaseURL: url, run: id, logger: Logger(label: "optune.coordinate")) { summary in
                print(IterationLine.format(summary))
            },
            label: "optune.coordinate")
    }
}
