import Backends
import Buffer
import Foundation
import Logging
import Observability
import ServiceLifecycle
import TokenCodec

/// The trainer daemon: takes iterations in state `training`, trains π_t → π_{t+1} on D_t, and
/// registers π_{t+1} with its training run.
///
/// Built-in (`trainer:`) trains policies with built-in weights in this process; command
/// (`command:`) trains external models with the user's command (``CommandTrainerSettings``).
/// Each skips the iterations whose π_t it cannot train, leaving them to the other kind (or to
/// `optune policy register`).
///
/// Ownership of an iteration is a row lease (`optune.training_leases`) that the trainer
/// extends while it trains; a killed or stopped trainer's lease lapses after
/// `settings.leaseSeconds` and another trainer takes the iteration over. A result is stored
/// only under the current lease (fencing). A failure that retrying cannot fix — a corrupt blob,
/// a command's non-zero exit — marks the iteration `failed` with the reason, and the trainer
/// goes on with other iterations.
public struct TrainerService: Service, CustomStringConvertible {
    /// Names the service without its database URL (which must never reach logs).
    public var description: String { "TrainerService(worker: \(identity.id))" }

    enum Method: Sendable {
        case builtin(any PreferenceTrainingBackend)
        case command(CommandTrainerSettings)
    }

    let databaseURL: String
    let method: Method
    let settings: DaemonSettings
    let identity = WorkerIdentity(role: "trainer")
    let logger: Logger
    /// Pairs per page when a built-in trainer reads D_t (see ``BufferTrainingPairSource``).
    var trainingPageSize = ReplayBuffer.trainingPageSize

    /// A trainer of built-in policies with `trainer`.
    public init(databaseURL: String, trainer: any PreferenceTrainingBackend, settings: DaemonSettings, logger: Logger) {
        self.databaseURL = databaseURL
        self.method = .builtin(trainer)
        self.settings = settings
        self.logger = identity.tagging(logger)
    }

    /// A trainer of external models that runs `command` for each iteration.
    public init(databaseURL: String, command: CommandTrainerSettings, settings: DaemonSettings, logger: Logger) {
        self.databaseURL = databaseURL
        self.method = .command(command)
        self.settings = settings
        self.logger = identity.tagging(logger)
    }

    /// Whether this trainer trains external models (else built-in ones).
    var trainsExternalModels: Bool {
        if case .command = method { return true }
        return false
    }

    public func run() async throws {
        let buffer: ReplayBuffer
        do {
            buffer = try await DatabaseSupervisor.connect(
                to: databaseURL, applicationName: "optune-train", logger: logger, patience: settings.startupPatience)
        } catch is DaemonStopping {
            return
        }
        let supervisor = DatabaseSupervisor(buffer: buffer, logger: logger)
        OptuneMetrics.prepare("training")
        let wakeUp = await WakeUp(databaseURL: databaseURL, pollInterval: settings.pollInterval, audience: .trainers)
        let cache = RunCache()
        let heartbeat = PeriodicSchedule(every: .seconds(10))
        do {
            try await supervisor.perform("registering the worker") { try await identity.register(buffer, run: settings.run) }
            logger.info(
                "trainer started", metadata: ["trains": "\(trainsExternalModels ? "external models (command)" : "built-in policies")"])
            while !Task.shouldStop {
                do {
                    if try await trainNext(buffer: buffer, cache: cache) { continue }
                    await wakeUp.wait()
                    if heartbeat.isDue() { try await identity.heartbeat(buffer) }
                } catch  where ReplayBuffer.isConnectionLoss(error) {
                    // The training lease in hand (if any) was returned or lapses; its result,
                    // if it was being stored, is fenced by the lease token.
                    try await supervisor.recover(from: error, during: "training")
                }
            }
        } catch is DaemonStopping {
            logger.warning("trainer stopping while the database is unreachable")
            await wakeUp.close()
            await buffer.close()
            return
        }
        try? await buffer.workerStopped(identity.id)
        await wakeUp.close()
        await buffer.close()
    }

    /// Takes the oldest iteration this trainer can train and handles it; false when there is none.
    func trainNext(buffer: ReplayBuffer, cache: RunCache) async throws -> Bool {
        for candidate in try await buffer.trainingCandidates(run: settings.run) {
            // π_t is for the other kind of trainer (or for `optune policy register`): leave it.
            guard candidate.policyIsExternal == trainsExternalModels else { continue }
            let iteration = candidate.iteration
            let leasing = ContinuousClock.now
            guard
                let lease = try await buffer.acquireTrainingLease(
                    run: iteration.run, t: iteration.t, holder: identity.id, seconds: settings.leaseSeconds)
            else { continue }
            OptuneMetrics.leased("training", count: 1, after: .now - leasing)
            try await handle(iteration, lease: lease, buffer: buffer, cache: cache)
            return true
        }
        return false
    }

    /// One iteration end to end, under `lease`: train, register π_{t+1} (fenced by the lease),
    /// or record why it failed. Throws only what the daemon cannot handle here (the database
    /// connection is gone).
    func handle(_ iteration: IterationRecord, lease: TrainingLease, buffer: ReplayBuffer, cache: RunCache) async throws {
        let metadata: Logger.Metadata = ["run": "\(iteration.run)", "t": "\(iteration.t)", "lease": "\(lease.token)"]
        logger.info("training", metadata: metadata)
        do {
            let run = try await cache.run(iteration.run, buffer: buffer)
            let trained = try await withLeaseHeartbeat(lease, buffer: buffer) {
                try await self.produce(iteration, lease: lease, run: run, buffer: buffer, cache: cache)
            }
            let config = run.config
            let policy = try await buffer.storeTrainingResult(
                run: iteration.run, t: iteration.t, policyIn: iteration.policy, weightsBlob: trained.weightsBlob, uri: trained.uri,
                sha256: trained.sha256, configJSON: trained.policyConfigJSON, loss: config.loss, beta1: config.beta1, beta2: config.beta2,
                optimizerJSON: trained.optimizerJSON, pairsUsed: trained.pairsUsed, skippedZeroGap: trained.skippedZeroGap,
                lossCurve: trained.lossCurve, seconds: trained.seconds, trainerJSON: trained.trainerJSON, fence: lease)
            OptuneMetrics.completed("training", count: 1)
            logger.info(
                "trained",
                metadata: metadata.merging([
                    "pairs": "\(trained.pairsUsed)", "policy": "\(policy.map(String.init) ?? "discarded: iteration moved on")",
                    "uri": "\(trained.uri ?? "built-in")",
                ]) { $1 })
        } catch let lost as TrainingLeaseLost {
            logger.warning("\(lost); result discarded", metadata: metadata)
        } catch  where Self.isRetryable(error) || Task.shouldStop {
            try? await buffer.releaseTrainingLease(lease)
            OptuneMetrics.returned("training", count: 1)
            if Task.shouldStop || error is CancellationError {
                logger.info("training interrupted; lease returned", metadata: metadata)
                return
            }
            logger.warning("training interrupted by a transient error; lease returned: \(error)", metadata: metadata)
            if ReplayBuffer.isConnectionLoss(error) { throw error }
            try? await Task.sleep(for: settings.unavailablePause)
        } catch {
            let name = (try? await cache.run(iteration.run, buffer: buffer).name) ?? "id \(iteration.run)"
            let reason = "training of run \(name) t=\(iteration.t) failed: \(error)"
            logger.error("\(reason)", metadata: metadata)
            do {
                try await buffer.failTraining(lease, reason: reason)
                OptuneMetrics.failed("training", count: 1)
            } catch let lost as TrainingLeaseLost {
                logger.warning("\(lost); failure not recorded", metadata: metadata)
            }
        }
    }

    /// Trains π_{t+1} of `iteration` with this trainer's method.
    func produce(_ iteration: IterationRecord, lease: TrainingLease, run: RunRecord, buffer: ReplayBuffer, cache: RunCache) async throws
        -> TrainedPolicy
    {
        switch method {
        case .command(let command):
            return try await CommandTrainer(settings: command, worker: identity.id, leaseSeconds: settings.leaseSeconds, logger: logger)
                .train(iteration, lease: lease, run: run, buffer: buffer)
        case .builtin(let trainer):
            let config = run.config
            let started = ContinuousClock.now
            let policy = try await cache.policy(iteration.policy, buffer: buffer)
            var training = PreferenceTrainingSettings(
                weighted: config.loss == .wdpo, beta1: config.beta1, seed: UInt64(bitPattern: config.seed) &+ UInt64(iteration.t))
            training.learningRate = config.learningRate
            training.epochs = config.epochs
            training.batchSize = config.batchSize
            let result: TrainingResult
            let skippedZeroGap: Int
            if let paged = trainer as? any PagedPreferenceTrainingBackend {
                // D_t in pages: memory bounded by a page of token ids, not by |D_t|.
                let keys = try await buffer.trainingPairKeys(run: iteration.run, t: iteration.t, skipZeroGap: config.skipZeroGap)
                let source = BufferTrainingPairSource(
                    buffer: buffer, run: iteration.run, t: iteration.t, prompts: keys.prompts, skipZeroGap: config.skipZeroGap,
                    pageSize: trainingPageSize, promptCache: settings.promptCache)
                result = try await paged.train(policy: policy, source: source, settings: training)
                skippedZeroGap = keys.skippedZeroGap
            } else {
                let records = try await buffer.trainingPairs(run: iteration.run, t: iteration.t)
                let usable = config.skipZeroGap ? records.filter { !$0.zeroGap } : records
                result = try await trainer.train(
                    policy: policy, pairs: usable.map(BufferTrainingPairSource.trainingPair), settings: training)
                skippedZeroGap = records.count - usable.count
            }
            return TrainedPolicy(
                weightsBlob: CompressedBytes.compress(result.weights), uri: nil, sha256: nil,
                policyConfigJSON: #"{"kind": "builtin", "trained_by": \#(JSONText.quoted(identity.id))}"#,
                optimizerJSON: String(decoding: try JSONEncoder().encode(training), as: UTF8.self),
                trainerJSON: #"{"kind": "builtin", "trained_by": \#(JSONText.quoted(identity.id)), "lease_token": \#(lease.token)}"#,
                pairsUsed: result.pairsUsed, skippedZeroGap: skippedZeroGap, lossCurve: result.lossCurve,
                seconds: (ContinuousClock.now - started).seconds)
        }
    }

    /// Runs `body` while the lease is extended every third of its length (and the worker's
    /// heartbeat kept fresh). If the lease is lost meanwhile, `body` is cancelled and this
    /// throws ``TrainingLeaseLost``; a graceful shutdown (SIGTERM) cancels `body` too.
    func withLeaseHeartbeat<T: Sendable>(
        _ lease: TrainingLease, buffer: ReplayBuffer, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let work = Task { try await body() }
        let seconds = settings.leaseSeconds
        let interval = Duration.milliseconds(Int64(min(max(100, seconds * 1000 / 3), 3_600_000)))
        let heartbeat = Task { [identity, logger] () -> Bool in
            while true {
                do { try await Task.sleep(for: interval) } catch { return false }
                do {
                    guard try await buffer.extendTrainingLease(lease, seconds: seconds) else {
                        work.cancel()
                        return true
                    }
                    try await identity.heartbeat(buffer)
                } catch {
                    logger.warning("cannot extend the training lease: \(error)")
                }
            }
        }
        let result = await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await work.result
            } onCancel: {
                work.cancel()
            }
        } onGracefulShutdown: {
            work.cancel()
        }
        heartbeat.cancel()
        if await heartbeat.value { throw TrainingLeaseLost(lease: lease) }
        return try result.get()
    }

    /// Whether trying again later may help: the database connection failed, a serialization
    /// failure, a retryable backend error, or cancellation.
    static func isRetryable(_ error: any Error) -> Bool {
        switch error {
        case _ where ReplayBuffer.isRetryable(error): true
        case let error as BackendError: error.retryable
        case is CancellationError: true
        default: false
        }
    }
}
