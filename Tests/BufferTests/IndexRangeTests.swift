import Postgres
import TestSupport
import Testing

@testable import Buffer

@Suite("Reads and reference checks over index ranges")
struct IndexRangeTests {
    @Test func idsAreReadAsARangeOnlyWhenTheyFillAQuarterOfIt() {
        func bounds(_ ids: [Int64]) -> [Int64]? { DenseIDRange(ids).map { [$0.lower, $0.upper] } }
        #expect(bounds([7, 3, 5]) == [3, 7])
        #expect(bounds([1, 4]) == [1, 4])  // 2 of 4
        #expect(bounds([1, 9]) == nil)  // 2 of 9
        #expect(bounds([]) == nil)
        #expect(bounds([Int64.min, Int64.max]) == nil)
        #expect(bounds([-1, Int64.max]) == nil)
        #expect(bounds([42]) == [42, 42])
    }

    @Test func promptsAndResponsesReadAsARangeOrByLookupsAreTheSame() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 12)
            let buffer = scenario.buffer
            try await buffer.insertResponses(scenario.responses())
            let prompts = scenario.prompts
            let dense = Array(prompts[2..<8].reversed())
            let sparse = [prompts[11], prompts[0]]
            try #require(DenseIDRange(dense) != nil && DenseIDRange(sparse) == nil)
            let all = try await buffer.responses(run: scenario.run, t: 0)
            for ids in [dense, sparse] {
                let read = try await buffer.prompts(ids)
                #expect(Set(read.keys) == Set(ids))
                let texts = try await buffer.connection.query("SELECT id, text FROM optune.prompts WHERE id = ANY($1::int8[])", [ids])
                for row in texts { #expect(read[try row.decode(0, as: Int64.self)]?.text == (try row.decode(1, as: String?.self))) }
                // The responses of exactly those prompts, in (prompt, sample) order.
                let expected = all.filter { ids.contains($0.prompt) }.sorted { ($0.prompt, $0.sampleIndex) < ($1.prompt, $1.sampleIndex) }
                #expect(try await buffer.responses(run: scenario.run, t: 0, prompts: ids) == expected)
                #expect(expected.count == 2 * ids.count)
            }
        }
    }

    @Test func rewardsForConsecutiveResponsesAreCheckedByTheirRangeAndAMissingOneIsStillNamed() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 4)
            let buffer = scenario.buffer
            try await buffer.insertResponses(scenario.responses())
            let ids = try await buffer.responses(run: scenario.run, t: 0).map(\.id).sorted()
            try #require(ids.count == 8)
            try #require(ids[7] - ids[0] == 7)
            let insert = """
                INSERT INTO optune.rewards (response_id, reward_model_id, score)
                SELECT r, $2, 0.5 FROM unnest($1::int8[]) AS r
                """
            let other = try await buffer.rewardModel(name: "other", version: "1", backend: "builtin")
            let third = try await buffer.rewardModel(name: "third", version: "1", backend: "builtin")
            // Consecutive ids that all exist; then ids with a gap (checked one by one).
            #expect(try await postgresError(running: insert, [ids, scenario.rewardModel], on: buffer.connection) == nil)
            #expect(try await postgresError(running: insert, [[ids[0], ids[7]], other], on: buffer.connection) == nil)
            // Consecutive ids, the last one past every response: the range holds one row too few.
            let missing = ids[7] + 1
            let error = try await postgresError(running: insert, [Array(ids[5...]) + [missing], third], on: buffer.connection)
            #expect(error?.sqlState == SQLState.foreignKeyViolation)
            #expect(error?.constraint == "rewards_response_fk")
            #expect(error?.message.contains("response \(missing) ") == true)
            // Consecutive ids that exist, with a reward model that does not.
            let model = try await postgresError(running: insert, [Array(ids[1...3]), Int64(987_654)], on: buffer.connection)
            #expect(model?.constraint == "rewards_reward_model_fk")
            let stored = try await buffer.connection.query("SELECT count(*) FROM optune.rewards")[0].decode(0, as: Int.self)
            #expect(stored == 10)
        }
    }

    @Test func pairsSpreadThinOverTheirPromptsAreCheckedOneByOne() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 12)
            let c = scenario.buffer.connection
            try await scenario.buffer.insertResponses(scenario.responses())
            let pairs = """
                INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t, chosen_sample,
                                          rejected_sample, r_w, r_l, weight)
                SELECT $1, 0, p, 'regenerated', $1, 0, 0, CASE WHEN p = $3 THEN $4 ELSE 1 END, 0.9, 0.1, 0.6
                FROM unnest($2::int8[]) AS p
                """
            // Two pairs over a range of 12 prompts: below a quarter, so the lookups check them.
            let thin = [scenario.prompts[0], scenario.prompts[11]]
            let error = try await postgresError(running: pairs, [scenario.run, thin, thin[1], Int32(5)], on: c)
            #expect(error?.constraint == "pairs_rejected_fk")
            #expect(error?.message.contains("prompt \(thin[1])") == true)
            #expect(try await postgresError(running: pairs, [scenario.run, thin, thin[1], Int32(1)], on: c) == nil)
            // The other ten, dense, through the range join.
            let dense = Array(scenario.prompts[1..<11])
            #expect(try await postgresError(running: pairs, [scenario.run, dense, dense[0], Int32(1)], on: c) == nil)
            #expect(try await c.query("SELECT count(*) FROM optune.pairs")[0].decode(0, as: Int.self) == 12)
        }
    }
}
