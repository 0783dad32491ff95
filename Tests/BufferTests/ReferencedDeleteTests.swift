import Postgres
import TestSupport
import Testing

@testable import Buffer

@Suite("A response that a pair names cannot be deleted")
struct ReferencedDeleteTests {
    /// Iteration 0's responses of four prompts (no rewards, so only the pairs can refuse a
    /// delete), and an iteration 1 to reuse them in.
    private static func scenario(in database: TestDatabase) async throws -> BufferScenario {
        let scenario = try await BufferScenario.make(in: database, promptCount: 4)
        try await scenario.buffer.insertResponses(scenario.responses())
        let next = try await scenario.buffer.registerPolicy(run: scenario.run, t: 1, parent: scenario.policy, uri: "test://pi1")
        try await scenario.buffer.openIteration(run: scenario.run, t: 1, policy: next, rho: 1, strategy: .full)
        return scenario
    }

    private static let deleteSample = "DELETE FROM optune.responses WHERE run_id = $1 AND t = 0 AND prompt_id = $2 AND sample_index = $3"

    /// A pair of D_`t` for `prompt` naming samples 0 and 1 of iteration 0.
    private static func insertPair(_ scenario: BufferScenario, t: Int32, prompt: Int64, origin: String) async throws {
        try await scenario.buffer.connection.execute(
            """
            INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t, chosen_sample, rejected_sample, r_w, r_l, weight)
            VALUES ($1, $2, $3, $4, $1, 0, 1, 0, 0.9, 0.1, 0.6)
            """, [scenario.run, t, prompt, origin])
    }

    @Test func aRegeneratedPairKeepsItsResponses() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await Self.scenario(in: database)
            let c = scenario.buffer.connection
            let prompt = scenario.prompts[0]
            try await Self.insertPair(scenario, t: 0, prompt: prompt, origin: "regenerated")
            for sample in [Int32(0), 1] {
                let error = try await postgresError(running: Self.deleteSample, [scenario.run, prompt, sample], on: c)
                #expect(error?.sqlState == SQLState.foreignKeyViolation)
                #expect(error?.constraint == "responses_referenced")
            }
            // A response no pair names goes.
            #expect(try await postgresError(running: Self.deleteSample, [scenario.run, scenario.prompts[1], Int32(0)], on: c) == nil)
            #expect(try await c.query("SELECT count(*) FROM optune.responses")[0].decode(0, as: Int.self) == 7)
        }
    }

    @Test func aReusedPairKeepsTheResponsesOfItsSourceIteration() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await Self.scenario(in: database)
            let c = scenario.buffer.connection
            let prompt = scenario.prompts[2]
            // Reused into D_1 only: no pair of iteration 0 names these responses.
            try await Self.insertPair(scenario, t: 1, prompt: prompt, origin: "reused")
            let error = try await postgresError(running: Self.deleteSample, [scenario.run, prompt, Int32(1)], on: c)
            #expect(error?.constraint == "responses_referenced")
            #expect(try await postgresError(running: Self.deleteSample, [scenario.run, scenario.prompts[3], Int32(1)], on: c) == nil)
            // The reused pair is found through the partial index on reused pairs' sources (the
            // table is tiny: a scan would win on cost).
            try await c.execute("SET enable_seqscan = off")
            let plan = try await c.query(
                """
                EXPLAIN (COSTS OFF) SELECT 1 FROM optune.pairs
                WHERE origin = 'reused' AND (source_run_id, source_t, prompt_id) = ($1, 0, $2)
                """, [scenario.run, prompt]
            ).map { try $0.decode(0, as: String.self) }.joined(separator: "\n")
            #expect(plan.contains("pairs_reused_source_idx"), "\(plan)")
        }
    }

    @Test func onlyReusedPairsAreInTheSourceIndex() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await Self.scenario(in: database)
            let definition = try await scenario.buffer.connection.query(
                "SELECT pg_get_indexdef('optune.pairs_reused_source_idx'::regclass)"
            )[0].decode(0, as: String.self)
            #expect(definition.contains("WHERE (origin = 'reused'::text)"), "\(definition)")
            let old = try await scenario.buffer.connection.query("SELECT to_regclass('optune.pairs_source_idx') IS NULL")
            #expect(try old[0].decode(0, as: Bool.self))
        }
    }
}
