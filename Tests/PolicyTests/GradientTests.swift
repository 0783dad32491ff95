import Testing

@testable import Policy

@Suite("The trainer's gradient through the network")
struct GradientTests {
    /// L(θ) computed only through the public log-probabilities, as DESIGN §2 step 5 defines it.
    static func loss(_ model: PolicyModel, reference: PolicyModel, pairs: [PreferencePair], weights: [Double], beta: Double)
        -> Double
    {
        let prompts = pairs.map(\.prompt)
        let chosen = model.logProbabilities(prompts: prompts, responses: pairs.map(\.chosen))
        let rejected = model.logProbabilities(prompts: prompts, responses: pairs.map(\.rejected))
        let refChosen = reference.logProbabilities(prompts: prompts, responses: pairs.map(\.chosen))
        let refRejected = reference.logProbabilities(prompts: prompts, responses: pairs.map(\.rejected))
        let margins = pairs.indices.map { (chosen[$0] - refChosen[$0]) - (rejected[$0] - refRejected[$0]) }
        return PreferenceLoss.value(margins: margins, weights: weights, beta: beta)
    }

    @Test(
        "the backpropagated gradient agrees with finite differences of the loss",
        arguments: [PreferenceLossKind.dpo, .wdpo])
    func backpropMatchesFiniteDifferences(kind: PreferenceLossKind) {
        let reference = Fixtures.smallTrainedModel
        // π_θ a little away from π_ref, so the margins and σ terms are not trivial.
        var model = reference
        var rng = SplitMix64(seed: 99)
        for i in model.parameters.indices { model.parameters[i] += Float(0.05 * rng.nextGaussian()) }
        let prompts = DigitTaskFamily.prompts(count: 12, seed: 31)
        let pairs = Fixtures.pairs(from: reference, prompts: prompts + prompts, seed: 5)
        #expect(pairs.count >= 4)
        let weights = PreferenceLoss.weights(kind, of: pairs)
        let beta = 2.0

        var gradient = [Float](repeating: 0, count: model.layout.count)
        let workspace = Workspace(config: model.config)
        let step = PreferenceTrainer.lossAndGradient(
            model, workspace: workspace, pairs: pairs,
            referenceChosen: reference.logProbabilities(prompts: pairs.map(\.prompt), responses: pairs.map(\.chosen)),
            referenceRejected: reference.logProbabilities(prompts: pairs.map(\.prompt), responses: pairs.map(\.rejected)),
            weights: weights, beta: beta, into: &gradient)
        let direct = Self.loss(model, reference: reference, pairs: pairs, weights: weights, beta: beta)
        #expect(abs(step.loss - direct) < 1e-5)

        // The three largest-gradient weights of every tensor (where Float differences resolve best).
        let layout = model.layout
        let tensors = [
            layout.inputWeights, layout.firstWeights, layout.firstBias, layout.secondWeights, layout.secondBias,
            layout.outputWeights, layout.outputBias,
        ]
        for tensor in tensors {
            let picks = tensor.sorted { abs(gradient[$0]) > abs(gradient[$1]) }.prefix(3)
            for index in picks {
                let h: Float = 1e-2
                var up = model
                var down = model
                up.parameters[index] += h
                down.parameters[index] -= h
                let numeric =
                    (Self.loss(up, reference: reference, pairs: pairs, weights: weights, beta: beta)
                        - Self.loss(down, reference: reference, pairs: pairs, weights: weights, beta: beta)) / Double(2 * h)
                let analytic = Double(gradient[index])
                #expect(
                    abs(numeric - analytic) <= 0.03 * abs(analytic) + 2e-4,
                    "parameter \(index): finite difference \(numeric), backprop \(analytic)")
            }
        }
    }
}
