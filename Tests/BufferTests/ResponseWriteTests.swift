import Buffer
import Postgres
import TestSupport
import Testing

@Suite("Writing responses and rewards")
struct ResponseWriteTests {
    @Test func aResubmittedBatchStoresNothingTwice() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database)
            let batch = scenario.responses()
            let first = try await scenario.buffer.insertResponses(batch)
            let second = try await scenario.buffer.insertResponses(batch)
            #expect(first == BatchOutcome(inserted: 20, alreadyStored: 0))
            #expect(second == BatchOutcome(inserted: 0, alreadyStored: 20))
            let stored = try await scenario.buffer.responses(run: scenario.run, t: 0)
            #expect(stored.count == 20)
            #expect(Set(stored.map { "\($0.prompt)/\($0.sampleIndex)" }).count == 20)
        }
    }

    @Test func tokensAndTextReadBackExactly() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 3)
            let batch = scenario.responses(samples: 3)
            try await scenario.buffer.insertResponses(batch)
            let stored = try await scenario.buffer.responses(run: scenario.run, t: 0)
            #expect(stored.count == batch.count)
            for (sent, back) in zip(batch, stored) {
                #expect(back.prompt == sent.prompt && back.sampleIndex == sent.sampleIndex)
                #expect(back.tokens == (0..<(8 + sent.sampleIndex)).map { UInt32(sent.prompt) &* 1000 &+ UInt32($0) })
                #expect(back.tokenCount == back.tokens?.count)
                #expect(back.text == sent.text)
                #expect(back.seed == sent.seed)
            }
        }
    }

    @Test func aBatchWithAnUnknownPromptIsRejectedWholeAndNamesTheRow() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database)
            var batch = scenario.responses()
            batch[7].prompt = 999_999
            let error = await #expect(throws: BufferError.self) { try await scenario.buffer.insertResponses(batch) }
            #expect(error?.row == 7)
            #expect(error?.description.contains("row 7") == true)
            #expect(error?.description.contains("prompt 999999") == true)
            #expect(try await scenario.buffer.responses(run: scenario.run, t: 0).isEmpty)
        }
    }

    @Test func aBatchWithAnInconsistentTokenCountIsRejectedBeforeAnythingIsSent() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database)
            var batch = scenario.responses()
            batch[3].tokenCount += 1
            let error = await #expect(throws: BufferError.self) { try await scenario.buffer.insertResponses(batch) }
            #expect(error?.row == 3)
            #expect(error?.description.contains("token count") == true)
            #expect(try await scenario.buffer.responses(run: scenario.run, t: 0).isEmpty)
        }
    }

    @Test func aRewardBatchWithANaNIsRejectedWholeAndNamesTheRow() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 2)
            try await scenario.buffer.insertResponses(scenario.responses())
            let ids = try await scenario.buffer.responses(run: scenario.run, t: 0).map(\.id)
            var rewards = ids.map { NewReward(response: $0, rewardModel: scenario.rewardModel, score: 0.5) }
            rewards[2].score = .nan
            let error = await #expect(throws: BufferError.self) { try await scenario.buffer.recordRewards(rewards) }
            #expect(error?.row == 2)
            #expect(error?.description.contains("finite") == true)
            let count = try await scenario.buffer.connection.query("SELECT count(*) FROM optune.rewards")[0].decode(0, as: Int64.self)
            #expect(count == 0)
        }
    }

    @Test func aRewardForAnUnknownResponseIsRejectedWhole() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 2)
            try await scenario.buffer.insertResponses(scenario.responses())
            let ids = try await scenario.buffer.responses(run: scenario.run, t: 0).map(\.id)
            let rewards =
                ids.map { NewReward(response: $0, rewardModel: scenario.rewardModel, score: 0.5) }
                + [NewReward(response: 424_242, rewardModel: scenario.rewardModel, score: 0.1)]
            let error = await #expect(throws: BufferError.self) { try await scenario.buffer.recordRewards(rewards) }
            #expect(error?.row == ids.count)
            let count = try await scenario.buffer.connection.query("SELECT count(*) FROM optune.rewards")[0].decode(0, as: Int64.self)
            #expect(count == 0)
            #expect(try await scenario.buffer.recordRewards(Array(rewards.dropLast())).inserted == ids.count)
            #expect(try await scenario.buffer.recordRewards(Array(rewards.dropLast())).alreadyStored == ids.count)
        }
    }

    @Test func aRewardBatchOverlappingStoredRewardsStoresOnlyTheNewOnesAndAnUnknownModelIsABufferError() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 3)
            try await scenario.buffer.insertResponses(scenario.responses())
            let ids = try await scenario.buffer.responses(run: scenario.run, t: 0).map(\.id)
            let rewards = ids.map { NewReward(response: $0, rewardModel: scenario.rewardModel, score: Double($0)) }
            #expect(try await scenario.buffer.recordRewards(Array(rewards.prefix(2))).inserted == 2)
            // The plain insert fails on the stored two; the batch goes in again with ON CONFLICT.
            var resubmitted = rewards
            resubmitted[0].score = -1
            let outcome = try await scenario.buffer.recordRewards(resubmitted)
            #expect(outcome.inserted == ids.count - 2)
            #expect(outcome.alreadyStored == 2)
            let stored = try await scenario.buffer.connection.query(
                "SELECT response_id, score FROM optune.rewards ORDER BY response_id")
            #expect(try stored.map { try $0.decode(1, as: Double.self) } == ids.sorted().map { Double($0) })

            let unknownModel = [NewReward(response: ids[0], rewardModel: 777_777, score: 0.5)]
            let error = await #expect(throws: BufferError.self) { try await scenario.buffer.recordRewards(unknownModel) }
            #expect(error?.description.contains("reward model") == true)
        }
    }

    @Test func concurrentWritersOnSeveralConnectionsLoseNothing() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 400)
            // Four writers, overlapping halves: every response is submitted twice, by two writers.
            let slices = [
                scenario.prompts[0..<200], scenario.prompts[100..<300], scenario.prompts[200..<400],
                scenario.prompts[0..<100] + scenario.prompts[300..<400],
            ]
            let inserted = try await withThrowingTaskGroup(of: Int.self) { group in
                for slice in slices {
                    group.addTask {
                        let writer = ReplayBuffer(connection: try await database.connect())
                        var total = 0
                        let batch = scenario.responses(prompts: ArraySlice(slice))
                        for start in stride(from: 0, to: batch.count, by: 50) {
                            total += try await writer.insertResponses(Array(batch[start..<min(batch.count, start + 50)])).inserted
                        }
                        return total
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(inserted == 800)
            let stored = try await scenario.buffer.responses(run: scenario.run, t: 0)
            #expect(stored.count == 800)
            #expect(Set(stored.map { "\($0.prompt)/\($0.sampleIndex)" }).count == 800)
        }
    }

    /// A scorer starts with the first chunks, while responses is nearly empty, and keeps its
    /// session for the whole run. The reward check must not keep the plan it made then (hashing
    /// the whole table), or every later submission reads all of responses (issue 11).
    @Test func theRewardCheckProbesResponsesByKeyAfterTheTableGrew() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 6000)
            let buffer = scenario.buffer
            // Six chunks generated and scored in turn, as a scorer starts a run: more than five
            // submissions (PL/pgSQL's switch to a generic plan) while the table is small.
            for chunk in 0..<6 {
                let prompts = scenario.prompts[(chunk * 256)..<((chunk + 1) * 256)]
                _ = try await buffer.insertResponses(scenario.responses(prompts: prompts))
                let responses = try await buffer.responses(run: scenario.run, t: 0, prompts: Array(prompts))
                _ = try await buffer.recordRewards(
                    responses.map { NewReward(response: $0.id, rewardModel: scenario.rewardModel, score: 0.5) })
            }
            _ = try await buffer.insertResponses(scenario.responses(prompts: scenario.prompts[1536...]))
            let stored = try await buffer.responses(run: scenario.run, t: 0, prompts: Array(scenario.prompts[5000..<5010]))
            // The session's own count of sequential scans of responses (pending statistics),
            // before and after the submission.
            let seqScans = try await buffer.connection.transaction { c in
                func count(_ c: isolated Connection) throws -> Int64 {
                    try c.query("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE schemaname = 'optune' AND relname = 'responses'")
                        .first?.decode(0, as: Int64.self) ?? 0
                }
                let before = try count(c)
                _ = try ReplayBuffer.recordRewards(
                    stored.map { NewReward(response: $0.id, rewardModel: scenario.rewardModel, score: 0.25) }, on: c)
                return try count(c) - before
            }
            #expect(stored.count == 20)
            #expect(seqScans == 0, "checking 20 rewards scanned all 12000 responses \(seqScans) time(s)")
        }
    }
}
