import Buffer
import Selection
import Testing

@testable import Experiments

/// A result built by hand: every figure below is computed from these numbers in the test.
struct Fixture {
    static let half = DecimalRatio("0.5")!
    static let reward = ExperimentGrid.Cell(rho: half, strategy: .reward, loss: .wdpo)
    static let random = ExperimentGrid.Cell(rho: half, strategy: .random, loss: .wdpo)
    static let highest = ExperimentGrid.Cell(rho: half, strategy: .highest, loss: .wdpo)
    static let full = ExperimentGrid.Cell(rho: .one, strategy: .full, loss: .wdpo)
    static let dpoReward = ExperimentGrid.Cell(rho: half, strategy: .reward, loss: .dpo)
    static let dpoFull = ExperimentGrid.Cell(rho: .one, strategy: .full, loss: .dpo)

    var result = ExperimentResult(
        cells: [full, reward, random, highest, dpoFull, dpoReward].sorted(), seeds: [1, 2, 3, 4], iterations: 3)

    mutating func set(_ cell: ExperimentGrid.Cell, _ seed: Int64, eval: Double, tokens: Int, finished: Bool = true) {
        result.outcomes[.init(cell: cell, seed: seed)] = .init(
            finished: finished, finalEval: eval, tokensAfterShared: tokens, rho: cell.rho)
    }

    static func make() -> Fixture {
        var f = Fixture()
        for seed: Int64 in 1...4 {
            let s = Double(seed) * 0.01
            f.result.initialEval[seed] = 0.50 + s
            f.result.sharedEval[.init(seed: seed, loss: .wdpo)] = 0.60 + s
            f.result.sharedEval[.init(seed: seed, loss: .dpo)] = 0.58 + s
            f.set(full, seed, eval: 0.70 + s, tokens: 1000)
            f.set(reward, seed, eval: 0.697 + s + (seed == 2 ? 0.002 : 0), tokens: 550)
            f.set(random, seed, eval: 0.66 + s + (seed == 3 ? 0.004 : 0), tokens: 500)
            f.set(highest, seed, eval: 0.62 + s, tokens: 450)
            f.set(dpoFull, seed, eval: 0.68 + s, tokens: 1000)
            f.set(dpoReward, seed, eval: 0.67 + s, tokens: 560)
        }
        return f
    }
}

@Suite("Experiment results: gains, shares and paired comparisons")
struct ExperimentResultTests {
    @Test func gainSharesCountFromTheSharedPi1AndFromPi0() throws {
        let result = Fixture.make().result
        // From π_1: reward gains 0.097 (+0.0005 on average), ρ = 1 gains 0.10.
        let fromShared = try #require(result.gainShare(Fixture.reward, fromShared: true))
        #expect(abs(fromShared - 0.0975 / 0.10) < 1e-9)
        // From π_0 every cell is also credited with iteration 0's gain of 0.10.
        let fromInitial = try #require(result.gainShare(Fixture.reward, fromShared: false))
        #expect(abs(fromInitial - 0.1975 / 0.20) < 1e-9)
        #expect(fromInitial > fromShared)
        #expect(abs(try #require(result.tokenShare(Fixture.reward)) - 0.55) < 1e-12)
    }

    @Test func pairedDifferencesPairSeedsAndSkipUnfinishedRuns() {
        var fixture = Fixture.make()
        let all = fixture.result.pairedDifferences(Fixture.reward, Fixture.random)
        #expect(all.count == 4)
        #expect(zip(all, [0.037, 0.039, 0.033, 0.037]).allSatisfy { abs($0 - $1) < 1e-12 })
        fixture.set(Fixture.random, 4, eval: 0.2, tokens: 100, finished: false)
        let three = fixture.result.pairedDifferences(Fixture.reward, Fixture.random)
        #expect(three.count == 3)
        #expect(fixture.result.finishedCount(Fixture.random) == 3)
        // The unfinished run is left out of the table's figures and shown as unfinished.
        let table = fixture.result.table()
        #expect(table.contains("3/4 unfinished"))
    }

    @Test func comparisonsCoverRandomHighestLossAndFullRho() {
        let labels = Fixture.make().result.comparisons().map(\.label)
        #expect(labels.contains("ρ=0.5 wdpo: reward − random"))
        #expect(labels.contains("ρ=0.5 wdpo: reward − highest"))
        #expect(labels.contains("ρ=0.5 reward: wdpo − dpo"))
        #expect(labels.contains("ρ=1 full: wdpo − dpo"))
        #expect(labels.contains("ρ=0.5 reward wdpo − ρ=1 wdpo"))
        #expect(labels.contains("ρ=0.5 reward dpo − ρ=1 dpo"))
        #expect(!labels.contains { $0.contains("random-matched") })  // not in this grid
    }

    @Test func theGoalIsJudgedOnEveryCondition() throws {
        var fixture = Fixture.make()
        let met = try #require(fixture.result.goal(loss: .wdpo))
        #expect(met.met, "\(met.lines)")
        // Tokens above 60% of ρ = 1's miss the goal, whatever the reward.
        for seed: Int64 in 1...4 { fixture.set(Fixture.reward, seed, eval: 0.70 + Double(seed) * 0.01, tokens: 700) }
        let missed = try #require(fixture.result.goal(loss: .wdpo))
        #expect(!missed.met)
        #expect(missed.lines.contains { $0.contains("MISSED") && $0.contains("70.0%") })
    }

    @Test func theGainSplitIsAveragedOverFinishedSeeds() throws {
        var fixture = Fixture.make()
        for seed: Int64 in 1...2 {
            var outcome = try #require(fixture.result.outcomes[.init(cell: Fixture.reward, seed: seed)])
            outcome.gainSplit = [GainSplit(t: 1, bottomCount: 5, topCount: 5, bottomGain: Double(seed), topGain: 1)]
            fixture.result.outcomes[.init(cell: Fixture.reward, seed: seed)] = outcome
        }
        let split = try #require(fixture.result.meanGainSplit(Fixture.reward, t: 1))
        #expect(split.bottom == 1.5 && split.top == 1)
        #expect(fixture.result.meanGainSplit(Fixture.reward, t: 2) == nil)
    }
}

@Suite("The experiment grid")
struct ExperimentGridTests {
    @Test func rhoOneIsOneFullCellPerLossAndOtherRatiosGetEveryStrategy() {
        var grid = ExperimentGrid(label: "g")
        grid.strategies = [.reward, .random, .highest, .randomMatched]
        let cells = grid.cells
        #expect(cells.count == 2 * (1 + 3 * 4))
        #expect(cells.filter { $0.rho == .one }.allSatisfy { $0.strategy == .full })
        // Random-matched needs reward and random of its ρ first: it sorts after them.
        let order = cells.filter { $0.loss == .wdpo && $0.rho == Fixture.half }.map(\.strategy)
        #expect(order == [.reward, .random, .randomMatched, .highest])
        #expect(grid.problem == nil)
        grid.strategies = [.random, .randomMatched]
        #expect(grid.problem != nil)
        grid.strategies = [.reward]
        grid.seeds = [1]
        #expect(grid.problem != nil)
    }

    @Test func matchedRandomScalesRhoByRewardsTokensOverRandoms() {
        #expect(ExperimentGrid.matchedRatio(rho: Fixture.half, rewardTokens: 600, randomTokens: 500)?.description == "0.6")
        #expect(ExperimentGrid.matchedRatio(rho: Fixture.half, rewardTokens: 550, randomTokens: 500)?.description == "0.55")
        // Up to the next thousandth, never past 1 nor below 0.001.
        #expect(ExperimentGrid.matchedRatio(rho: Fixture.half, rewardTokens: 1001, randomTokens: 1000)?.description == "0.501")
        #expect(ExperimentGrid.matchedRatio(rho: Fixture.half, rewardTokens: 5000, randomTokens: 1000) == .one)
        #expect(ExperimentGrid.matchedRatio(rho: Fixture.half, rewardTokens: 0, randomTokens: 1000)?.description == "0.001")
        #expect(ExperimentGrid.matchedRatio(rho: Fixture.half, rewardTokens: 10, randomTokens: 0) == nil)
    }

    @Test func cellsAndRunsHaveStableNamesThatParseBack() throws {
        let grid = ExperimentGrid(label: "exp-x")
        #expect(grid.runName(Fixture.reward, seed: 3) == "exp-x-s3-rho0.5-reward-wdpo")
        #expect(grid.sharedRunName(seed: 3, loss: .dpo) == "exp-x-s3-dpo-shared")
        let matched = ExperimentGrid.Cell(rho: Fixture.half, strategy: .randomMatched, loss: .dpo)
        let parsed = try #require(ExperimentGrid.parse(runName: grid.runName(matched, seed: 12), label: "exp-x"))
        #expect(parsed.seed == 12 && parsed.loss == .dpo && parsed.cell == matched)
        let shared = try #require(ExperimentGrid.parse(runName: "exp-x-s3-wdpo-shared", label: "exp-x"))
        #expect(shared.seed == 3 && shared.loss == .wdpo && shared.cell == nil)
        for other in ["exp-x-s3-rho0.5-sideways-wdpo", "exp-x-sthree-wdpo-shared", "exp-y-s3-wdpo-shared", "exp-x-s3-rho1.5-full-wdpo"] {
            #expect(ExperimentGrid.parse(runName: other, label: "exp-x") == nil, "\(other)")
        }
    }

    @Test func aFilteredGridHasOnlyTheCellsItRan() {
        var grid = ExperimentGrid(label: "g")
        grid.strategies = [.reward, .random, .randomMatched]
        grid.cellFilter = [Fixture.reward, Fixture.full]
        #expect(grid.cells == [Fixture.full, Fixture.reward])
    }
}
