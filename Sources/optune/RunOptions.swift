import ArgumentParser
import Buffer
import Daemons
import Policy

/// The knobs of a run's configuration, shared by `run` and `experiment`.
struct RunConfigOptions: ParsableArguments {
    @Option(help: "Fraction ρ of prompts regenerated per iteration, in (0, 1].")
    var rho: Double = 0.5

    @Option(help: "Selection for t ≥ 1: reward (OPTune), random, full, or highest (the paper's control).")
    var strategy: SelectionStrategy = .reward

    @Option(help: "Preference loss: wdpo or dpo.")
    var loss: LossKind = .wdpo

    @Option(help: "Training iterations T (then π_T is evaluated).")
    var iterations: Int = 5

    @Option(help: "Samples per selected prompt (≥ 2; at most 8 for the built-in task); chosen = best, rejected = worst.")
    var samples: Int = 2

    @Option(help: "Samples per eval prompt; the evaluation is their mean reward (1...64).")
    var evalSamples: Int = 1

    @Option(help: "DPO β1.")
    var beta1: Double = 2

    @Option(help: "Weight sharpness β2: R = σ(β2·gap).")
    var beta2: Double = 5

    @Option(help: "Seed of selection tie-breaks, sampling and training order.")
    var seed: Int64 = 0

    @Option(help: "Learning rate of the built-in DPO trainer (RMSProp).")
    var learningRate: Double = 2e-4

    @Option(help: "Epochs over D_t per iteration.")
    var epochs: Int = 4

    @Flag(help: "Skip pairs whose reward gap is zero when training.")
    var skipZeroGap = false

    func config(basePolicy: Int64?) -> RunConfig {
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
        config.basePolicy = basePolicy
        return config
    }

    func validate() throws {
        do { try config(basePolicy: nil).validate() } catch { throw ValidationError(error.description) }
    }
}

/// Which built-in task to use.
struct TaskOptions: ParsableArguments {
    @Option(help: "Built-in task family: digits (the original) or graded (difficulty by kind and length).")
    var task: BuiltinTaskFamily = .digits

    @Option(help: "Train prompts of the built-in digit task.")
    var trainPrompts = 1000

    @Option(help: "Eval prompts of the built-in digit task.")
    var evalPrompts = 1000

    @Option(help: "Seed of the task's prompts and of π_0.")
    var taskSeed: UInt64 = 1

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
