import ArgumentParser
import Buffer
import Daemons
import Experiments
import Foundation
import Logging
import Policy
import Report
import Selection

struct Experiment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the paper's comparison in miniature and print the tables.",
        discussion: """
            The grid is ρ × strategy × loss over seeds, on the built-in task. For each seed and loss \
            one run does the fully-online iteration 0 (ρ = 1) with that loss and trains π_1; every \
            cell of that seed and loss forks from it, so paired differences compare runs that share \
            D_0 and π_1. π_0 is trained once per task seed and reused from the buffer.

            Strategies: reward (OPTune), random, highest (the paper's control), random-matched \
            (random at the ρ that generates as many tokens as reward did; needs reward and random).

            Prints the final eval reward (K samples per eval prompt) with 95% intervals, the gain \
            from π_1 and from π_0 as a share of ρ = 1's, tokens after iteration 0, paired \
            differences (reward − random, reward − highest, wdpo − dpo, each cell − ρ = 1), Fig. 2's \
            gain split per iteration, and whether the goal at ρ = 0.5 is met.

            SIGINT stops the whole grid and prints what finished; the same command again reuses \
            every finished run and continues the stopped one (runs are named by --label, which \
            defaults to a digest of the run settings, and by cell and seed; a grid with more cells \
            or seeds reuses the runs it shares with an earlier one).
            """)

    @Option(parsing: .upToNextOption, help: "Selection ratios ρ, as decimals in (0, 1].")
    var rhos: [String] = ["0.3", "0.5", "0.7", "1"]

    @Option(parsing: .upToNextOption, help: "Strategies for ρ < 1: reward, random, highest, random-matched.")
    var strategies: [ExperimentStrategy] = [.reward, .random, .highest]

    @Option(parsing: .upToNextOption, help: "Losses: wdpo, dpo.")
    var losses: [LossKind] = [.wdpo, .dpo]

    @Option(parsing: .upToNextOption, help: "Seeds (each has its own task draw, π_0 and shared iteration 0 per loss).")
    var seeds: [Int64] = Array(1...10)

    @Option(parsing: .unconditional, help: "Training iterations T per run, the shared iteration 0 included.")
    var iterations = 5

    @Option(help: "Built-in task family: graded (difficulty by kind and length) or digits (the original).")
    var task: BuiltinTaskFamily = .graded

    @Option(parsing: .unconditional, help: "Train prompts of the built-in task.")
    var trainPrompts = 1000

    @Option(parsing: .unconditional, help: "Eval prompts of the built-in task.")
    var evalPrompts = 1000

    @Option(parsing: .unconditional, help: "Samples per selected prompt, 2...8 (chosen = best, rejected = worst).")
    var samples = 4

    @Option(parsing: .unconditional, help: "K: samples per eval prompt; an evaluation is their mean reward.")
    var evalSamples = 4

    @Option(parsing: .unconditional, help: "Epochs over D_t per iteration.")
    var epochs = 4

    @Option(parsing: .unconditional, help: "Learning rate of the built-in DPO trainer (RMSProp).")
    var learningRate = 2e-4

    @Option(help: "Also write the HTML report (eval reward vs generated tokens per cell, with intervals) to this file.")
    var report: String?

    @Option(help: "Prefix of the runs' names (default: exp- and a digest of the arguments, so a repeated command reuses its runs).")
    var label: String?

    func validate() throws {
        guard !rhos.isEmpty else { throw ValidationError("give at least one --rhos value") }
        try OptionCheck.integer(iterations, in: 1...RunConfig.maxIterations, "--iterations")
        for rho in rhos where DecimalRatio(rho) == nil {
            throw ValidationError("--rhos value '\(rho)' is not a decimal in (0, 1]")
        }
        guard (2...BuiltinTask.maxSamplesPerPrompt).contains(samples) else {
            throw ValidationError("--samples must be in 2...\(BuiltinTask.maxSamplesPerPrompt), got \(samples)")
        }
        guard (1...64).contains(evalSamples) else { throw ValidationError("--eval-samples must be in 1...64, got \(evalSamples)") }
        guard trainPrompts >= 2, trainPrompts <= 1_000_000 else { throw ValidationError("--train-prompts must be in 2...1000000") }
        guard evalPrompts >= 1, evalPrompts <= 1_000_000 else { throw ValidationError("--eval-prompts must be in 1...1000000") }
        try OptionCheck.integer(epochs, in: 1...RunConfig.maxEpochs, "--epochs")
        guard learningRate.isFinite, learningRate > 0 else { throw ValidationError("--learning-rate must be finite and > 0") }
        if let label, label.isEmpty { throw ValidationError("--label must not be empty") }
        if let problem = grid(label: "check").problem { throw ValidationError(problem) }
    }

    /// The grid these arguments describe.
    func grid(label: String) -> ExperimentGrid {
        var grid = ExperimentGrid(label: label)
        grid.rhos = rhos.compactMap { DecimalRatio($0) }
        grid.strategies = strategies
        grid.losses = losses
        grid.seeds = seeds
        grid.iterations = iterations
        grid.family = task
        grid.trainPrompts = trainPrompts
        grid.evalPrompts = evalPrompts
        grid.baseConfig.samplesPerPrompt = samples
        grid.baseConfig.evalSamples = evalSamples == 1 ? nil : evalSamples
        grid.baseConfig.epochs = epochs
        grid.baseConfig.learningRate = learningRate
        return grid
    }

    /// `exp-` and 12 hex digits of a stable digest (FNV-1a) of every argument that shapes a run
    /// (not of which cells and seeds the grid has: runs are named by cell and seed, so a grid
    /// that adds a strategy, a ρ or seeds reuses the runs an earlier one finished).
    var defaultLabel: String {
        let canonical = [
            "\(iterations)", task.rawValue, "\(trainPrompts)", "\(evalPrompts)", "\(samples)", "\(evalSamples)", "\(epochs)",
            "\(learningRate)",
        ].joined(separator: ";")
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in canonical.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return "exp-" + String(String(hash, radix: 16).suffix(12))
    }

    func run() async throws {
        bootstrapLogging(level: .warning)
        let url = try await DatabaseTarget().connectionURL(progress: { note($0) })
        let grid = grid(label: label ?? defaultLabel)
        note(
            "experiment \(grid.label): \(grid.cells.count) cells × \(seeds.count) seeds, T = \(iterations), task \(task.rawValue), "
                + "n = \(samples), K = \(evalSamples)")
        let result = try await grid.run(databaseURL: url) { note($0) }
        let tables = result.table()
        print(tables)
        if let report {
            let html = ExperimentReport.render(
                title: "optune experiment \(grid.label)", curves: result.reportCurves(), tables: tables, generatedAt: Date())
            try html.write(toFile: report, atomically: true, encoding: .utf8)
            note("wrote \(report); later: optune report --experiment \(grid.label) -o FILE")
        }
        note(String(format: "finished in %.0f s", result.wallSeconds))
        if result.interrupted {
            note("stopped by a signal; run the same command again to reuse the finished cells and go on")
            throw ExitCode(130)
        }
    }
}

extension ExperimentStrategy: ExpressibleByArgument {}

extension ExperimentResult {
    /// Every cell's curve in the report's terms.
    func reportCurves() -> [ExperimentCurve] {
        cells.map { cell in
            ExperimentCurve(
                name: cell.label,
                points: curve(cell).map {
                    ExperimentCurvePoint(
                        t: $0.t, tokens: $0.tokens, reward: $0.eval.mean, halfWidth: $0.eval.halfWidth, seeds: $0.eval.count)
                })
        }
    }
}
