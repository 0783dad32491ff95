/// Selection strategy for iterations t ≥ 1 (DESIGN §2 step 1).
public enum SelectionStrategy: String, Sendable, Codable, CaseIterable {
    /// OPTune: regenerate the prompts whose chosen response had the lowest reward.
    case reward
    /// The paper's Rdm_ρ baseline: a seeded uniform sample.
    case random
    /// ρ = 1 online DPO: every prompt.
    case full
    /// The paper's control: regenerate the prompts whose chosen response had the highest reward.
    case highest
}

/// The preference loss (DESIGN §2 step 5).
public enum LossKind: String, Sendable, Codable, CaseIterable {
    case wdpo, dpo
}

/// A run's configuration, validated before it is stored.
public struct RunConfig: Sendable, Codable, Hashable {
    /// Fraction of prompts regenerated per iteration, in (0, 1].
    public var rho: Double = 0.5
    public var strategy: SelectionStrategy = .reward
    /// Responses sampled per selected prompt (≥ 2).
    public var samplesPerPrompt: Int = 2
    public var loss: LossKind = .wdpo
    /// DPO temperature.
    public var beta1: Double = 2
    /// Weight sharpness: R = σ(β2·gap).
    public var beta2: Double = 5
    public var seed: Int64 = 0
    /// Iterations T.
    public var iterations: Int = 5
    /// Whether training skips pairs whose gap is zero.
    public var skipZeroGap: Bool = false
    /// π_0: the (shared) base policy iteration 0 samples with; nil for a forked run.
    public var basePolicy: Int64?
    /// DPO learning rate of the built-in trainer.
    public var learningRate: Double = 2e-4
    /// Epochs over D_t per iteration.
    public var epochs: Int = 4
    /// Pairs per optimiser step.
    public var batchSize: Int = 64
    /// The largest share of an iteration's tasks (per queue) that may die while the iteration
    /// still goes on; a prompt whose task died keeps its D_{t−1} pair. nil: the default, 0.01.
    public var maxDeadFraction: Double?
    /// Rewards below this make the scoring task dead with a clear message; nil: no bound.
    public var rewardMin: Double?
    /// Rewards above this make the scoring task dead with a clear message; nil: no bound.
    public var rewardMax: Double?
    /// Samples per eval prompt; the evaluation is their mean reward. nil: 1.
    public var evalSamples: Int?

    /// Prompts per generation/scoring task (a chunk of the selection's ranks). nil: 256.
    public var chunkSize: Int?

    /// The eval samples in effect per eval prompt.
    public var evalSamplesPerPrompt: Int { evalSamples ?? 1 }

    /// The chunk size in effect.
    public var taskChunkSize: Int { chunkSize ?? 256 }

    /// The tolerance in effect for dead work.
    public var deadFractionTolerance: Double { maxDeadFraction ?? 0.01 }

    /// The rewards a scorer accepts: any finite double unless the run bounds them.
    public var rewardRange: RewardRange {
        RewardRange(lowerBound: rewardMin ?? -Double.greatestFiniteMagnitude, upperBound: rewardMax ?? Double.greatestFiniteMagnitude)
    }

    public init() {}

    /// Upper bounds that keep counts within the database's `integer` columns and memory.
    public static let maxIterations = 1_000_000
    public static let maxSamplesPerPrompt = 64
    public static let maxEpochs = 1_000_000
    public static let maxBatchSize = 1_000_000

    /// Checks every field; the error names the field and what was expected.
    public func validate() throws(RunConfigError) {
        guard rho.isFinite, rho > 0, rho <= 1 else { throw RunConfigError(field: "rho", message: "must be in (0, 1], got \(rho)") }
        guard samplesPerPrompt >= 2 else {
            throw RunConfigError(
                field: "samplesPerPrompt", message: "must be at least 2 (a pair needs two samples), got \(samplesPerPrompt)")
        }
        if let evalSamples, !(1...64).contains(evalSamples) {
            throw RunConfigError(field: "evalSamples", message: "must be in 1...64, got \(evalSamples)")
        }
        guard beta1.isFinite, beta1 > 0 else { throw RunConfigError(field: "beta1", message: "must be finite and > 0, got \(beta1)") }
        guard beta2.isFinite, beta2 > 0 else { throw RunConfigError(field: "beta2", message: "must be finite and > 0, got \(beta2)") }
        guard iterations >= 1 else { throw RunConfigError(field: "iterations", message: "must be at least 1, got \(iterations)") }
        guard iterations <= Self.maxIterations else {
            throw RunConfigError(field: "iterations", message: "must be at most \(Self.maxIterations), got \(iterations)")
        }
        guard samplesPerPrompt <= Self.maxSamplesPerPrompt else {
            throw RunConfigError(field: "samplesPerPrompt", message: "must be at most \(Self.maxSamplesPerPrompt), got \(samplesPerPrompt)")
        }
        guard learningRate.isFinite, learningRate > 0 else {
            throw RunConfigError(field: "learningRate", message: "must be finite and > 0, got \(learningRate)")
        }
        guard epochs >= 1, epochs <= Self.maxEpochs else {
            throw RunConfigError(field: "epochs", message: "must be in 1…\(Self.maxEpochs), got \(epochs)")
        }
        guard batchSize >= 1, batchSize <= Self.maxBatchSize else {
            throw RunConfigError(field: "batchSize", message: "must be in 1…\(Self.maxBatchSize), got \(batchSize)")
        }
        if let chunkSize, !(1...100_000).contains(chunkSize) {
            throw RunConfigError(field: "chunkSize", message: "must be in 1...100000, got \(chunkSize)")
        }
        if let maxDeadFraction, !(maxDeadFraction >= 0 && maxDeadFraction < 1) {
            throw RunConfigError(field: "maxDeadFraction", message: "must be in [0, 1), got \(maxDeadFraction)")
        }
        if let rewardMin, !rewardMin.isFinite { throw RunConfigError(field: "rewardMin", message: "must be finite, got \(rewardMin)") }
        if let rewardMax, !rewardMax.isFinite { throw RunConfigError(field: "rewardMax", message: "must be finite, got \(rewardMax)") }
        if let rewardMin, let rewardMax, rewardMin > rewardMax {
            throw RunConfigError(field: "rewardMin", message: "must not exceed rewardMax (\(rewardMin) > \(rewardMax))")
        }
        if strategy == .full && rho != 1 {
            throw RunConfigError(field: "rho", message: "strategy full regenerates every prompt; use rho 1 (got \(rho))")
        }
    }
}

/// A run configuration field is invalid.
public struct RunConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var field: String
    public var message: String
    public var description: String { "invalid run config: \(field) \(message)" }

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

/// The closed range of rewards a run accepts.
public struct RewardRange: Sendable, Hashable {
    public var lowerBound: Double
    public var upperBound: Double

    /// Whether `score` is finite and within the range.
    public func contains(_ score: Double) -> Bool { score.isFinite && score >= lowerBound && score <= upperBound }

    /// Whether the range is every finite double.
    public var isUnbounded: Bool { lowerBound == -Double.greatestFiniteMagnitude && upperBound == Double.greatestFiniteMagnitude }
}
