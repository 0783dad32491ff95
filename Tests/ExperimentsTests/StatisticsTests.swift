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
