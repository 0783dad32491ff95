import Testing

@testable import Buffer
@testable import Experiments

@Suite("Experiment table")
struct ExperimentTableTests {
    @Test func aGridWithoutRhoOneShowsDashesNotNaN() {
        let cells = [
            ExperimentGrid.Cell(rho: 0.5, strategy: .reward, loss: .wdpo), ExperimentGrid.Cell(rho: 0.5, strategy: .random, loss: .wdpo),
        ]
        var result = ExperimentResult(cells: cells, seeds: [1, 2])
        for (index, cell) in cells.enumerated() {
            for seed: Int64 in [1, 2] {
                result.outcomes[.init(cell: cell, seed: seed)] = .init(
                    finalEval: 0.5 + Double(index) * 0.1 + Double(seed) * 0.01, tokensAfterShared: 100 * Int(seed))
            }
        }
        result.initialEval = [1: 0.4, 2: 0.41]
        result.sharedEval = [1: 0.45, 2: 0.46]
        let table = result.table()
        #expect(!table.lowercased().contains("nan"), "\(table)")
        let reward = table.split(separator: "\n").first { $0.hasPrefix("ρ=0.5 reward") }
        #expect(reward?.contains("—") == true)
        #expect(reward?.contains("150") == true)  // mean train tokens over the two seeds
    }
}
