/// Options of supervised fine-tuning.
public struct SFTOptions: Sendable, Hashable, Codable {
    /// Passes over the demonstrations.
    public var epochs: Int
    /// Demonstrations per step.
    public var batchSize: Int
    /// Optimiser, learning rate and schedule.
    public var optimizer: OptimizerSettings
    /// Fixes the order of the demonstrations in each epoch.
    public var seed: UInt64

    /// Defaults for a stream of fresh demonstrations (see ``SFTTrainer/initialPolicy(config:noise:demonstrations:excluding:options:seed:)``):
    /// one pass, 64 demos per step, Adam at a constant 6e-3 (β2 = 0.99). In this data-limited
    /// regime a larger rate fits faster and decaying it only hurt.
    public init(
        epochs: Int = 1, batchSize: Int = 64,
        optimizer: OptimizerSettings = OptimizerSettings(kind: .adam, learningRate: 6e-3, adamBeta2: 0.99),
        seed: UInt64 = 0
    ) {
        precondition(epochs >= 0 && batchSize > 0, "epochs must be ≥ 0 and batchSize > 0")
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.seed = seed
    }
}

/// What an SFT run produced.
public struct SFTResult: Sendable {
    /// The trained model.
    public var model: PolicyModel
    /// Mean per-token cross-entropy (nats) of every step's batch, before its update.
    public var stepLosses: [Double]
    /// Mean per-token cross-entropy (nats) of each epoch, over its steps before their updates.
    public var epochLosses: [Double]
    /// Optimiser steps taken.
    public var steps: Int
    /// Token positions trained on (all epochs).
    public var tokens: Int
}

/// Supervised fine-tuning: minimises the mean per-token cross-entropy of the demonstrations'
/// responses (including their EOS) given their prompts.
public enum SFTTrainer {
    /// Trains a copy of `model` on `demonstrations`.
    public static func train(_ model: PolicyModel, on demonstrations: [Demonstration], options: SFTOptions = SFTOptions())
        -> SFTResult
    {
        var model = model
        let workspace = Workspace(config: model.config)
        var optimizer = Optimizer(settings: options.optimizer, parameterCount: model.layout.count)
        var gradient = [Float](repeating: 0, count: model.layout.count)
        var rng = SplitMix64(seed: SplitMix64.mix(options.seed, 0x7366_74))  // "sft"
        let stepsPerEpoch = (demonstrations.count + options.batchSize - 1) / options.batchSize
        let totalSteps = stepsPerEpoch * options.epochs
        var epochLosses: [Double] = []
        var stepLosses: [Double] = []
        var step = 0
        var tokens = 0
        for _ in 0..<options.epochs where !demonstrations.isEmpty {
            let order = shuffledIndices(demonstrations.count, using: &rng)
            var lossSum = 0.0
            var tokenSum = 0
            for batch in chunks(order.count, size: options.batchSize) {
                let members = order[batch].map { demonstrations[$0] }
                let ranges = workspace.load(
                    prompts: ArraySlice(members.map(\.prompt)), responses: ArraySlice(members.map(\.response)))
                let rows = workspace.rows
                guard rows > 0 else { continue }
                model.parameters.withUnsafeBufferPointer { workspace.forward($0.baseAddress!) }
                let batchLoss = -workspace.sequenceSums(ranges).reduce(0, +)
                stepLosses.append(batchLoss / Double(rows))
                lossSum += batchLoss
                tokenSum += rows
                // L = −(1/rows) Σ log π(target) ⇒ ∂L/∂ log π(target) = −1/rows for every row.
                let coefficients = [Double](repeating: -1 / Double(rows), count: rows)
                model.parameters.withUnsafeBufferPointer { w in
                    gradient.withUnsafeMutableBufferPointer { g in
                        workspace.backward(w.baseAddress!, coefficients: coefficients, into: g.baseAddress!)
                    }
                }
                optimizer.step(
                    &model.parameters, gradient: gradient,
                    learningRate: options.optimizer.learningRate(atStep: step, of: totalSteps))
                step += 1
            }
            tokens += tokenSum
            epochLosses.append(tokenSum > 0 ? lossSum / Double(tokenSum) : 0)
        }
        return SFTResult(model: model, stepLosses: stepLosses, epochLosses: epochLosses, steps: step, tokens: tokens)
    }

    /// π_0 of DESIGN §7: a fresh model fitted to `demonstrations` noisy demos of fresh prompts.
    ///
    /// The demo prompts are independent draws from ``DigitTaskFamily`` (pass the eval split as
    /// `excluding` to keep it unseen), not the run's train prompts: fitted to 1000 fixed prompts
    /// the network memorises them (train reward 0.75, eval 0.36), whereas a stream of fresh
    /// prompts makes it learn the tasks, so train and eval reward move together. With the
    /// defaults π_0 is weak but improvable: sampled eval reward ≈ 0.6, greedy ≈ 0.88 (a random
    /// policy scores ≈ 0.02); the prototype's 0.75 needs ~200k demos (~20 s).
    ///
    /// `seed` fixes the initial weights, the demo prompts, their corruption and the SFT order, so
    /// the same arguments always give the same π_0 on one machine.
    public static func initialPolicy(
        config: PolicyConfig = PolicyConfig(), noise: DemonstrationNoise = .standard, demonstrations: Int = 30_000,
        excluding excluded: [DigitPrompt] = [], options: SFTOptions = SFTOptions(), seed: UInt64
    ) -> SFTResult {
        let model = PolicyModel(config: config, seed: seed)
        let prompts = DigitTaskFamily.independentPrompts(
            count: demonstrations, seed: SplitMix64.mix(seed, 0x6465_6D6F), excluding: Set(excluded))  // "demo"
        let demos = noise.demonstrations(for: prompts, seed: SplitMix64.mix(seed, 0x6E6F_6973_65))  // "noise"
        var options = options
        options.seed = SplitMix64.mix(seed, options.seed)
        return train(model, on: demos, options: options)
    }
}
