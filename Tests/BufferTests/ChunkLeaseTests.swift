import Buffer
import TestSupport
import Testing

@Suite("Leases take whole chunks, within the batch size")
struct ChunkLeaseTests {
    @Test func moreChunksAreTakenOnlyWhileTheyFitTheLimit() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 24)
            let buffer = scenario.buffer
            // The scenario's train chunk of 24 goes first, whole, however small the limit.
            let train = try await buffer.lease(.generation, owner: "a", limit: 5, leaseSeconds: 60)
            #expect(train.count == 24 && Set(train.map(\.chunk)).count == 1)
            // Eval chunks of 2, 11 and 11 prompts.
            let (run, policy) = (scenario.run, scenario.policy)
            #expect(
                try await buffer.enqueueGeneration(
                    run: run, t: 0, policy: policy, purpose: .eval, promptIDs: Array(scenario.prompts[0..<2]), chunkSize: 2) == 2)
            #expect(
                try await buffer.enqueueGeneration(
                    run: run, t: 0, policy: policy, purpose: .eval, promptIDs: Array(scenario.prompts[2...]), chunkSize: 11) == 22)
            // After the chunk of 2, the chunks of 11 do not fit in a limit of 10: they stay queued.
            let small = try await buffer.lease(.generation, owner: "b", limit: 10, leaseSeconds: 60)
            #expect(small.count == 2)
            // A chunk larger than the limit is still leased whole when it comes first; two fit in 22.
            #expect(try await buffer.lease(.generation, owner: "c", limit: 10, leaseSeconds: 60).count == 11)
            #expect(try await buffer.lease(.generation, owner: "d", limit: 22, leaseSeconds: 60).count == 11)
            #expect(try await buffer.lease(.generation, owner: "e", limit: 22, leaseSeconds: 60).isEmpty)
            // Every prompt of a lease shares its chunk's token; chunks in (run, t, chunk) order.
            #expect(Set(small.map(\.leaseToken)).count == 1)
            #expect(small.map(\.prompt) == Array(scenario.prompts[0..<2]))
        }
    }
}
