import Testing

@testable import Policy

@Suite("Preference training from pages")
struct PagedTrainingTests {
    /// More pairs than one chunk of π_ref's log-probabilities (``PolicyModel/chunkSize``), so
    /// that pages straddle a chunk boundary.
    static let pairs = Fixtures.pairs(
        from: Fixtures.smallTrainedModel, prompts: DigitTaskFamily.prompts(count: 6000, seed: 31), seed: 8)
    static let options = PreferenceOptions(epochs: 2, batchSize: 16, seed: 5)
    /// The previous whole-array trainer's result on ``pairs``.
    static let previous = previousTrain(Fixtures.smallTrainedModel, on: pairs, options: options)

    /// The whole-array trainer as it was before the paged one (commit 829a560), kept verbatim as
    /// the behaviour both trainers must still reproduce bit for bit.
    static func previousTrain(_ reference: PolicyModel, on pairs: [PreferencePair], options: PreferenceOptions)
        -> PreferenceTrainingResult
    {
        var model = reference
        let weights = PreferenceLoss.weights(options.loss, of: pairs)
        let referenceChosen = reference.logProbabilities(prompts: pairs.map(\.prompt), responses: pairs.map(\.chosen))
        let referenceRejected = reference.logProbabilities(prompts: pairs.map(\.prompt), responses: pairs.map(\.rejected))
        let workspace = Workspace(config: model.config)
        var optimizer = Optimizer(settings: options.optimizer, parameterCount: model.layout.count)
        var gradient = [Float](repeating: 0, count: model.layout.count)
        var rng = SplitMix64(seed: SplitMix64.mix(options.seed, 0x64_706F))
        let totalSteps = (pairs.count + options.batchSize - 1) / options.batchSize * options.epochs
        var result = PreferenceTrainingResult(
            model: model, stepLosses: [], epochLosses: [], epochAccuracies: [], pairs: pairs.count, steps: 0, tokens: 0)
        for _ in 0..<options.epochs where !pairs.isEmpty {
            let order = shuffledIndices(pairs.count, using: &rng)
            var lossSum = 0.0
            var wins = 0
            for batch in chunks(order.count, size: options.batchSize) {
                let members = Array(order[batch])
                let step = PreferenceTrainer.lossAndGradient(
                    model, workspace: workspace, pairs: members.map { pairs[$0] },
                    referenceChosen: members.map { referenceChosen[$0] }, referenceRejected: members.map { referenceRejected[$0] },
                    weights: members.map { weights[$0] }, beta: options.beta, into: &gradient)
                optimizer.step(
                    &model.parameters, gradient: gradient,
                    learningRate: options.optimizer.learningRate(atStep: result.steps, of: totalSteps))
                result.stepLosses.append(step.loss)
                result.steps += 1
                result.tokens += step.tokens
                lossSum += step.loss * Double(members.count)
                wins += step.margins.count { $0 > 0 }
            }
            result.epochLosses.append(lossSum / Double(pairs.count))
            result.epochAccuracies.append(Double(wins) / Double(pairs.count))
        }
        result.model = model
        return result
    }

    static func expectSame(_ a: PreferenceTrainingResult, _ b: PreferenceTrainingResult, sourceLocation: SourceLocation = #_sourceLocation)
    {
        #expect(a.model.parameters.map(\.bitPattern) == b.model.parameters.map(\.bitPattern), sourceLocation: sourceLocation)
        #expect(a.stepLosses.map(\.bitPattern) == b.stepLosses.map(\.bitPattern), sourceLocation: sourceLocation)
        #expect(a.epochLosses == b.epochLosses && a.epochAccuracies == b.epochAccuracies, sourceLocation: sourceLocation)
        #expect(a.pairs == b.pairs && a.steps == b.steps && a.tokens == b.tokens, sourceLocation: sourceLocation)
    }

    @Test("the whole-array trainer still takes exactly the previous steps")
    func wholeArrayTrainerIsUnchanged() throws {
        try #require(Self.pairs.count > PolicyModel.chunkSize)
        let now = PreferenceTrainer.train(Fixtures.smallTrainedModel, on: Self.pairs, options: Self.options)
        Self.expectSame(now, Self.previous)
        #expect(now.model.parameters != Fixtures.smallTrainedModel.parameters)
    }

    @Test("training from pages gives bit-identical weights and losses whatever the page size", arguments: [1, 7, 100, 1024, 5000])
    func pagedTrainingEqualsWholeArrayTraining(pageSize: Int) async throws {
        try #require(Self.pairs.count > PolicyModel.chunkSize)
        let paged = try await PreferenceTrainer.train(
            Fixtures.smallTrainedModel, from: PreferencePairArray(Self.pairs, pageSize: pageSize), options: Self.options)
        Self.expectSame(paged, Self.previous)
    }

    @Test("a source whose pages do not hold the pairs it announced is an error, not a silent mistrain")
    func sourceThatChangesIsAnError() async throws {
        let pairs = Array(Self.pairs.prefix(20))
        await #expect(throws: PreferencePairSourceError.self) {
            _ = try await PreferenceTrainer.train(Fixtures.smallTrainedModel, from: ShrinkingSource(pairs: pairs), options: Self.options)
        }
    }
}

/// Announces one pair more than its pages hold.
private struct ShrinkingSource: PreferencePairSource {
    let pairs: [PreferencePair]
    var count: Int { pairs.count + 1 }
    var pageSize: Int { 8 }
    func forEachPage(_ body: ([PreferencePair]) async throws -> Void) async throws { try await body(pairs) }
    func pairs(at positions: [Int]) async throws -> [PreferencePair] { positions.map { pairs[$0 % pairs.count] } }
}
