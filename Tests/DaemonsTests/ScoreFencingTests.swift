import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

/// Rewards are fenced per task key (run, t, prompt), not per prompt: a scorer batch spanning two
/// runs that share a prompt keeps only the rewards of the tasks whose lease it still holds.
@Suite("Score submissions are fenced per task")
struct ScoreFencingTests {
    @Test func aBatchSpanningTwoRunsKeepsOnlyTheRewardsOfTheTaskItStillHolds() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 1)
            let buffer = scenario.buffer
            let prompt = try #require(scenario.prompts.first)
            // A second run over the same prompt, at the same t.
            let other = try await buffer.createRun(
                name: "other", promptSetID: scenario.setID, rewardModelID: scenario.rewardModel, config: RunConfig())
            let otherPolicy = try await buffer.registerPolicy(run: other, t: 0, parent: nil, uri: "test://other-pi0")
            try await buffer.openIteration(run: other, t: 0, policy: otherPolicy, rho: 1, strategy: .full)
            try await buffer.enqueueGeneration(run: other, t: 0, policy: otherPolicy, purpose: .train, promptIDs: [prompt])

            let generation = try await buffer.lease(.generation, owner: "generator", limit: 10, leaseSeconds: 60)
            #expect(generation.count == 2)
            let responses =
                scenario.responses()
                + scenario.responses().map { response in
                    var copy = response
                    copy.run = other
                    copy.policy = otherPolicy
                    return copy
                }
            #expect(try await buffer.submitGenerations(generation, responses: responses).accepted == 2)

            // Scorer A leases both scoring tasks; its lease on the other run's task expires and B takes it.
            let held = try await buffer.lease(.scoring, owner: "A", limit: 10, leaseSeconds: 60)
            #expect(Set(held.map(\.run)) == [scenario.run, other])
            try await buffer.connection.execute(
                "UPDATE optune.scoring_tasks SET lease_expires_at = now() - interval '1 second' WHERE run_id = $1", [other])
            try await buffer.reclaimExpiredLeases(.scoring)
            let taken = try await buffer.lease(.scoring, owner: "B", limit: 10, leaseSeconds: 60)
            #expect(taken.map(\.run) == [other])

            // A submits rewards for every response of its (stale) batch.
            var rewards: [NewReward] = []
            var taskOfResponse: [Int64: TaskKey] = [:]
            for run in [scenario.run, other] {
                for response in try await buffer.responses(run: run, t: 0) {
                    rewards.append(NewReward(response: response.id, rewardModel: scenario.rewardModel, score: 0.25))
                    taskOfResponse[response.id] = TaskKey(run: run, t: 0, prompt: prompt)
                }
            }
            let outcome = try await buffer.submitScores(held, rewards: rewards, taskOfResponse: taskOfResponse)
            #expect(outcome == SubmissionOutcome(accepted: 1, refused: 1))
            let stored = try await buffer.connection.query(
                "SELECT r.run_id FROM optune.rewards w JOIN optune.responses r ON r.id = w.response_id ORDER BY r.run_id")
            #expect(try stored.map { try $0.decode(0, as: Int64.self) } == [scenario.run, scenario.run])
            #expect(
                try await Probe.count(
                    "SELECT coalesce(sum(size), 0)::int8 FROM optune.scoring_tasks WHERE run_id = $1 AND state = 'leased'", [other],
                    on: buffer.connection) == 1)
        }
    }
}
