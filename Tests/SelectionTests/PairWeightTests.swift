import Buffer
import Foundation
import Postgres
import Selection
import TestSupport
import Testing

/// Pair weights σ(β2·gap) at the edges of the double range (issue 9 item 4): building D_t never
/// raises a floating-point error, and the stored gap and weight agree with IEEE arithmetic.
@Suite("Pair weights for extreme rewards")
struct PairWeightTests {
    /// (chosen reward, rejected reward) per prompt.
    static let rewardPairs: [(Double, Double)] = [
        (1e6, 0), (160, 0), (1, 0), (0.01, 0), (0.3, 0.3), (1e308, -1e308), (-1e308, 1e308),
        (.greatestFiniteMagnitude, -.greatestFiniteMagnitude), (1.7e308, 1.7e308), (.leastNonzeroMagnitude, 0), (-1e-300, -2e-300),
    ]

    /// What Swift computes for the pair: gap = r_w − r_l (±∞ past the double range), σ(β2·gap).
    static func expected(_ a: Double, _ b: Double, beta2: Double) -> (gap: Double, weight: Double) {
        let (rw, rl) = (max(a, b), min(a, b))
        let gap = rw - rl
        return (gap, 1 / (1 + exp(-beta2 * gap)))
    }

    @Test(arguments: [5.0, 1000, 1e-300, 1.7e308, .leastNonzeroMagnitude])
    func buildingPairsNeverRaisesAndWeightsMatchTheSigmoid(beta2: Double) async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: Self.rewardPairs.count)
            let buffer = scenario.buffer
            let (run, set, policy) = (scenario.run, scenario.setID, scenario.policy)
            _ = try await buffer.connection.run { c in
                try Selector.select(
                    Selector.Request(
                        run: run, t: 0, strategy: .full, rho: 1, seed: 0, promptSetID: set, previousPairsRun: run, policy: policy,
                        chunkSize: 256),
                    on: c)
            }
            try await buffer.insertResponses(scenario.responses())
            let index = Dictionary(uniqueKeysWithValues: scenario.prompts.enumerated().map { ($1, $0) })
            let stored = try await buffer.responses(run: run, t: 0)
            let rewards = try stored.map { response in
                let position = try #require(index[response.prompt])
                let (high, low) = Self.rewardPairs[position]
                return NewReward(response: response.id, rewardModel: scenario.rewardModel, score: response.sampleIndex == 0 ? high : low)
            }
            try await buffer.recordRewards(rewards)
            let model = scenario.rewardModel
            let outcome = try await buffer.connection.run { c in
                try PairBuilder.build(run: run, t: 0, rewardModel: model, beta2: beta2, previousPairsRun: nil, on: c)
            }
            #expect(outcome.regenerated == Self.rewardPairs.count)
            let rows = try await buffer.connection.query(
                "SELECT prompt_id, r_w, r_l, gap, weight FROM optune.pairs WHERE run_id = $1 AND t = 0", [run])
            #expect(rows.count == Self.rewardPairs.count)
            for row in rows {
                let position = try #require(index[try row.decode(0, as: Int64.self)])
                let (a, b) = Self.rewardPairs[position]
                let (gap, weight) = (try row.decode(3, as: Double.self), try row.decode(4, as: Double.self))
                let expected = Self.expected(a, b, beta2: beta2)
                #expect(try row.decode(1, as: Double.self) == max(a, b))
                #expect(try row.decode(2, as: Double.self) == min(a, b))
                #expect(gap == expected.gap, "gap of \(a), \(b)")
                #expect(weight >= 0.5 && weight <= 1, "weight of \(a), \(b) at β2 = \(beta2)")
                #expect(abs(weight - expected.weight) < 1e-12, "weight of \(a), \(b) at β2 = \(beta2): \(weight) vs \(expected.weight)")
            }
            // The iteration line's mean chosen reward is an average of these r_w: no 22003 either.
            let summary = try await buffer.iterationSummary(run: run, t: 0)
            let chosen = Self.rewardPairs.map { max($0.0, $0.1) }
            let mean = chosen.reduce(0) { $0 + $1 / Double(chosen.count) }
            let reported = try #require(summary.meanChosenReward)
            #expect(reported.isFinite && abs(reported - mean) <= 1e-12 * abs(mean), "\(reported) vs \(mean)")
        }
    }

    @Test func aBuiltInRunWithBeta2Of1000Completes() async throws {
        try await TestDatabase.withFresh { database in
            let (status, output) = try await OptuneProcess.run(
                [
                    "run", "--name", "sharp", "--beta2", "1000", "--iterations", "2", "--train-prompts", "60", "--eval-prompts", "20",
                    "--epochs", "1",
                ],
                databaseURL: database.url)
            #expect(status == 0, "\(output)")
            let connection = try await database.connect()
            let row = try await connection.query(
                "SELECT count(DISTINCT t), min(weight), max(weight) FROM optune.pairs p JOIN optune.runs r ON r.id = p.run_id WHERE r.name = 'sharp'"
            )[0]
            #expect(try row.decode(0, as: Int64.self) == 2)
            #expect(try row.decode(1, as: Double.self) >= 0.5)
            #expect(try row.decode(2, as: Double.self) == 1)
            let state = try await connection.query("SELECT status FROM optune.runs WHERE name = 'sharp'")[0].decode(0, as: String.self)
            #expect(state == "done")
        }
    }

    @Test func evaluatingExtremeRewardsRecordsAFiniteMeanAndDeviation() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 2)
            let buffer = scenario.buffer
            let scores: [Double] = [1.7e308, -1.7e308, 1e308, .leastNonzeroMagnitude, 1e-300]
            _ = try await buffer.storePrompts(
                scores.indices.map { PromptRecord(text: "eval prompt \($0)", split: .eval) }, inSet: scenario.setID, defaultSplit: .eval,
                source: "test")
            let evalPrompts = try await buffer.promptIDs(inSet: scenario.setID, split: .eval)
            try await buffer.enqueueGeneration(run: scenario.run, t: 0, policy: scenario.policy, purpose: .eval, promptIDs: evalPrompts)
            _ = try await buffer.insertResponses(
                evalPrompts.map { prompt in
                    NewResponse(
                        run: scenario.run, t: 0, prompt: prompt, sampleIndex: 0, purpose: .eval, policy: scenario.policy, tokens: [1, 2])
                })
            let stored = try await buffer.responses(run: scenario.run, t: 0).filter { $0.purpose == .eval }
            #expect(stored.count == scores.count)
            _ = try await buffer.recordRewards(
                stored.enumerated().map { index, response in
                    NewReward(response: response.id, rewardModel: scenario.rewardModel, score: scores[index])
                })
            let (run, policy, model) = (scenario.run, scenario.policy, scenario.rewardModel)
            let mean = try await buffer.connection.run { c in
                try ReplayBuffer.recordEvaluation(run: run, t: 0, policy: policy, rewardModel: model, on: c)
            }
            let expected = scores.reduce(0) { $0 + $1 / Double(scores.count) }
            let recorded = try #require(mean)
            #expect(abs(recorded - expected) <= 1e-12 * abs(expected), "\(recorded) vs \(expected)")
            let deviation = try await buffer.connection.query(
                "SELECT reward_stddev FROM optune.evaluations WHERE run_id = $1 AND t = 0", [run])[0].decode(0, as: Double.self)
            #expect(deviation.isFinite && deviation > 1e308)
        }
    }

    @Test func theWeightFunctionIsTheSigmoidForAnyFiniteInputs() async throws {
        try await TestDatabase.withFresh { database in
            let connection = try await database.connect()
            let values: [Double] = [
                0, .leastNonzeroMagnitude, 1e-300, 1e-17, 0.01, 1, 37, 160, 700, 1e6, 1e154, 1e308, .greatestFiniteMagnitude,
            ]
            for beta2 in values.filter({ $0 > 0 }) + [-5] {
                for magnitude in values {
                    for gap in [magnitude, -magnitude] {
                        let weight = try await connection.query(
                            "SELECT optune.pair_weight($1, $2)", [beta2, gap])[0].decode(0, as: Double.self)
                        let expected = 1 / (1 + exp(-beta2 * gap))
                        #expect(weight >= 0 && weight <= 1)
                        #expect(abs(weight - expected) < 1e-12, "σ(\(beta2) · \(gap)) = \(weight), expected \(expected)")
                    }
                }
            }
            let infinite = try await connection.query(
                "SELECT optune.pair_weight(5, 'Infinity'), optune.pair_weight(5, '-Infinity')")[0]
            #expect(try infinite.decode(0, as: Double.self) == 1)
            #expect(try infinite.decode(1, as: Double.self) == 0)
            let nulls = try await connection.query(
                "SELECT optune.pair_weight(NULL, 'NaN'), optune.pair_weight(1, NULL), optune.reward_gap(NULL, 1), optune.reward_gap(1, NULL)"
            )[0]
            for column in 0..<4 { #expect(try nulls.decode(column, as: Double?.self) == nil) }
        }
    }

    /// Both functions are evaluated inline, not called through the SQL-function executor for
    /// every pair (a STRICT SQL function with a CASE body never is): the plan names neither.
    /// (As for any SQL function, an argument that is itself costly and used several times, such
    /// as a gap computed in the call, keeps the call; the pair builder passes a column.)
    @Test func theGapAndWeightFunctionsAreInlined() async throws {
        try await TestDatabase.withFresh { database in
            let connection = try await database.connect()
            let plan = try await connection.query(
                """
                EXPLAIN (VERBOSE, COSTS OFF)
                SELECT optune.pair_weight(5, x), optune.reward_gap(x, -x) FROM (SELECT g::float8 AS x FROM generate_series(1, 3) g) s
                """
            ).map { try $0.decode(0, as: String.self) }.joined(separator: "\n")
            #expect(!plan.contains("pair_weight") && !plan.contains("reward_gap"), "\(plan)")
            #expect(plan.contains("exp("), "\(plan)")
        }
    }
}
