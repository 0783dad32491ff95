import Foundation
import Testing

@testable import Policy

@Suite("SFT and preference training")
struct TrainingTests {
    @Test("wDPO with every weight 1 takes exactly the same step as DPO")
    func unitWeightWDPOStepEqualsDPO() {
        let model = Fixtures.smallTrainedModel
        let pairs = Fixtures.pairs(from: model, prompts: DigitTaskFamily.prompts(count: 40, seed: 2), seed: 1)
            .map { PreferencePair(prompt: $0.prompt, chosen: $0.chosen, rejected: $0.rejected, weight: 1) }
        let options = { (loss: PreferenceLossKind) in
            PreferenceOptions(loss: loss, epochs: 1, batchSize: pairs.count, seed: 3)
        }
        let wdpo = PreferenceTrainer.train(model, on: pairs, options: options(.wdpo))
        let dpo = PreferenceTrainer.train(model, on: pairs, options: options(.dpo))
        #expect(wdpo.steps == 1 && dpo.steps == 1)
        #expect(wdpo.stepLosses == dpo.stepLosses)
        #expect(wdpo.model.parameters.map(\.bitPattern) == dpo.model.parameters.map(\.bitPattern))
        #expect(wdpo.model.parameters != model.parameters)
    }

    @Test("the first step's loss is mean(w)·ln 2, because π_θ starts equal to π_ref")
    func firstStepLossIsLogTwo() {
        let model = Fixtures.smallTrainedModel
        let pairs = Fixtures.pairs(from: model, prompts: DigitTaskFamily.prompts(count: 40, seed: 6), seed: 2)
        let meanWeight = pairs.map(\.weight).reduce(0, +) / Double(pairs.count)
        let result = PreferenceTrainer.train(
            model, on: pairs, options: PreferenceOptions(loss: .wdpo, epochs: 1, batchSize: pairs.count))
        #expect(abs(result.stepLosses[0] - meanWeight * log(2)) < 1e-5)
    }

    @Test("training is a pure function of the model, the pairs and the options")
    func trainingIsDeterministic() {
        let model = Fixtures.smallTrainedModel
        let pairs = Fixtures.pairs(from: model, prompts: DigitTaskFamily.prompts(count: 100, seed: 4), seed: 3)
        let a = PreferenceTrainer.train(model, on: pairs, options: PreferenceOptions(batchSize: 16, seed: 1))
        let b = PreferenceTrainer.train(model, on: pairs, options: PreferenceOptions(batchSize: 16, seed: 1))
        #expect(a.model.parameters.map(\.bitPattern) == b.model.parameters.map(\.bitPattern))
        #expect(a.steps == 4 * Int((Double(pairs.count) / 16).rounded(.up)))
        #expect(a.stepLosses.count == a.steps && a.epochLosses.count == 4)
    }

    @Test("SFT on noisy demos gives a π_0 well above random yet clearly short of perfect")
    func initialPolicyIsWeakButCompetent() {
        let eval = Fixtures.split.eval
        let random = PolicyEvaluation.meanReward(of: PolicyModel(seed: 21), on: eval, seed: 1)
        let sampled = PolicyEvaluation.meanReward(of: Fixtures.initialPolicy, on: eval, seed: 1)
        let greedy = PolicyEvaluation.greedyMeanReward(of: Fixtures.initialPolicy, on: eval)
        #expect(random < 0.1)
        #expect(sampled > random + 0.35)
        #expect(sampled < 0.85)
        #expect(greedy > sampled)
    }

    @Test("a few rounds of online DPO on π_0's own samples raise eval reward")
    func onlineDPOImprovesReward() {
        let (train, eval) = Fixtures.split
        var model = Fixtures.initialPolicy
        let before = PolicyEvaluation.meanReward(of: model, on: eval, seed: 1)
        for round in 0..<3 {
            let pairs = Fixtures.pairs(from: model, prompts: train, seed: UInt64(100 + round))
            model = PreferenceTrainer.train(model, on: pairs, options: PreferenceOptions(seed: UInt64(round))).model
        }
        let after = PolicyEvaluation.meanReward(of: model, on: eval, seed: 1)
        // Measured: +0.07 to +0.10 over seeds; 500 eval prompts give a standard error ≈ 0.015.
        #expect(after > before + 0.04, "eval reward \(before) → \(after)")
    }
}
