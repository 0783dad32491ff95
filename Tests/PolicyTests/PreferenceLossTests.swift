import Foundation
import Testing

@testable import Policy

@Suite("The DPO and wDPO loss on margins")
struct PreferenceLossTests {
    @Test("a two-pair case matches the hand computation")
    func handComputedCase() {
        // β = 2, margins m = [0, ln(3)/2] so β·m = [0, ln 3]; weights w = [1, 0.5]; B = 2.
        // log σ(0) = −ln 2;  σ(ln 3) = 3/4 so log σ(ln 3) = ln(3/4).
        // L = −(1·(−ln 2) + 0.5·ln(3/4)) / 2 = (ln 2 − 0.5·ln 0.75) / 2 = (0.693147 + 0.143841) / 2 = 0.418494
        // ∂L/∂m_i = −(w_i/B)·β·σ(−β·m_i):  −(1/2)·2·(1/2) = −0.5;  −(0.5/2)·2·(1/4) = −0.125
        let margins = [0, log(3.0) / 2]
        let weights = [1, 0.5]
        let loss = PreferenceLoss.value(margins: margins, weights: weights, beta: 2)
        #expect(abs(loss - 0.418_494) < 1e-6)
        #expect(abs(loss - (log(2) - 0.5 * log(0.75)) / 2) < 1e-12)
        let gradient = PreferenceLoss.gradient(margins: margins, weights: weights, beta: 2)
        #expect(abs(gradient[0] - -0.5) < 1e-12)
        #expect(abs(gradient[1] - -0.125) < 1e-12)
        // DPO ignores the weights: (ln 2 − ln 0.75) / 2 = 0.490415.
        let dpo = PreferenceLoss.value(margins: margins, weights: [1, 1], beta: 2)
        #expect(abs(dpo - 0.490_415) < 1e-6)
    }

    @Test("the gradient agrees with central finite differences", arguments: [PreferenceLossKind.dpo, .wdpo])
    func gradientMatchesFiniteDifferences(kind: PreferenceLossKind) {
        var rng = SplitMix64(seed: 17)
        let margins = (0..<12).map { _ in 6 * rng.nextUnit() - 3 }
        let weights = kind == .dpo ? [Double](repeating: 1, count: 12) : (0..<12).map { _ in rng.nextUnit() }
        for beta in [0.5, 2.0] {
            let gradient = PreferenceLoss.gradient(margins: margins, weights: weights, beta: beta)
            for i in margins.indices {
                let h = 1e-5
                var up = margins
                var down = margins
                up[i] += h
                down[i] -= h
                let numeric =
                    (PreferenceLoss.value(margins: up, weights: weights, beta: beta)
                        - PreferenceLoss.value(margins: down, weights: weights, beta: beta)) / (2 * h)
                #expect(abs(numeric - gradient[i]) < 1e-8)
            }
        }
    }

    @Test("wDPO with every weight 1 is DPO")
    func unitWeightsAreDPO() {
        let pairs = (0..<5).map { i in
            PreferencePair(prompt: DigitPrompt(kind: .copy, digits: [1, UInt8(i)]), chosen: [1], rejected: [2], weight: 1)
        }
        #expect(PreferenceLoss.weights(.wdpo, of: pairs) == PreferenceLoss.weights(.dpo, of: pairs))
        let margins = [-1.0, 0, 0.3, 2, 5]
        let ones = PreferenceLoss.weights(.wdpo, of: pairs)
        #expect(
            PreferenceLoss.value(margins: margins, weights: ones, beta: 2)
                == PreferenceLoss.value(
                    margins: margins, weights: PreferenceLoss.weights(.dpo, of: pairs), beta: 2))
    }

    @Test("extreme margins give finite losses and gradients")
    func extremeMarginsAreFinite() {
        let margins = [-1e4, -50, 50, 1e4]
        let loss = PreferenceLoss.value(margins: margins, weights: [1, 1, 1, 1], beta: 2)
        #expect(loss.isFinite && abs(loss - (2e4 + 100) / 4) < 1e-6)
        let gradient = PreferenceLoss.gradient(margins: margins, weights: [1, 1, 1, 1], beta: 2)
        #expect(gradient.allSatisfy { $0.isFinite })
    }

    @Test("the pair weight is σ(β2·(r_w − r_l))")
    func pairWeight() {
        #expect(PreferenceLoss.pairWeight(chosenReward: 0.5, rejectedReward: 0.5, beta2: 5) == 0.5)
        #expect(abs(PreferenceLoss.pairWeight(chosenReward: 1, rejectedReward: 0.8, beta2: 5) - 1 / (1 + exp(-1))) < 1e-12)
    }
}
