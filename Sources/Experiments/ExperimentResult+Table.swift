import Buffer
import Foundation
import Selection

extension ExperimentResult {
    /// One paired comparison: per-seed differences of final eval reward.
    public struct Comparison: Sendable {
        public var label: String
        public var estimate: Estimate
    }

    /// The paper's comparisons that this grid has: reward − random, reward − random-matched,
    /// reward − highest (same ρ and loss), wdpo − dpo (same ρ and strategy), and every cell
    /// against ρ = 1 at equal loss. Differences pair runs of the same seed.
    public func comparisons() -> [Comparison] {
        var result: [Comparison] = []
        func add(_ a: ExperimentGrid.Cell, _ b: ExperimentGrid.Cell, _ label: String) {
            guard cells.contains(a), cells.contains(b) else { return }
            let differences = pairedDifferences(a, b)
            guard !differences.isEmpty else { return }
            result.append(Comparison(label: label, estimate: Estimate(differences)))
        }
        for cell in cells where cell.strategy == .reward {
            for other in [ExperimentStrategy.random, .randomMatched, .highest] {
                add(
                    cell, .init(rho: cell.rho, strategy: other, loss: cell.loss),
                    "ρ=\(cell.rho) \(cell.loss.rawValue): reward − \(other.rawValue)")
            }
        }
        for cell in cells where cell.loss == .wdpo {
            add(cell, .init(rho: cell.rho, strategy: cell.strategy, loss: .dpo), "ρ=\(cell.rho) \(cell.strategy.rawValue): wdpo − dpo")
        }
        for cell in cells where cell.strategy != .full {
            add(cell, Self.full(cell.loss), "\(cell.label) − ρ=1 \(cell.loss.rawValue)")
        }
        return result
    }

    /// Fig. 2's split of one cell at iteration t, averaged over finished seeds: the summed r_w
    /// gain of the bottom and top halves of D_{t−1} (ranked as the reward selector ranks them).
    public func meanGainSplit(_ cell: ExperimentGrid.Cell, t: Int) -> (bottom: Double, top: Double)? {
        let splits = seeds.compactMap { finished(cell, $0)?.gainSplit.first { $0.t == t } }
        guard !splits.isEmpty else { return nil }
        let n = Double(splits.count)
        return (splits.reduce(0) { $0 + $1.bottomGain } / n, splits.reduce(0) { $0 + $1.topGain } / n)
    }

    /// Whether the issue's goal holds at ρ = 0.5 for `loss`, with the numbers that decide it.
    public func goal(loss: LossKind) -> (met: Bool, lines: [String])? {
        guard let half = DecimalRatio("0.5") else { return nil }
        let reward = ExperimentGrid.Cell(rho: half, strategy: .reward, loss: loss)
        guard cells.contains(reward) else { return nil }
        var lines: [String] = []
        var met = true
        func check(_ ok: Bool, _ text: String) {
            met = met && ok
            lines.append("  [\(ok ? "met" : "MISSED")] \(text)")
        }
        let share = gainShare(reward, fromShared: true)
        check((share ?? 0) >= 0.95, "gain from π_1 ≥ 95% of ρ=1's: \(share.map { String(format: "%.1f%%", $0 * 100) } ?? "unknown")")
        let tokens = tokenShare(reward)
        check(
            (tokens ?? 1) <= 0.60,
            "tokens after iteration 0 ≤ 60% of ρ=1's: \(tokens.map { String(format: "%.1f%%", $0 * 100) } ?? "unknown")")
        for other in [ExperimentStrategy.random, .highest] {
            let cell = ExperimentGrid.Cell(rho: half, strategy: other, loss: loss)
            guard cells.contains(cell) else {
                check(false, "reward − \(other.rawValue) > 0 with a 95% interval excluding 0: \(other.rawValue) not in the grid")
                continue
            }
            let estimate = Estimate(pairedDifferences(reward, cell))
            check(
                estimate.mean > 0 && estimate.excludesZero,
                "reward − \(other.rawValue) > 0 with a 95% interval excluding 0: \(estimate.formatted())")
        }
        if loss == .wdpo {
            let dpo = ExperimentGrid.Cell(rho: half, strategy: .reward, loss: .dpo)
            if cells.contains(dpo) {
                let estimate = Estimate(pairedDifferences(reward, dpo))
                check(estimate.mean >= 0, "wdpo ≥ dpo (reward, ρ=0.5): \(estimate.formatted())")
            }
        }
        return (met, lines)
    }

    /// The results as text: the cell table, the paired comparisons, Fig. 2's split per
    /// iteration, and the goal check.
    public func table() -> String {
        let pi0 = Estimate(seeds.compactMap { initialEval[$0] })
        var lines = ["π_0 (SFT start) eval reward: \(pi0.formatted())   seeds: \(seeds.count)   T = \(iterations)"]
        for loss in Set(cells.map(\.loss)).sorted(by: { $0.rawValue > $1.rawValue }) {
            let pi1 = Estimate(seeds.compactMap { sharedEval[SharedKey(seed: $0, loss: loss)] })
            lines.append("shared π_1 (fully-online iteration 0 with \(loss.rawValue)) eval reward: \(pi1.formatted())")
        }
        if interrupted {
            lines.append("INTERRUPTED: the grid was stopped; cells marked unfinished lack seeds (run the same command again to go on)")
        }
        lines.append("")

        let header = [
            "cell", "seeds", "final eval π_T", "gain from π_1", "% of ρ=1 gain (π_1)", "% of ρ=1 gain (π_0)", "tokens after it. 0",
            "% of ρ=1 tokens",
        ]
        var rows: [[String]] = []
        for cell in cells {
            let done = finishedCount(cell)
            let final = Estimate(values(cell) { $1.finalEval })
            let gain = Estimate(values(cell) { gainFromShared(cell, $0, $1) })
            let tokens = Estimate(values(cell) { Double($1.tokensAfterShared) })
            var name = cell.label
            if cell.strategy == .randomMatched {
                let rhos = Estimate(values(cell) { $1.rho.doubleValue })
                if rhos.count > 0 { name += String(format: " (mean ρ %.3f)", rhos.mean) }
            }
            rows.append([
                name, done == seeds.count ? "\(done)" : "\(done)/\(seeds.count) unfinished",
                done > 0 ? final.formatted() : "unfinished", done > 0 ? gain.formatted() : "—",
                Self.percent(gainShare(cell, fromShared: true)), Self.percent(gainShare(cell, fromShared: false)),
                done > 0 ? String(format: "%.0f", tokens.mean) : "—", Self.percent(tokenShare(cell)),
            ])
        }
        lines += Self.aligned(header: header, rows: rows)
        lines.append("")
        lines.append(
            "final eval: mean reward of K samples per eval prompt, mean ± 95% interval over seeds. gain from π_1: π_T − the shared π_1 of")
        lines.append("the same seed and loss. % of ρ=1 gain: mean gain / ρ=1's mean gain (same loss), from π_1 and from π_0.")
        lines.append("tokens: train tokens generated after the shared iteration 0. Unfinished runs are left out of every figure.")

        let comparisons = comparisons()
        if !comparisons.isEmpty {
            lines.append("")
            lines.append("Paired differences of final eval reward (same seed; * = 95% interval excludes 0)")
            lines += Self.aligned(
                header: ["comparison", "mean ± 95% interval", "seeds"],
                rows: comparisons.map {
                    [$0.label, $0.estimate.formatted() + ($0.estimate.excludesZero ? " *" : ""), "\($0.estimate.count)"]
                })
        }

        let ts = Array(1..<max(1, iterations))
        if !ts.isEmpty {
            lines.append("")
            lines.append(
                "Fig. 2 split: summed r_w gain from D_{t−1} to D_t of the bottom | top half of D_{t−1}, mean over seeds (bottom's share)")
            var splitRows: [[String]] = []
            for cell in cells {
                splitRows.append(
                    [cell.label]
                        + ts.map { t in
                            guard let split = meanGainSplit(cell, t: t) else { return "—" }
                            let total = split.bottom + split.top
                            let share = total > 1e-12 ? String(format: " (%.0f%%)", 100 * split.bottom / total) : ""
                            return String(format: "%+.1f | %+.1f", split.bottom, split.top) + share
                        })
            }
            lines += Self.aligned(header: ["cell"] + ts.map { "t=\($0)" }, rows: splitRows)
        }

        let goals = [LossKind.wdpo, .dpo].compactMap { loss in goal(loss: loss).map { (loss, $0) } }
        if !goals.isEmpty {
            lines.append("")
            lines.append(
                "Goal at ρ = 0.5 (reward ≥ 95% of ρ=1's gain from π_1 at ≤ 60% of its tokens, beating random and highest, wDPO ≥ DPO):")
            for (loss, goal) in goals {
                lines.append("\(loss.rawValue): \(goal.met ? "met" : "MISSED")")
                lines += goal.lines
            }
        }
        if wallSeconds > 0 { lines.append(String(format: "\nwall time of this invocation: %.0f s", wallSeconds)) }
        return lines.joined(separator: "\n")
    }

    static func percent(_ share: Double?) -> String {
        guard let share, share.isFinite else { return "—" }
        return String(format: "%.0f%%", share * 100)
    }

    static func aligned(header: [String], rows: [[String]]) -> [String] {
        let widths = header.indices.map { column in ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        return [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)
    }
}
