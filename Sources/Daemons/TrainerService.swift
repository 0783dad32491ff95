import Backends
import Buffer
import Foundation
import Logging
import ServiceLifecycle
import TokenCodec

/// The trainer daemon: takes iterations in state `training`, trains π_t → π_{t+1} on D_t with the
/// run's loss, and registers π_{t+1} with its training run. A session advisory lock per
/// iteration keeps two trainers off one iteration; a killed trainer's lock dies with its
/// connection and another trainer takes over.
public struct TrainerService: Service, CustomStringConvertible {
    /// Names the service without its database URL (which must never reach logs).
    public var description: String { "TrainerService(worker: \(identity.id))" }

    let databaseURL: String
    let trainer: any PreferenceTrainingBackend
    let settings: DaemonSettings
    let identity = WorkerIdentity(role: "trainer")
    let logger: Logger

    public init(databaseURL: String, trainer: any PreferenceTrainingBackend, settings: DaemonSettings, logger: Logger) {
        self.databaseURL = databaseURL
        self.trainer = trainer
        self.settings = settings
        self.logger = identity.tagging(logger)
    }

    public func run() async throws {
        let buffer: ReplayBuffer
        do {
            buffer = try await DatabaseSupervisor.connect(to: databaseURL, applicationName: "optune-train", logger: logger)
        } catch is DaemonStopping {
            return
        }
        let supervisor = DatabaseSupervisor(buffer: buffer, logger: logger)
        let wakeUp = await WakeUp(databaseURL: databaseURL, pollInterval: settings.pollInterval)
        let cache = RunCache()
        try await supervisor.perform("registering the worker") { try await identity.heartbeat(buffer) }
        while !Task.shouldStop {
          do {
            var trained = false
            for iteration in try await buffer.iterationsAwaitingTraining() where settings.run == nil || settings.run == iteration.run {
                let key = 0x7472_6169_0000_0000 ^ (iteration.run << 20) ^ Int64(iteration.t)
                guard try await buffer.connection.query("SELECT pg_try_advisory_lock($1)", [key])[0].decode(0, as: Bool.self) else { continue }
                do {
                    try await train(iteration, buffer: buffer, cache: cache)
                } catch let error as BackendError where !error.retryable {
                    // Bad input (e.g. a policy the built-in trainer cannot load): retrying cannot help.
                    logger.error("training failed: \(error.message)", metadata: ["run": "\(iteration.run)", "t": "\(iteration.t)"])
                    try await buffer.connection.transaction { c in
                        try ReplayBuffer.transition(
                            run: iteration.run, t: iteration.t, from: .training, to: .failed, failureReason: "training failed: \(error.message)", on: c)
                    }
                } catch {
                    _ = try? await buffer.connection.execute("SELECT pg_advisory_unlock($1)", [key])
                    throw error
                }
                _ = try await buffer.connection.execute("SELECT pg_advisory_unlock($1)", [key])
                trained = true
                break
            }
            if !trained {
                await wakeUp.wait()
                try await identity.heartbeat(buffer)
            }
          } catch where ReplayBuffer.isConnectionLoss(error) {
            do {
                try await supervisor.recover(from: error, during: "training")
            } catch is DaemonStopping {
                break
            }
          }
        }
        try? await buffer.workerStopped(identity.id)
        await wakeUp.close()
        await buffer.connection.close()
    }

    func train(_ iteration: IterationRecord, buffer: ReplayBuffer, cache: RunCache) async throws {
        let run = try await cache.run(iteration.run, buffer: buffer)
        let config = run.config
        let started = ContinuousClock.now
        let records = try await buffer.trainingPairs(run: iteration.run, t: iteration.t)
        let usable = config.skipZeroGap ? records.filter { !$0.zeroGap } : records
        let pairs = usable.map { record in
            TrainingPair(
                prompt: PromptContent(id: record.prompt.id, text: record.prompt.text, messagesJSON: record.prompt.messagesJSON),
                chosen: record.chosen, rejected: record.rejected, weight: record.weight)
        }
        let policy = try await cache.policy(iteration.policy, buffer: buffer)
        var training = PreferenceTrainingSettings(
            weighted: config.loss == .wdpo, beta1: config.beta1, seed: UInt64(bitPattern: config.seed) &+ UInt64(iteration.t))
        training.learningRate = config.learningRate
        training.epochs = config.epochs
        training.batchSize = config.batchSize
        let result = try await trainer.train(policy: policy, pairs: pairs, settings: training)
        let seconds = (ContinuousClock.now - started).seconds
        let optimizer = String(decoding: try JSONEncoder().encode(training), as: UTF8.self)
        let stored = try await buffer.storeTrainingResult(
            run: iteration.run, t: iteration.t, policyIn: iteration.policy, weightsBlob: CompressedBytes.compress(result.weights),
            configJSON: #"{"kind": "builtin", "trained_by": "\#(identity.id)"}"#, loss: config.loss, beta1: config.beta1,
            beta2: config.beta2, optimizerJSON: optimizer, pairsUsed: result.pairsUsed, skippedZeroGap: records.count - usable.count,
            lossCurve: result.lossCurve, seconds: seconds)
        logger.info("trained", metadata: [
            "run": "\(iteration.run)", "t": "\(iteration.t)", "pairs": "\(result.pairsUsed)",
            "policy": "\(stored.map(String.init) ?? "discarded: iteration moved on")",
        ])
    }
}
