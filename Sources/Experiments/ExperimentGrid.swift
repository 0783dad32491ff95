import Buffer
import Policy
import Selection

/// The paper's comparison in miniature (issue 12): ρ × strategy × loss, over seeds.
///
/// For every seed *and loss*, one shared run does the fully-online iteration 0 (ρ = 1) with that
/// loss and trains π_1; every cell of that seed and loss forks from it at iteration 0, so the
/// cells of one loss share D_0 and π_1 and differ only from iteration 1 on, and a DPO cell never
/// starts from a wDPO-trained π_1. π_0 is trained once per (task, seed) and reused from the buffer.
public struct ExperimentGrid: Sendable {
    /// Selection ratios ρ (each exact as a decimal).
    public var rhos: [DecimalRatio] = ["0.3", "0.5", "0.7", "1"].compactMap { DecimalRatio($0) }
    /// Strategies for ρ < 1 (ρ = 1 is one `full` cell per loss).
    public var strategies: [ExperimentStrategy] = [.reward, .random, .highest]
    public var losses: [LossKind] = [.wdpo, .dpo]
    public var seeds: [Int64] = Array(1...10)
    /// T: training iterations per run, the shared iteration 0 included.
    public var iterations = 5
    public var family: BuiltinTaskFamily = .graded
    public var trainPrompts = 1000
    public var evalPrompts = 1000
    /// Settings every run shares (samples per prompt, eval samples, β1, β2, learning rate,
    /// epochs …); ρ, strategy, loss, seed and iterations are set per cell.
    public var baseConfig = RunConfig()
    /// Prefix of the runs' names; runs already in the buffer under these names are reused.
    public var label: String
    /// When set, only these cells (a grid read back from the buffer has just the cells it ran).
    public var cellFilter: Set<Cell>?

    public init(label: String) {
        self.label = label
    }

    /// One cell of the grid. ρ = 1 is one cell per loss (strategy `full`): reward, random and
    /// highest selection of every prompt are the same thing.
    public struct Cell: Sendable, Hashable, Comparable {
        public var rho: DecimalRatio
        public var strategy: ExperimentStrategy
        public var loss: LossKind

        public init(rho: DecimalRatio, strategy: ExperimentStrategy, loss: LossKind) {
            self.rho = rho
            self.strategy = strategy
            self.loss = loss
        }

        /// `rho0.5-reward-wdpo`.
        public var name: String { "rho\(rho)-\(strategy.rawValue)-\(loss.rawValue)" }

        /// `ρ=0.5 reward wdpo`.
        public var label: String { "ρ=\(rho) \(strategy.rawValue) \(loss.rawValue)" }

        var rhoValue: Double { rho.doubleValue }

        public static func < (a: Cell, b: Cell) -> Bool {
            (a.loss.rawValue, -a.rhoValue, a.strategy.order) < (b.loss.rawValue, -b.rhoValue, b.strategy.order)
        }
    }

    /// The cells, ordered by loss, then ρ (descending), then strategy.
    public var cells: [Cell] {
        var cells = Set<Cell>()
        let one = DecimalRatio.one
        for rho in rhos {
            for loss in losses {
                if rho == one {
                    cells.insert(Cell(rho: one, strategy: .full, loss: loss))
                } else {
                    for strategy in strategies where strategy != .full { cells.insert(Cell(rho: rho, strategy: strategy, loss: loss)) }
                }
            }
        }
        return cells.filter { cellFilter?.contains($0) ?? true }.sorted()
    }

    /// The shared run of (`seed`, `loss`).
    func sharedRunName(seed: Int64, loss: LossKind) -> String { "\(label)-s\(seed)-\(loss.rawValue)-shared" }

    /// The run of `cell` at `seed`.
    func runName(_ cell: Cell, seed: Int64) -> String { "\(label)-s\(seed)-\(cell.name)" }

    /// Why the grid cannot run, or nil.
    public var problem: String? {
        if rhos.isEmpty { return "give at least one ρ" }
        if losses.isEmpty { return "give at least one loss" }
        if seeds.count < 2 { return "give at least two seeds: intervals need them" }
        if Set(seeds).count != seeds.count { return "seeds repeat" }
        if iterations < 2 { return "iterations must be at least 2 (the shared one and one more)" }
        if strategies.contains(.randomMatched) && !strategies.contains(.reward) {
            return "random-matched matches the tokens of reward selection: add reward to the strategies"
        }
        if strategies.contains(.randomMatched) && !strategies.contains(.random) {
            return "random-matched scales ρ by reward's tokens over random's at the same ρ: add random to the strategies"
        }
        return nil
    }

    /// The ρ that makes random selection generate as many train tokens as reward selection did:
    /// ρ · (tokens of reward at ρ) / (tokens of random at ρ), same seed and loss, rounded up to
    /// three decimals and kept in [0.001, 1]. Nil when random generated no tokens.
    public static func matchedRatio(rho: DecimalRatio, rewardTokens: Int, randomTokens: Int) -> DecimalRatio? {
        guard randomTokens > 0, rewardTokens >= 0 else { return nil }
        let target = rho.doubleValue * Double(rewardTokens) / Double(randomTokens)
        // Up to the next thousandth; the small slack keeps an exact 0.55 from becoming 0.551.
        let thousandths = min(1000, max(1, Int((target * 1000 - 1e-9).rounded(.up))))
        return DecimalRatio(String(format: "%d.%03d", thousandths / 1000, thousandths % 1000))
    }
}

/// What a cell does after the shared iteration 0.
public enum ExperimentStrategy: String, Sendable, Hashable, CaseIterable, Codable {
    /// OPTune: the N lowest-reward prompts.
    case reward
    /// The paper's Rdm_ρ: a seeded uniform sample of N prompts.
    case random
    /// The paper's control: the N highest-reward prompts.
    case highest
    /// Random selection at matched tokens: ρ chosen per seed so that it generates as many train
    /// tokens as reward selection did at the cell's ρ.
    case randomMatched = "random-matched"
    /// ρ = 1: every prompt.
    case full

    /// The run strategy that implements it.
    public var selection: SelectionStrategy {
        switch self {
        case .reward: .reward
        case .random, .randomMatched: .random
        case .highest: .highest
        case .full: .full
        }
    }

    var order: Int {
        switch self {
        case .full: 0
        case .reward: 1
        case .random: 2
        case .randomMatched: 3
        case .highest: 4
        }
    }
}
