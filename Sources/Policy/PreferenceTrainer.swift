/// Options of one DPO/wDPO training run π_t → π_{t+1}.
public struct PreferenceOptions: Sendable, Hashable, Codable {
    /// DPO or wDPO.
    public var loss: PreferenceLossKind
    /// β1, the inverse temperature of the preference logit β1·(Δ(y_w) − Δ(y_l)).
    public var beta: Double
    /// Passes over the pairs.
    public var epochs: Int
    /// Pairs per step.
    public var batchSize: Int
    /// Optimiser, learning rate and warm-up.
    public var optimizer: OptimizerSettings
    /// Fixes the order of the pairs in each epoch.
    public var seed: UInt64

    /// Stable defaults for the built-in model: wDPO, β1 = 2, 4 epochs of 64 pairs, RMSProp (the
    /// paper's optimiser) at a constant 2e-4 after a 10% linear warm-up. These are the
    /// prototype's stable values (DESIGN §7: Adam lr ≥ 1e-3 or β1 ≤ 0.5 collapsed its reward);
    /// the warm-up matters for RMSProp, whose first updates are up to 10× lr per weight before
    /// its squared-gradient average fills. Here, over 5 online iterations, RMSProp at 1e-3
    /// already lowered greedy reward (0.88 → 0.86) while 2e-4 raised it monotonically.
    public init(
        loss: PreferenceLossKind = .wdpo, beta: Double = 2, epochs: Int = 4, batchSize: Int = 64,
        optimizer: OptimizerSettings = OptimizerSettings(kind: .rmsProp, learningRate: 2e-4, warmupFraction: 0.1),
        seed: UInt64 = 0
    ) {
        precondition(beta > 0 && epochs >= 0 && batchSize > 0, "invalid preference options")
        self.loss = loss
        self.beta = beta
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.seed = seed
    }
}

/// What a preference training run produced.
public struct PreferenceTrainingResult: Sendable {
    /// π_{t+1}.
    public var model: PolicyModel
    /// The minibatch loss of every step, before its update.
    public var stepLosses: [Double]
    /// The mean of each epoch's step losses, weighted by pairs.
    public var epochLosses: [Double]
    /// Fraction of pairs with a positive margin (π_θ prefers y_w more than π_ref does), per epoch,
    /// before each step's update.
    public var epochAccuracies: [Double]
    /// Pairs trained on (each epoch).
    public var pairs: Int
    /// Optimiser steps taken.
    public var steps: Int
    /// Token positions in the forward passes (all epochs, chosen and rejected).
    public var tokens: Int
}

/// DPO/wDPO exactly as DESIGN §2 step 5: with Δ(y) = log π_θ(y|x) − log π_ref(y|x) and the
/// reference π_ref = the starting model π_t, frozen (its log-probabilities are computed once,
/// before the first step),
///
///     dpo:  L = −mean[ log σ(β1·(Δ(y_w) − Δ(y_l))) ]
///     wdpo: L = −mean[ R · log σ(β1·(Δ(y_w) − Δ(y_l))) ]
///
/// over each minibatch. The reference is π_t for every pair, including pairs whose responses
/// an older policy generated.
public enum PreferenceTrainer {
    /// Trains π_t = `reference` on `pairs` and returns π_{t+1}. Holds all of `pairs`; see
    /// ``train(_:from:options:)`` for D_t read in pages (the same steps, bit for bit).
    public static func train(_ reference: PolicyModel, on pairs: [PreferencePair], options: PreferenceOptions = PreferenceOptions())
        -> PreferenceTrainingResult
    {
        var run = PreferenceRun(reference: reference, count: pairs.count, options: options)
        for chunk in chunks(pairs.count, size: PolicyModel.chunkSize) { run.addReference(pairs[chunk]) }
        for _ in 0..<options.epochs where !pairs.isEmpty {
            let order = run.epochOrder()
            var epoch = PreferenceRun.Epoch()
            for batch in chunks(order.count, size: options.batchSize) {
                run.step(positions: order[batch], pairs: ArraySlice(order[batch].map { pairs[$0] }), epoch: &epoch)
            }
            run.finish(epoch)
        }
        return run.result()
    }

    /// The minibatch loss at `model` and its gradient with respect to the model's parameters
    /// (written into `gradient`), with the margins it used and the token rows it ran.
    static func lossAndGradient(
        _ model: PolicyModel, workspace: Workspace, pairs: [PreferencePair], referenceChosen: [Double],
        referenceRejected: [Double], weights: [Double], beta: Double, into gradient: inout [Float]
    ) -> (loss: Double, margins: [Double], tokens: Int) {
        // Rows: all chosen responses, then all rejected ones.
        let prompts = pairs.map(\.prompt)
        let ranges = workspace.load(
            prompts: ArraySlice(prompts + prompts), responses: ArraySlice(pairs.map(\.chosen) + pairs.map(\.rejected)))
        model.parameters.withUnsafeBufferPointer { workspace.forward($0.baseAddress!) }
        let logProbabilities = workspace.sequenceSums(ranges)
        let n = pairs.count
        let margins = (0..<n).map { i in
            (logProbabilities[i] - referenceChosen[i]) - (logProbabilities[n + i] - referenceRejected[i])
        }
        let loss = PreferenceLoss.value(margins: margins, weights: weights, beta: beta)
        let marginGradient = PreferenceLoss.gradient(margins: margins, weights: weights, beta: beta)
        // ∂L/∂ log π_θ(y_w) = ∂L/∂m, ∂L/∂ log π_θ(y_l) = −∂L/∂m, shared by every row of the response.
        var coefficients = [Double](repeating: 0, count: workspace.rows)
        for i in 0..<n {
            for row in ranges[i] { coefficients[row] = marginGradient[i] }
            for row in ranges[n + i] { coefficients[row] = -marginGradient[i] }
        }
        model.parameters.withUnsafeBufferPointer { w in
            gradient.withUnsafeMutableBufferPointer { g in
                workspace.backward(w.baseAddress!, coefficients: coefficients, into: g.baseAddress!)
            }
        }
        return (loss, margins, workspace.rows)
    }
}
