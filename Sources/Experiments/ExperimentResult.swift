import Buffer
import Foundation

/// The measurements of a grid and the comparisons the paper makes.
public struct ExperimentResult: Sendable {
    public struct Key: Sendable, Hashable {
        public var cell: ExperimentGrid.Cell
        public var seed: Int64
    }

    public struct Outcome: Sendable, Hashable {
        /// Eval reward of π_T.
        public var finalEval: Double
        /// Train tokens generated after the shared iteration 0.
        public var tokensAfterShared: Int
    }

    public let cells: [ExperimentGrid.Cell]
    public let seeds: [Int64]
    public var outcomes: [Key: Outcome] = [:]
    /// Eval reward of π_0 per seed.
    public var initialEval: [Int64: Double?] = [:]
    /// Eval reward of the shared π_1 per seed.
    public var sharedEval: [Int64: Double?] = [:]

    init(cells: [ExperimentGrid.Cell], seeds: [Int64]) {
        self.cells = cells
        self.seeds = seeds
    }

    func values(_ cell: ExperimentGrid.Cell, _ value: (Outcome) -> Double) -> [Double] {
        seeds.compactMap { outcomes[Key(cell: cell, seed: $0)].map(value) }
    }

    /// Per-seed differences of final eval reward, `cell` minus `baseline` (same seed, same fork).
    func pairedDifferences(_ cell: ExperimentGrid.Cell, _ baseline: ExperimentGrid.Cell) -> [Double] {
        seeds.compactMap { seed in
            guard let a = outcomes[Key(cell: cell, seed: seed)], let b = outcomes[Key(cell: baseline, seed: seed)] else { return nil }
            return a.finalEval - b.finalEval
        }
    }

    /// The results as a table: one row per cell.
    public func table() -> String {
        let pi0 = Estimate(seeds.compactMap { initialEval[$0] ?? nil })
        let pi1 = Estimate(seeds.compactMap { sharedEval[$0] ?? nil })
        var lines = [
            "π_0 (SFT start) eval reward: \(pi0.formatted())   shared π_1 (after fully-online iteration 0): \(pi1.formatted())   seeds: \(seeds.count)",
            "",
        ]
        let header = ["cell", "final eval π_T (95% CI)", "gain vs ρ=1", "Δ vs ρ=1 (paired)", "Δ vs random (paired)", "tokens after it. 0", "tokens vs ρ=1"]
        var rows: [[String]] = []
        for cell in cells {
            let final = Estimate(values(cell) { $0.finalEval })
            let full = ExperimentGrid.Cell(rho: 1, strategy: .full, loss: cell.loss)
            let fullFinal = Estimate(values(full) { $0.finalEval })
            let gainShare = (final.mean - pi0.mean) / (fullFinal.mean - pi0.mean)
            // Without a ρ = 1 cell there is nothing to compare with: "—", never nan.
            let hasFull = cells.contains(full)
            let versusFull = cell == full || !hasFull ? "—" : Estimate(pairedDifferences(cell, full)).formatted() + marker(pairedDifferences(cell, full))
            let random = ExperimentGrid.Cell(rho: cell.rho, strategy: .random, loss: cell.loss)
            let versusRandom = cell.strategy == .reward && cells.contains(random)
                ? Estimate(pairedDifferences(cell, random)).formatted() + marker(pairedDifferences(cell, random)) : "—"
            let tokens = Estimate(values(cell) { Double($0.tokensAfterShared) })
            let fullTokens = Estimate(values(full) { Double($0.tokensAfterShared) })
            rows.append([
                "ρ=\(cell.rho) \(cell.strategy.rawValue) \(cell.loss.rawValue)", final.formatted(),
                hasFull && gainShare.isFinite ? String(format: "%.0f%%", gainShare * 100) : "—", versusFull, versusRandom,
                String(format: "%.0f", tokens.mean),
                hasFull && fullTokens.mean > 0 ? String(format: "%.0f%%", 100 * tokens.mean / fullTokens.mean) : "—",
            ])
        }
        let widths = header.indices.map { column in ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        lines.append(line(header))
        lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        lines += rows.map(line)
        lines.append("")
        lines.append("gain vs ρ=1: (π_T − π_0) / (π_T at ρ=1 − π_0), same loss. Paired Δ: same seed, same shared iteration 0; * marks a 95% interval that excludes 0.")
        lines.append("tokens: train tokens generated after the shared iteration 0, mean over seeds.")
        return lines.joined(separator: "\n")
    }

    private func marker(_ differences: [Double]) -> String { Estimate(differences).excludesZero ? " *" : "" }
}
