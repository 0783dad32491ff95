import Testing

@testable import Experiments

@Suite("Estimates with confidence intervals")
struct StatisticsTests {
    @Test func theIntervalOfFiveSamplesUsesStudentsT() {
        // mean 3, sample variance 2.5, standard error sqrt(2.5 / 5) = 0.7071, t(4) = 2.776.
        let estimate = Estimate([1, 2, 3, 4, 5])
        #expect(estimate.mean == 3)
        #expect(abs(estimate.halfWidth! - 2.776 * 0.5.squareRoot()) < 1e-9)
        #expect(estimate.excludesZero)
    }

    @Test func anIntervalAcrossZeroDoesNotExcludeIt() {
        let estimate = Estimate([-0.01, 0.02, -0.005, 0.01])
        #expect(!estimate.excludesZero)
    }

    @Test func oneSampleHasNoInterval() {
        #expect(Estimate([0.5]).halfWidth == nil)
        #expect(!Estimate([0.5]).excludesZero)
    }
}

@Suite("Student's t for the grid's seed counts")
struct StudentTTests {
    @Test func tenSeedsUseNineDegreesOfFreedom() {
        // Differences 1 … 10: mean 5.5, sample sd 3.0277, se 0.9574, t(9) = 2.262.
        let estimate = Estimate((1...10).map(Double.init))
        #expect(estimate.mean == 5.5)
        let squares: [Double] = (1...10).map { (i: Int) -> Double in
            let deviation = Double(i) - 5.5
            return deviation * deviation
        }
        let sd = (squares.reduce(0, +) / 9).squareRoot()
        #expect(abs(estimate.halfWidth! - 2.262 * sd / 10.0.squareRoot()) < 1e-9)
        #expect(Estimate.tCritical95(degreesOfFreedom: 9) == 2.262)
        #expect(Estimate.tCritical95(degreesOfFreedom: 100) == 1.96)
    }

    @Test func anEmptySampleHasNoMean() {
        let estimate = Estimate([])
        #expect(estimate.mean.isNaN && estimate.count == 0 && !estimate.excludesZero)
    }
}
