import Buffer
import Daemons
import Foundation

/// The paper's comparison in miniature (issue: ρ × strategy × loss, over seeds).
///
/// For every seed, one shared run does the fully-online iteration 0 (ρ = 1, wDPO) and trains π_1;
/// every cell of that seed forks from it at iteration 0, so all cells share D_0 and π_1 and differ
/// only from iteration 1 on. π_0 is trained once per (task, seed) and reused from the buffer.
public struct ExperimentGrid: Sendable {
    public var rhos: [Double] = [0.3, 0.5, 0.7, 1.0]
    public var strategies: [SelectionStrategy] = [.reward, .random]
    public var losses: [LossKind] = [.wdpo, .dpo]
    public var seeds: [Int64] = [1, 2, 3, 4, 5]
    /// T: training iterations per run, the shared iteration 0 included.
    public var iterations = 5
    public var trainPrompts = 1000
    public var evalPrompts = 1000
    /// Settings every run shares (β1, β2, learning rate, epochs …); ρ, strategy, loss and seed are
    /// set per cell.
    public var baseConfig = RunConfig()
    /// Prefix of the runs' names.
    public var label: String

    public init(label: String) {
        self.label = label
    }

    /// One cell of the grid. ρ = 1 is one cell per loss (strategy `full`): reward and random
    /// selection of every prompt are the same thing.
    public struct Cell: Sendable, Hashable, Comparable {
        public var rho: Double
        public var strategy: SelectionStrategy
        public var loss: LossKind

        public var name: String { "rho\(rho)-\(strategy.rawValue)-\(loss.rawValue)" }

        public static func < (a: Cell, b: Cell) -> Bool {
            (a.loss.rawValue, -a.rho, a.strategy.rawValue) < (b.loss.rawValue, -b.rho, b.strategy.rawValue)
        }
    }

    public var cells: [Cell] {
        var cells = Set<Cell>()
        for rho in rhos {
            for loss in losses {
                if rho >= 1 {
                    cells.insert(Cell(rho: 1, strategy: .full, loss: loss))
                } else {
                    for strategy in strategies where strategy != .full { cells.insert(Cell(rho: rho, strategy: strategy, loss: loss)) }
                }
            }
        }
        return cells.sorted()
    }

    /// Runs the grid; `progress` gets one line per finished run.
    public func run(databaseURL: String, progress: @Sendable (String) -> Void) async throws -> ExperimentResult {
        let buffer = try await ReplayBuffer.connect(to: databaseURL, applicationName: "optune-experiment")
        try await buffer.migrate()
        var result = ExperimentResult(cells: cells, seeds: seeds)
        for seed in seeds {
            var task = BuiltinTask()
            task.trainPrompts = trainPrompts
            task.evalPrompts = evalPrompts
            task.seed = UInt64(bitPattern: seed)
            let set = try await task.ensurePromptSet(buffer: buffer)
            let (base, _) = try await task.ensureBasePolicy(buffer: buffer)
            let model = try await task.ensureRewardModel(buffer: buffer)

            var shared = baseConfig
            shared.rho = 1
            shared.strategy = .full
            shared.loss = .wdpo
            shared.iterations = 1
            shared.seed = seed
            shared.basePolicy = base
            let sharedName = "\(label)-s\(seed)-shared"
            let sharedRun = try await buffer.createRun(name: sharedName, promptSetID: set, rewardModelID: model, config: shared)
            try await RunDriver(databaseURL: databaseURL, run: sharedRun).drive { _ in }
            let pi0 = try await buffer.evalReward(run: sharedRun, t: 0)
            let pi1 = try await buffer.evalReward(run: sharedRun, t: 1)
            result.initialEval[seed] = pi0
            result.sharedEval[seed] = pi1
            progress("seed \(seed): shared iteration 0 done (π_0 eval \(format(pi0)), π_1 eval \(format(pi1)))")

            for cell in cells {
                var config = baseConfig
                config.rho = cell.rho
                config.strategy = cell.strategy
                config.loss = cell.loss
                config.iterations = max(1, iterations - 1)
                config.seed = seed
                let name = "\(label)-s\(seed)-\(cell.name)"
                let run = try await buffer.createRun(
                    name: name, promptSetID: set, rewardModelID: model, config: config, forkedFrom: (sharedRun, 0))
                let started = ContinuousClock.now
                try await RunDriver(databaseURL: databaseURL, run: run).drive { _ in }
                let final = try await buffer.finalEvaluation(run: run)
                let tokens = try await buffer.trainTokensGenerated(run: run)
                result.outcomes[ExperimentResult.Key(cell: cell, seed: seed)] = .init(finalEval: final?.reward ?? .nan, tokensAfterShared: tokens)
                let seconds = (ContinuousClock.now - started).components.seconds
                progress("seed \(seed): \(cell.name) final eval \(format(final?.reward)) tokens \(tokens) (\(seconds) s)")
            }
        }
        await buffer.close()
        return result
    }

    private func format(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "–" }
}
