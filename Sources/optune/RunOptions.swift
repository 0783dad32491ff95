import ArgumentParser
import Buffer
import Daemons
import Policy

/// The knobs of a run's configuration, shared by `run` and `experiment`.
struct RunConfigOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Fraction ρ of prompts regenerated per iteration, in (0, 1].")
    var rho: Double = 0.5

    @Option(help: "Selection for t ≥ 1: reward (OPTune), random, full, or highest (the paper's control).")
    var strategy: SelectionStrategy = .reward

    @Option(help: "Preference loss: wdpo or dpo.")
    var loss: LossKind = .wdpo

    @Option(parsing: .unconditional, help: "Training iterations T (then π_T is evaluated).")
    var iterations: Int = 5

    @Option(
        parsing: .unconditional,
        help: "Samples per selected prompt (≥ 2; at most 8 for the built-in task); chosen = best, rejected = worst.")
    var samples: Int = 2

    @Option(parsing: .unconditional, help: "Samples per eval prompt; the evaluation is their mean reward (1...64).")
    var evalSamples: Int = 1

    @Option(parsing: .unconditional, help: "DPO β1.")
    var beta1: Double = 2

    @Option(parsing: .unconditional, help: "Weight sharpness β2: R = σ(β2·gap).")
    var beta2: Double = 5

    @Option(parsing: .unconditional, help: "Seed of selection tie-breaks, sampling and training order.")
    var seed: Int64 = 0

    @Option(parsing: .unconditional, help: "Learning rate of the built-in DPO trainer (RMSProp).")
    var learningRate: Double = 2e-4

    @Option(parsing: .unconditional, help: "Epochs over D_t per iteration.")
    var epochs: Int = 4

    @Flag(help: "Skip pairs whose reward gap is zero when training.")
    var skipZeroGap = false

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Largest share of an iteration's tasks (per queue) that may die while it goes on; such prompts keep their D_{t-1} pair (default 0.01).",
            valueName: "FRACTION"))
    var maxDeadFraction: Double?

    @Option(parsing: .unconditional, help: "Rewards below this make their scoring task dead with a clear message (default: none).")
    var rewardMin: Double?

    @Option(parsing: .unconditional, help: "Rewards above this make their scoring task dead with a clear message (default: none).")
    var rewardMax: Double?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Prompts per generation/scoring task: a worker leases whole chunks, and a chunk whose lease expires is split in 4 (1...100000). Default: 256; for the built-in task, enough for 4 chunks per generator in each iteration, within 256...2048.",
            valueName: "N"))
    var chunkSize: Int?

    /// The run's config; `defaultChunkSize` applies when `--chunk-size` was not given (nil: 256).
    func config(basePolicy: Int64?, defaultChunkSize: Int? = nil) -> RunConfig {
        var config = RunConfig()
        config.rho = rho
        config.strategy = strategy
        config.loss = loss
        config.iterations = iterations
        config.samplesPerPrompt = samples
        config.evalSamples = evalSamples == 1 ? nil : evalSamples
        config.beta1 = beta1
        config.beta2 = beta2
        config.seed = seed
        config.learningRate = learningRate
        config.epochs = epochs
        config.skipZeroGap = skipZeroGap
        config.maxDeadFraction = maxDeadFraction
        config.rewardMin = rewardMin
        config.rewardMax = rewardMax
        let size = chunkSize ?? defaultChunkSize
        config.chunkSize = size == 256 ? nil : size
        config.basePolicy = basePolicy
        return config
    }

    func validate() throws {
        do { try config(basePolicy: nil).validate() } catch { throw ValidationError("\(Self.flag(for: error.field)) \(error.message)") }
    }

    /// The command-line flag of a ``RunConfig`` field.
    static func flag(for field: String) -> String {
        switch field {
        case "samplesPerPrompt": "--samples"
        case "learningRate": "--learning-rate"
        case "skipZeroGap": "--skip-zero-gap"
        case "maxDeadFraction": "--max-dead-fraction"
        case "evalSamples": "--eval-samples"
        case "rewardMin": "--reward-min"
        case "rewardMax": "--reward-max"
        case "chunkSize": "--chunk-size"
        default: "--" + field
        }
    }
}

/// Which built-in task to use.
struct TaskOptions: ParsableArguments {
    @Option(help: "Built-in task family: digits (the original) or graded (difficulty by kind and length).")
    var task: BuiltinTaskFamily = .digits

    @Option(parsing: .unconditional, help: "Train prompts of the built-in digit task.")
    var trainPrompts = 1000

    @Option(parsing: .unconditional, help: "Eval prompts of the built-in digit task.")
    var evalPrompts = 1000

    @Option(parsing: .unconditional, help: "Seed of the task's prompts and of π_0.")
    var taskSeed: UInt64 = 1

    /// Largest --train-prompts / --eval-prompts: the task draws both from one stream in memory.
    static let maxPrompts = 1_000_000

    func validate() throws {
        guard (1...Self.maxPrompts).contains(trainPrompts) else {
            throw ValidationError("--train-prompts must be in 1…\(Self.maxPrompts), got \(trainPrompts)")
        }
        guard (1...Self.maxPrompts).contains(evalPrompts) else {
            throw ValidationError("--eval-prompts must be in 1…\(Self.maxPrompts), got \(evalPrompts)")
        }
    }

    var builtin: BuiltinTask {
        var task = BuiltinTask()
        task.family = self.task
        task.trainPrompts = trainPrompts
        task.evalPrompts = evalPrompts
        task.seed = taskSeed
        return task
    }
}

extension SelectionStrategy: ExpressibleByArgument {}
extension LossKind: ExpressibleByArgument {}
extension BuiltinTaskFamily: ExpressibleByArgument {}
