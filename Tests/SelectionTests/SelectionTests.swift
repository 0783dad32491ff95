import Buffer
import Foundation
import Postgres
import Selection
import TestSupport
import Testing

/// Iteration 0 of a 10-prompt run with scored responses and D_0 built: prompt i's samples score
/// `scores[i]` (sample 0) and `scores[i] / 2` (sample 1).
struct ScoredRun {
    let scenario: BufferScenario
    let scores: [Double]

    static func make(in database: TestDatabase, scores: [Double], seed: Int64 = 0) async throws -> ScoredRun {
        var config = RunConfig()
        config.seed = seed
        let scenario = try await BufferScenario.make(in: database, promptCount: scores.count, config: config)
        let buffer = scenario.buffer
        try await buffer.connection.run { c in
            try Selector.select(
                Selector.Request(
                    run: scenario.run, t: 0, strategy: .reward, rho: 0.5, seed: seed, promptSetID: scenario.setID,
                    previousPairsRun: scenario.run, policy: scenario.policy, chunkSize: 4),
                on: c)
        }
        try await buffer.insertResponses(scenario.responses())
        let stored = try await buffer.responses(run: scenario.run, t: 0)
        let index = Dictionary(uniqueKeysWithValues: scenario.prompts.enumerated().map { ($1, $0) })
        try await buffer.recordRewards(
            stored.map { response in
                let base = scores[index[response.prompt]!]
                return NewReward(
                    response: response.id, rewardModel: scenario.rewardModel, score: response.sampleIndex == 0 ? base : base / 2)
            })
        let rewardModel = scenario.rewardModel
        _ = try await buffer.connection.run { c in
            try PairBuilder.build(run: scenario.run, t: 0, rewardModel: rewardModel, beta2: 5, previousPairsRun: nil, on: c)
        }
        return ScoredRun(scenario: scenario, scores: scores)
    }

    /// Opens iteration 1 (with a new π_1) and selects with `strategy` at `rho`; returns the
    /// selected prompts in rank order.
    func selectIteration1(strategy: SelectionStrategy, rho: Double, seed: Int64 = 0) async throws -> [Int64] {
        let buffer = scenario.buffer
        let policy = try await buffer.registerPolicy(run: scenario.run, t: 1, parent: scenario.policy, uri: "test://pi1")
        try await buffer.openIteration(run: scenario.run, t: 1, policy: policy, rho: rho, strategy: strategy)
        let (run, set) = (scenario.run, scenario.setID)
        _ = try await buffer.connection.run { c in
            try Selector.select(
                Selector.Request(
                    run: run, t: 1, strategy: strategy, rho: rho, seed: seed, promptSetID: set, previousPairsRun: run, policy: policy,
                    chunkSize: 4),
                on: c)
        }
        return try await buffer.connection.query(
            "SELECT prompt_id FROM optune.selections WHERE run_id = $1 AND t = 1 ORDER BY rank", [run]
        ).map { try $0.decode(0, as: Int64.self) }
    }
}

@Suite("Selection and pair building")
struct SelectionTests {
    let scores = [0.9, 0.1, 0.5, 0.3, 0.8, 0.2, 0.7, 0.4, 0.6, 0.05]

    @Test func rewardSelectionTakesExactlyTheNLowestChosenRewards() async throws {
        try await TestDatabase.withFresh { database in
            let run = try await ScoredRun.make(in: database, scores: scores)
            let selected = try await run.selectIteration1(strategy: .reward, rho: 0.3)
            #expect(selected.count == 3)  // ceil(0.3 · 10)
            let lowest = run.scenario.prompts.enumerated().sorted { scores[$0.offset] < scores[$1.offset] }.prefix(3).map(\.element)
            #expect(selected == Array(lowest))
        }
    }

    @Test func selectionSizeIsTheCeilingOfRhoTimesPrompts() {
        #expect(Selector.selectionSize(rho: 0.5, promptCount: 1000) == 500)
        #expect(Selector.selectionSize(rho: 0.3, promptCount: 7) == 3)
        #expect(Selector.selectionSize(rho: 1, promptCount: 7) == 7)
        #expect(Selector.selectionSize(rho: 0.0001, promptCount: 7) == 1)
    }

    @Test func tiesBreakDeterministicallyBySeededHashNotRowOrder() async throws {
        let tied = [Double](repeating: 0.5, count: 10)
        let first = try await TestDatabase.withFresh { database in
            try await ScoredRun.make(in: database, scores: tied, seed: 3).selectIteration1(strategy: .reward, rho: 0.5, seed: 3)
        }
        let again = try await TestDatabase.withFresh { database in
            try await ScoredRun.make(in: database, scores: tied, seed: 3).selectIteration1(strategy: .reward, rho: 0.5, seed: 3)
        }
        let otherSeed = try await TestDatabase.withFresh { database in
            try await ScoredRun.make(in: database, scores: tied, seed: 4).selectIteration1(strategy: .reward, rho: 0.5, seed: 4)
        }
        #expect(first.count == 5)
        #expect(first == again)
        #expect(first != otherSeed)
        #expect(first != first.sorted())  // not id order either (holds for this seed)
    }

    /// With |D_0| recorded on iteration 0 (as the coordinator's pair building does), selection
    /// ranks straight from the pairs index; without it, it joins the prompt set. Same result,
    /// ties included, and the selection's chunks hold its prompts in id order.
    @Test(arguments: [SelectionStrategy.reward, .highest])
    func rankingFromThePairsIndexEqualsRankingThroughTheSet(strategy: SelectionStrategy) async throws {
        let scores = [0.5, 0.1, 0.5, 0.3, 0.8, 0.5, 0.7, 0.1, 0.6, 0.05]
        let throughSet = try await TestDatabase.withFresh { database in
            try await ScoredRun.make(in: database, scores: scores, seed: 5).selectIteration1(strategy: strategy, rho: 0.7, seed: 5)
        }
        try await TestDatabase.withFresh { database in
            let run = try await ScoredRun.make(in: database, scores: scores, seed: 5)
            let id = run.scenario.run
            try await run.scenario.buffer.connection.execute(
                "UPDATE optune.iterations SET pairs = (SELECT count(*) FROM optune.pairs WHERE run_id = $1 AND t = 0) WHERE run_id = $1 AND t = 0",
                [id])
            let fromIndex = try await run.selectIteration1(strategy: strategy, rho: 0.7, seed: 5)
            #expect(fromIndex.count == 7)
            #expect(fromIndex == throughSet)
            let chunks = try await run.scenario.buffer.connection.query(
                "SELECT prompt_ids FROM optune.generation_tasks WHERE run_id = $1 AND t = 1 AND purpose = 'train' ORDER BY chunk", [id]
            ).map { try $0.decode(0, as: [Int64].self) }
            #expect(chunks.map(\.count) == [4, 3])
            #expect(chunks.flatMap { $0 } == fromIndex.sorted())
        }
    }

    @Test func randomSelectionIsSeeded() async throws {
        let a = try await TestDatabase.withFresh { database in
            try await ScoredRun.make(in: database, scores: scores).selectIteration1(strategy: .random, rho: 0.5, seed: 11)
        }
        let b = try await TestDatabase.withFresh { database in
            try await ScoredRun.make(in: database, scores: scores).selectIteration1(strategy: .random, rho: 0.5, seed: 11)
        }
        let c = try await TestDatabase.withFresh { database in
            try await ScoredRun.make(in: database, scores: scores).selectIteration1(strategy: .random, rho: 0.5, seed: 12)
        }
        #expect(a.count == 5 && a == b)
        #expect(Set(a) != Set(c))
    }

    @Test func eachWeightEqualsSigmoidOfBeta2TimesGap() async throws {
        try await TestDatabase.withFresh { database in
            let run = try await ScoredRun.make(in: database, scores: scores)
            let pairs = try await run.scenario.buffer.connection.query(
                "SELECT r_w, r_l, gap, weight, origin FROM optune.pairs WHERE run_id = $1 AND t = 0", [run.scenario.run])
            #expect(pairs.count == 10)
            for row in pairs {
                let (rw, rl, gap, weight) = (
                    try row.decode(0, as: Double.self), try row.decode(1, as: Double.self),
                    try row.decode(2, as: Double.self), try row.decode(3, as: Double.self)
                )
                #expect(rw >= rl)
                #expect(abs(gap - (rw - rl)) < 1e-12)
                #expect(abs(weight - 1 / (1 + exp(-5 * gap))) < 1e-12)
                #expect(try row.decode(4, as: String.self) == "regenerated")
            }
        }
    }

    @Test func aReusedPairKeepsItsOldResponsesAndASelectedPromptWithoutSamplesKeepsItsPair() async throws {
        try await TestDatabase.withFresh { database in
            let run = try await ScoredRun.make(in: database, scores: scores)
            let selected = try await run.selectIteration1(strategy: .reward, rho: 0.3)
            let buffer = run.scenario.buffer
            let (id, model) = (run.scenario.run, run.scenario.rewardModel)
            // No new responses for the 3 selected prompts (as if their tasks died): the 7 others
            // are reused, and the selected ones keep their D_0 pair, recorded as unpaired.
            let outcome = try await buffer.connection.run { c in
                try PairBuilder.build(run: id, t: 1, rewardModel: model, beta2: 5, previousPairsRun: id, on: c)
            }
            #expect(outcome.reused == 7)
            #expect(outcome.unpaired == 3)
            var old: [Int64: [Int64]] = [:]
            try await buffer.forEachPairPage(run: id, t: 0) { for p in $0 { old[p.prompt] = [p.chosenResponse, p.rejectedResponse] } }
            var carried: [StoredPair] = []
            try await buffer.forEachPairPage(run: id, t: 1) { carried += $0 }
            #expect(carried.count == 10)
            for pair in carried {
                #expect(pair.origin == "reused")
                #expect([pair.chosenResponse, pair.rejectedResponse] == old[pair.prompt])
            }
            let unpaired = try await buffer.unpairedPrompts(run: id)
            #expect(Set(unpaired.map(\.prompt)) == Set(selected))
            #expect(unpaired.allSatisfy { $0.t == 1 && $0.keptPair && $0.reason == "fewer than 2 scored samples" })
        }
    }
}

/// The coordinator's opening of an iteration that ranks D_{t−1} first marks its pages
/// all-visible (a VACUUM), so the ranking's index-only scan need not read the heap; at 1M prompts
/// those reads were most of a selection (`optune bench --sections selection` measures the
/// effect). Whether the server can mark a page also depends on other sessions (with
/// synchronous_commit = off, their unflushed commits next to D_{t−1}'s in the commit log), so this
/// checks that the opening asks for it, and only when it ranks.
@Suite("D_{t−1} is vacuumed before it is ranked")
struct SettledPairsTests {
    /// VACUUMs of optune.pairs run by a session (not autovacuum).
    static func pairVacuums(_ buffer: ReplayBuffer) async throws -> Int {
        try await buffer.connection.query(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'optune.pairs'::regclass")[0].decode(0, as: Int.self)
    }

    @Test func openingAnIterationThatRanksByRewardVacuumsThePairsFirstAndTheFinalOneDoesNot() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 40)
            let buffer = scenario.buffer
            let before = try await Self.pairVacuums(buffer)
            let (record, policy) = try await scenario.openedIterationOne()
            #expect(try await Self.pairVacuums(buffer) == before + 1)
            let selected = try await buffer.connection.query(
                "SELECT count(*) FROM optune.selections WHERE run_id = $1 AND t = 1", [scenario.run])[0].decode(0, as: Int.self)
            #expect(selected == 20)
            // The final iteration only evaluates: nothing is ranked, nothing vacuumed.
            try await buffer.connection.execute(
                "UPDATE optune.iterations SET state = 'done', finished_at = now() WHERE run_id = $1 AND t = 1", [scenario.run])
            let final = try await buffer.registerPolicy(run: scenario.run, t: 2, parent: policy, uri: "test://pi2")
            try await buffer.openIteration(run: record, t: 2, policy: final, finalT: 2)
            #expect(try await Self.pairVacuums(buffer) == before + 1)
        }
    }
}

@Suite("The highest-reward control")
struct HighestSelectionTests {
    let scores = [0.9, 0.1, 0.5, 0.3, 0.8, 0.2, 0.7, 0.4, 0.6, 0.05]

    @Test func highestSelectionTakesExactlyTheNHighestChosenRewardsWithTheirRewards() async throws {
        try await TestDatabase.withFresh { database in
            let run = try await ScoredRun.make(in: database, scores: scores)
            let selected = try await run.selectIteration1(strategy: .highest, rho: 0.3)
            let highest = run.scenario.prompts.enumerated().sorted { scores[$0.offset] > scores[$1.offset] }.prefix(3).map(\.element)
            #expect(selected == Array(highest))
            let ranking = try await run.scenario.buffer.connection.query(
                "SELECT ranking_reward FROM optune.selections WHERE run_id = $1 AND t = 1 ORDER BY rank", [run.scenario.run]
            ).map { try $0.decode(0, as: Double.self) }
            #expect(ranking == [0.9, 0.8, 0.7])
            let strategy = try await run.scenario.buffer.connection.query(
                "SELECT strategy FROM optune.iterations WHERE run_id = $1 AND t = 1", [run.scenario.run])[0].decode(0, as: String.self)
            #expect(strategy == "highest")
        }
    }

    @Test func theSchemaStillRefusesUnknownStrategies() async throws {
        try await TestDatabase.withFresh { database in
            let run = try await ScoredRun.make(in: database, scores: scores)
            for (sql, constraint) in [
                ("UPDATE optune.iterations SET strategy = 'lowest' WHERE run_id = $1", "iterations_strategy_valid"),
                ("UPDATE optune.runs SET strategy = 'lowest' WHERE id = $1", "runs_strategy_valid"),
            ] {
                do {
                    try await run.scenario.buffer.connection.execute(sql, [run.scenario.run])
                    Issue.record("\(constraint) accepted an unknown strategy")
                } catch let error as PostgresError {
                    #expect(error.constraint == constraint)
                }
            }
            try await run.scenario.buffer.connection.execute(
                "UPDATE optune.runs SET strategy = 'highest' WHERE id = $1", [run.scenario.run])
        }
    }
}

extension BufferScenario {
    /// D_0 built by the pair builder from ``scoredAwaitingBuild()``, iteration 0 done, and
    /// iteration 1 of 2 opened (ρ = 0.5 of the prompts selected) with π_1; returns the run and π_1.
    fileprivate func openedIterationOne() async throws -> (record: RunRecord, policy: Int64) {
        try await scoredAwaitingBuild()
        let record = try await buffer.runRecord(run)
        try await buffer.buildPairs(run: record, t: 0)
        try await buffer.connection.execute(
            "UPDATE optune.iterations SET state = 'done', finished_at = now() WHERE run_id = $1 AND t = 0", [run])
        let policy = try await buffer.registerPolicy(run: run, t: 1, parent: self.policy, uri: "test://pi1")
        try await buffer.openIteration(run: record, t: 1, policy: policy, finalT: 2)
        return (record, policy)
    }
}

@Suite("D_t read in pages over index ranges")
struct TrainingPairPageTests {
    @Test func pagesOfADtWithReusedAndRegeneratedPairsMatchTheLookupsOfEachPair() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 40)
            let buffer = scenario.buffer
            let (record, policy) = try await scenario.openedIterationOne()
            let selected = try await buffer.connection.query(
                "SELECT prompt_id FROM optune.selections WHERE run_id = $1 AND t = 1", [scenario.run]
            ).map { try $0.decode(0, as: Int64.self) }
            try #require(selected.count == 20)
            // Iteration 1's samples differ from iteration 0's, so a pair read from the wrong source shows.
            try await buffer.insertResponses(
                selected.flatMap { prompt in
                    (0..<2).map { sample in
                        NewResponse(
                            run: scenario.run, t: 1, prompt: prompt, sampleIndex: sample, policy: policy,
                            tokens: [UInt32(sample) + 7, UInt32(truncatingIfNeeded: prompt)], text: "t1", finishReason: "stop")
                    }
                })
            let fresh = try await buffer.responses(run: scenario.run, t: 1)
            try await buffer.recordRewards(
                fresh.map { NewReward(response: $0.id, rewardModel: scenario.rewardModel, score: Double($0.sampleIndex)) })
            try await buffer.connection.execute(
                "UPDATE optune.iterations SET state = 'scoring' WHERE run_id = $1 AND t = 1", [scenario.run])
            try await buffer.buildPairs(run: record, t: 1)

            var paged: [TrainingPairRecord] = []
            try await buffer.forEachTrainingPairPage(run: scenario.run, t: 1, pageSize: 7) { paged += $0 }
            let prompts = scenario.prompts.sorted()
            #expect(paged.map(\.prompt.id) == prompts)
            #expect(try await buffer.trainingPairs(run: scenario.run, t: 1, prompts: prompts) == paged)
            // Both sources are there: the regenerated pairs carry iteration 1's tokens.
            let regenerated = paged.filter { selected.contains($0.prompt.id) }
            #expect(regenerated.count == 20 && regenerated.allSatisfy { $0.chosen == [8, UInt32(truncatingIfNeeded: $0.prompt.id)] })
            #expect(paged.filter { !selected.contains($0.prompt.id) }.allSatisfy { $0.chosen.count >= 8 })
        }
    }
}
