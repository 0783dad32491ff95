/// One preference training run in progress, shared by the in-memory and the paged trainers so
/// that both take exactly the same steps: π_ref's log-probabilities and the loss weights of every
/// pair (by position), the optimiser and its random order, the model being trained and what has
/// been recorded. Holds O(|D_t|) numbers but no pairs.
struct PreferenceRun {
    /// Sums over one epoch's steps.
    struct Epoch {
        var lossSum = 0.0
        var wins = 0
    }

    let options: PreferenceOptions
    let count: Int
    let reference: PolicyModel
    private var model: PolicyModel
    private let workspace: Workspace
    private var optimizer: Optimizer
    private var gradient: [Float]
    private var rng: SplitMix64
    private let totalSteps: Int
    private var referenceChosen: [Double] = []
    private var referenceRejected: [Double] = []
    private var weights: [Double] = []
    private var record: PreferenceTrainingResult

    init(reference: PolicyModel, count: Int, options: PreferenceOptions) {
        self.options = options
        self.count = count
        self.reference = reference
        model = reference
        workspace = Workspace(config: reference.config)
        optimizer = Optimizer(settings: options.optimizer, parameterCount: reference.layout.count)
        gradient = [Float](repeating: 0, count: reference.layout.count)
        rng = SplitMix64(seed: SplitMix64.mix(options.seed, 0x64_706F))  // "dpo"
        totalSteps = (count + options.batchSize - 1) / options.batchSize * options.epochs
        record = PreferenceTrainingResult(
            model: reference, stepLosses: [], epochLosses: [], epochAccuracies: [], pairs: count, steps: 0, tokens: 0)
        referenceChosen.reserveCapacity(count)
        referenceRejected.reserveCapacity(count)
        weights.reserveCapacity(count)
    }

    /// Records π_ref's log-probabilities and the loss weights of the next pairs in position
    /// order. Called with ``PolicyModel/chunkSize`` pairs at a time (the last call with the
    /// rest), the results equal one ``PolicyModel/logProbabilities(prompts:responses:)`` call
    /// over all pairs bit for bit.
    mutating func addReference(_ pairs: ArraySlice<PreferencePair>) {
        let prompts = pairs.map(\.prompt)
        referenceChosen += reference.logProbabilities(prompts: prompts, responses: pairs.map(\.chosen))
        referenceRejected += reference.logProbabilities(prompts: prompts, responses: pairs.map(\.rejected))
        weights += PreferenceLoss.weights(options.loss, of: Array(pairs))
    }

    /// The positions in the order of the next epoch.
    mutating func epochOrder() -> [Int] {
        precondition(weights.count == count, "every pair's reference must be recorded before training")
        return shuffledIndices(count, using: &rng)
    }

    /// One optimiser step on the minibatch `pairs`, which sit at `positions`.
    mutating func step(positions: ArraySlice<Int>, pairs: ArraySlice<PreferencePair>, epoch: inout Epoch) {
        precondition(positions.count == pairs.count, "one position per pair")
        let step = PreferenceTrainer.lossAndGradient(
            model, workspace: workspace, pairs: Array(pairs),
            referenceChosen: positions.map { referenceChosen[$0] },
            referenceRejected: positions.map { referenceRejected[$0] },
            weights: positions.map { weights[$0] }, beta: options.beta, into: &gradient)
        optimizer.step(
            &model.parameters, gradient: gradient,
            learningRate: options.optimizer.learningRate(atStep: record.steps, of: totalSteps))
        record.stepLosses.append(step.loss)
        record.steps += 1
        record.tokens += step.tokens
        epoch.lossSum += step.loss * Double(positions.count)
        epoch.wins += step.margins.count { $0 > 0 }
    }

    /// Records the epoch's mean loss and accuracy.
    mutating func finish(_ epoch: Epoch) {
        record.epochLosses.append(epoch.lossSum / Double(count))
        record.epochAccuracies.append(Double(epoch.wins) / Double(count))
    }

    /// What the run produced so far, with the current model.
    func result() -> PreferenceTrainingResult {
        var result = record
        result.model = model
        return result
    }
}
