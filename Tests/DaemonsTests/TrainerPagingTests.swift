import Backends
import Buffer
import Foundation
import Logging
import Policy
import Postgres
import Selection
import TestSupport
import Testing
import TokenCodec

@testable import Daemons

/// Iteration 0 of a built-in run in state `training`: `promptCount` digit prompts, π_0 a small
/// untrained network stored as weights, two of its samples per prompt scored by the built-in
/// reward, and D_0 built from them (ties give zero-gap pairs).
private func builtinTrainingScenario(in database: TestDatabase, promptCount: Int, config: RunConfig) async throws -> BufferScenario {
    let buffer = ReplayBuffer(connection: try await database.connect())
    let set = try await buffer.promptSet(named: "digits")
    let digitPrompts = DigitTaskFamily.prompts(count: promptCount, seed: 17)
    _ = try await buffer.storePrompts(
        digitPrompts.map { PromptRecord(text: $0.text) }, inSet: set, defaultSplit: .train, source: "test")
    let prompts = try await buffer.promptIDs(inSet: set, split: .train)
    let stored = try await buffer.prompts(prompts)
    let rewardModel = try await buffer.rewardModel(name: "digits", version: "1", backend: "builtin")
    let run = try await buffer.createRun(name: "paged", promptSetID: set, rewardModelID: rewardModel, config: config)
    let model = PolicyModel(config: PolicyConfig(embeddingWidth: 16, firstHidden: 32, secondHidden: 32), seed: 5)
    let policy = try await buffer.registerPolicy(
        run: run, t: 0, parent: nil, weights: CompressedBytes.compress(model.serialized()), configJSON: #"{"kind": "builtin"}"#)
    try await buffer.openIteration(run: run, t: 0, policy: policy, rho: 1, strategy: .full)
    try await buffer.enqueueGeneration(run: run, t: 0, policy: policy, purpose: .train, promptIDs: prompts)
    let parsed = try prompts.map { id in try #require(stored[id]?.text.flatMap(DigitPrompt.init(text:))) }
    let samples = model.sample(prompts: parsed + parsed, seeds: (0..<(2 * prompts.count)).map { UInt64($0) })
    var responses: [NewResponse] = []
    for (i, prompt) in prompts.enumerated() {
        for sample in 0..<2 {
            responses.append(
                NewResponse(
                    run: run, t: 0, prompt: prompt, sampleIndex: sample, policy: policy,
                    tokens: samples[sample * prompts.count + i], finishReason: "stop", seed: Int64(sample * prompts.count + i)))
        }
    }
    _ = try await buffer.insertResponses(responses)
    let byPrompt = Dictionary(uniqueKeysWithValues: zip(prompts, parsed))
    _ = try await buffer.recordRewards(
        try await buffer.responses(run: run, t: 0).map { response in
            let tokens = try #require(response.tokens)
            let prompt = try #require(byPrompt[response.prompt])
            return NewReward(response: response.id, rewardModel: rewardModel, score: DigitReward.score(prompt: prompt, response: tokens))
        })
    _ = try await buffer.connection.transaction { c in
        _ = try PairBuilder.build(run: run, t: 0, rewardModel: rewardModel, beta2: config.beta2, previousPairsRun: nil, on: c)
        try ReplayBuffer.transition(run: run, t: 0, from: .generating, to: .training, on: c)
    }
    return BufferScenario(buffer: buffer, setID: set, rewardModel: rewardModel, run: run, policy: policy, prompts: prompts)
}

/// The built-in trainer behind the whole-array interface only: the trainer daemon loads all of
/// D_t for it, as it did before D_t was read in pages.
private struct WholeArrayTrainer: PreferenceTrainingBackend {
    func train(policy: PolicyHandle, pairs: [TrainingPair], settings: PreferenceTrainingSettings) async throws -> TrainingResult {
        try await BuiltinPreferenceTrainer().train(policy: policy, pairs: pairs, settings: settings)
    }
}

@Suite("Training: the built-in trainer reads D_t in pages")
struct TrainerPagingTests {
    @Test func trainingFromPagesOfSevenPairsGivesTheSamePolicyAsTrainingOnAllOfDtAtOnce() async throws {
        try await TestDatabase.withFresh { database in
            var config = RunConfig()
            config.skipZeroGap = true
            config.epochs = 2
            config.batchSize = 8
            config.seed = 11
            let scenario = try await builtinTrainingScenario(in: database, promptCount: 400, config: config)
            let buffer = scenario.buffer
            let records = try await buffer.trainingPairs(run: scenario.run, t: 0)
            let usable = records.filter { !$0.zeroGap }
            // Zero-gap pairs to skip, and enough pairs for many pages of 7.
            try #require(records.count > usable.count && usable.count > 7 * 8)

            // Each sequential page holds at most 7 pairs, in prompt order, none skipped or repeated.
            let keys = try await buffer.trainingPairKeys(run: scenario.run, t: 0, skipZeroGap: true)
            #expect(keys.prompts == usable.map(\.prompt.id) && keys.skippedZeroGap == records.count - usable.count)
            let source = BufferTrainingPairSource(
                buffer: buffer, run: scenario.run, t: 0, prompts: keys.prompts, skipZeroGap: true, pageSize: 7)
            var pages: [[Int64]] = []
            try await source.forEachPage { page in pages.append(page.map(\.prompt.id)) }
            #expect(pages.count == (records.count + 6) / 7 && pages.allSatisfy { $0.count <= 7 })
            #expect(pages.flatMap { $0 } == keys.prompts)
            // A shuffled page comes back in the order asked for.
            let positions = [5, 0, keys.prompts.count - 1, 3]
            #expect(try await source.pairs(at: positions).map(\.prompt.id) == positions.map { keys.prompts[$0] })
            // After the pass in prompt order, shuffled pages come from the trainer's scratch copy:
            // the same pairs as the buffer serves, read with the database connection closed.
            #expect(source.spill.isComplete)
            let fresh = BufferTrainingPairSource(
                buffer: buffer, run: scenario.run, t: 0, prompts: keys.prompts, skipZeroGap: true, pageSize: 7)
            let shuffled = Array((0..<keys.prompts.count).reversed())
            let fromBuffer = try await fresh.pairs(at: shuffled)
            #expect(!fresh.spill.isComplete)

            let iteration = try #require(try await buffer.iterationsAwaitingTraining().first)
            let lease = try #require(try await buffer.acquireTrainingLease(run: scenario.run, t: 0, holder: "test", seconds: 60))
            let run = try await RunCache().run(scenario.run, buffer: buffer)
            func train(_ trainer: any PreferenceTrainingBackend, pageSize: Int) async throws -> TrainedPolicy {
                var service = TrainerService(
                    databaseURL: database.url, trainer: trainer, settings: quickSettings(), logger: Logger(label: "test.paging"))
                service.trainingPageSize = pageSize
                return try await service.produce(iteration, lease: lease, run: run, buffer: buffer, cache: RunCache())
            }
            let whole = try await train(WholeArrayTrainer(), pageSize: 7)
            let smallPages = try await train(BuiltinPreferenceTrainer(), pageSize: 7)
            let onePage = try await train(BuiltinPreferenceTrainer(), pageSize: 1 << 20)
            #expect(whole.pairsUsed == usable.count && whole.skippedZeroGap == records.count - usable.count)
            #expect(whole.lossCurve.count == 2 * ((usable.count + 7) / 8))
            for paged in [smallPages, onePage] {
                #expect(paged.weightsBlob == whole.weightsBlob)
                #expect(paged.lossCurve.map(\.bitPattern) == whole.lossCurve.map(\.bitPattern))
                #expect(paged.pairsUsed == whole.pairsUsed && paged.skippedZeroGap == whole.skippedZeroGap)
            }
            let policy = try #require(try await RunCache().policy(scenario.policy, buffer: buffer).weights)
            let trained = try #require(whole.weightsBlob.flatMap(CompressedBytes.decompress))
            #expect(trained != policy)

            await buffer.close()
            #expect(try await source.pairs(at: shuffled) == fromBuffer)
        }
    }
}
