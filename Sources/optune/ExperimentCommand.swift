import ArgumentParser
import Buffer
import Experiments
import Foundation
import Logging

struct Experiment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the paper's comparison in miniature and print one table.",
        discussion: """
            The grid is ρ × strategy (reward, random) × loss (wdpo, dpo) over several seeds, with the \
            same budget everywhere. For each seed one run does the fully-online iteration 0 (ρ = 1) \
            and trains π_1; every cell forks from it, so paired differences compare runs that share \
            D_0 and π_1. π_0 is trained once per task seed and reused from the buffer. Reports the \
            final eval reward with a 95% interval, paired differences against ρ = 1 and against \
            random selection at equal ρ, and the train tokens generated after iteration 0.
            """)

    @Option(parsing: .upToNextOption, help: "Selection ratios ρ.")
    var rhos: [Double] = [0.3, 0.5, 0.7, 1.0]

    @Option(parsing: .upToNextOption, help: "Seeds (each has its own task draw, π_0 and shared iteration 0).")
    var seeds: [Int64] = [1, 2, 3, 4, 5]

    @Option(parsing: .unconditional, help: "Training iterations T per run, the shared iteration 0 included.")
    var iterations = 5

    @Option(parsing: .unconditional, help: "Train prompts of the built-in task.")
    var trainPrompts = 1000

    @Option(parsing: .unconditional, help: "Eval prompts of the built-in task.")
    var evalPrompts = 1000

    @Option(help: "Prefix of the runs' names (default: exp-<time>).")
    var label: String?

    func validate() throws {
        guard !rhos.isEmpty, rhos.allSatisfy({ $0 > 0 && $0 <= 1 }) else { throw ValidationError("every --rhos value must be in (0, 1]") }
        guard seeds.count >= 2 else { throw ValidationError("give at least two --seeds: intervals need them") }
        guard iterations >= 2 else { throw ValidationError("--iterations must be at least 2 (the shared one and one more)") }
        guard iterations <= RunConfig.maxIterations else { throw ValidationError("--iterations must be at most \(RunConfig.maxIterations)") }
        guard (1...TaskOptions.maxPrompts).contains(trainPrompts) else { throw ValidationError("--train-prompts must be in 1…\(TaskOptions.maxPrompts)") }
        guard (1...TaskOptions.maxPrompts).contains(evalPrompts) else { throw ValidationError("--eval-prompts must be in 1…\(TaskOptions.maxPrompts)") }
    }

    func run() async throws {
        bootstrapLogging(level: .warning)
        let url = try await DatabaseTarget().schemaURL()
        var grid = ExperimentGrid(label: label ?? "exp-\(Int(Date().timeIntervalSince1970))")
        grid.rhos = rhos
        grid.seeds = seeds
        grid.iterations = iterations
        grid.trainPrompts = trainPrompts
        grid.evalPrompts = evalPrompts
        note("experiment \(grid.label): \(grid.cells.count) cells × \(seeds.count) seeds, T = \(iterations)")
        let started = ContinuousClock.now
        let label = grid.label
        let progress = RunProgress(databaseURL: url) { buffer in try await buffer.newestRun(namePrefix: label) }
        let result: ExperimentResult
        do {
            result = try await grid.run(databaseURL: url) { note($0) }
        } catch {
            await progress.stop()
            throw error
        }
        await progress.stop()
        print(result.table())
        note("finished in \((ContinuousClock.now - started).components.seconds) s")
    }
}
