import Buffer
import Postgres
import TestSupport
import Testing

@Suite("The schema's constraints reject bad rows")
struct SchemaConstraintTests {
    @Test func aNaNOrInfiniteRewardIsRejected() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 1)
            try await scenario.buffer.insertResponses(scenario.responses())
            let response = try await scenario.buffer.responses(run: scenario.run, t: 0)[0].id
            for score in [Double.nan, .infinity, -.infinity] {
                let error = try await postgresError(
                    running:
                        "INSERT INTO optune.rewards (response_id, reward_model_id, score) VALUES ($1, $2, $3)",
                    [response, scenario.rewardModel, score], on: scenario.buffer.connection)
                #expect(error?.sqlState == SQLState.checkViolation)
                #expect(error?.constraint == "rewards_score_finite")
            }
        }
    }

    @Test func rhoOfZeroOrAboveOneAndASingleSampleAreRejected() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 1)
            let insert = """
                INSERT INTO optune.runs (name, prompt_set_id, reward_model_id, rho, strategy, samples_per_prompt, loss,
                                         beta1, beta2, seed, iterations_planned)
                VALUES ($1, $2, $3, $4, 'reward', $5, 'wdpo', 2, 5, 0, 3)
                """
            for (rho, samples, constraint) in [
                (0.0, 2, "runs_rho_range"), (1.5, 2, "runs_rho_range"), (0.5, 1, "runs_samples_per_prompt_min"),
            ] {
                let error = try await postgresError(
                    running:
                        insert, ["bad-\(rho)-\(samples)", scenario.setID, scenario.rewardModel, rho, Int32(samples)],
                    on: scenario.buffer.connection)
                #expect(error?.constraint == constraint)
            }
        }
    }

    @Test func theSwiftConfigValidationNamesTheField() {
        var config = RunConfig()
        config.rho = 0
        #expect(throws: RunConfigError(field: "rho", message: "must be in (0, 1], got 0.0")) { try config.validate() }
        config.rho = 0.5
        config.samplesPerPrompt = 1
        #expect(throws: RunConfigError.self) { try config.validate() }
    }

    @Test func aDuplicateResponseIsAUniqueViolation() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 1)
            let insert = """
                INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text, chunk)
                VALUES ($1, 0, $2, 0, 'train', $3, 1, 'x', (SELECT chunk FROM optune.generation_tasks WHERE run_id = $1))
                """
            let parameters: [(any PostgresEncodable)?] = [scenario.run, scenario.prompts[0], scenario.policy]
            #expect(try await postgresError(running: insert, parameters, on: scenario.buffer.connection) == nil)
            let error = try await postgresError(running: insert, parameters, on: scenario.buffer.connection)
            #expect(error?.sqlState == SQLState.uniqueViolation)
            #expect(error?.constraint == "responses_sample_unique")
        }
    }

    @Test func aPairWhoseChosenResponseBelongsToAnotherPromptIsRejected() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 2)
            try await scenario.buffer.insertResponses(scenario.responses())
            let pair = """
                INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t, chosen_sample,
                                          rejected_sample, r_w, r_l, weight)
                VALUES ($1, 0, $2, 'regenerated', $1, 0, $3, $4, 0.9, 0.1, 0.98)
                """
            // Sample 5 exists only for no prompt; the pair for prompt 0 may only name prompt 0's samples.
            let error = try await postgresError(
                running:
                    pair, [scenario.run, scenario.prompts[0], Int32(5), Int32(0)], on: scenario.buffer.connection)
            #expect(error?.sqlState == SQLState.foreignKeyViolation)
            #expect(error?.constraint == "pairs_chosen_fk")
            // Pointing the pair at another prompt's response is impossible to express: the
            // response key includes the pair's prompt. A well-formed pair is accepted.
            #expect(
                try await postgresError(
                    running: pair, [scenario.run, scenario.prompts[0], Int32(1), Int32(0)], on: scenario.buffer.connection)
                    == nil)
            let same = try await postgresError(
                running:
                    pair, [scenario.run, scenario.prompts[1], Int32(0), Int32(0)], on: scenario.buffer.connection)
            #expect(same?.constraint == "pairs_chosen_ne_rejected")
        }
    }

    @Test func pairChecksNameTheMissingRowAndAWrongGapIsReplaced() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 3)
            try await scenario.buffer.insertResponses(scenario.responses())
            let c = scenario.buffer.connection
            let pairs = """
                INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t, chosen_sample,
                                          rejected_sample, r_w, r_l, gap, weight)
                SELECT $1, $2, p, 'regenerated', $1, $2, 0, CASE WHEN p = $4 THEN $5 ELSE 1 END, 0.9, 0.1, $6, 0.6
                FROM unnest($3::int8[]) AS p
                """
            let prompts = scenario.prompts
            // The last of three pairs names a rejected sample that does not exist.
            let rejected = try await postgresError(
                running:
                    pairs, [scenario.run, Int32(0), prompts, prompts[2], Int32(7), 0.8], on: c)
            #expect(rejected?.sqlState == SQLState.foreignKeyViolation)
            #expect(rejected?.constraint == "pairs_rejected_fk")
            #expect(rejected?.message.contains("prompt \(prompts[2])") == true)
            let iteration = try await postgresError(running: pairs, [scenario.run, Int32(9), prompts, prompts[0], Int32(1), 0.8], on: c)
            #expect(iteration?.constraint == "pairs_iteration_fk")
            // Well-formed pairs with a gap written by hand: the trigger sets r_w − r_l.
            #expect(try await postgresError(running: pairs, [scenario.run, Int32(0), prompts, prompts[0], Int32(1), 5.0], on: c) == nil)
            let gaps = try await c.query("SELECT DISTINCT gap FROM optune.pairs").map { try $0.decode(0, as: Double.self) }
            #expect(gaps.count == 1)
            #expect(abs((gaps.first ?? 0) - 0.8) < 1e-12)
        }
    }

    @Test func invalidStatesAndNegativeCountsAreRejected() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 1)
            let c = scenario.buffer.connection
            let state = try await postgresError(running: "UPDATE optune.iterations SET state = 'dreaming'", on: c)
            #expect(state?.constraint == "iterations_state_valid")
            let count = try await postgresError(running: "UPDATE optune.iterations SET tokens_generated = -1", on: c)
            #expect(count?.constraint == "iterations_tokens_generated_nonnegative")
            let lease = try await postgresError(running: "UPDATE optune.generation_tasks SET state = 'leased'", on: c)
            #expect(lease?.constraint == "generation_tasks_lease_complete")
            let failed = try await postgresError(running: "UPDATE optune.iterations SET state = 'failed', finished_at = now()", on: c)
            #expect(failed?.constraint == "iterations_failed_has_reason")
        }
    }

    @Test func aStatementSpanningSeveralChunksIsCheckedRowByRow() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 2)
            let buffer = scenario.buffer
            let (run, policy) = (scenario.run, scenario.policy)
            try await buffer.enqueueGeneration(run: run, t: 0, policy: policy, purpose: .eval, promptIDs: scenario.prompts)
            let chunks = try await buffer.connection.query(
                "SELECT chunk FROM optune.generation_tasks WHERE run_id = $1 ORDER BY purpose DESC", [run]
            ).map { try $0.decode(0, as: Int64.self) }
            try #require(chunks.count == 2)
            let (train, eval) = (chunks[0], chunks[1])
            let insert = """
                INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text, chunk)
                VALUES ($1, 0, $2, 0, 'train', $3, 1, 'x', $4), ($1, 0, $5, $6, $7, $3, 1, 'y', $8)
                """
            let (first, second) = (scenario.prompts[0], scenario.prompts[1])
            // The second row names the train chunk as an eval response: refused, and named.
            let error = try await postgresError(
                running: insert, [run, first, policy, train, second, Int32(1), "eval", train], on: buffer.connection)
            #expect(error?.constraint == "responses_generation_task_check")
            #expect(error?.message.contains("prompt \(second), sample 1") == true, "\(error?.message ?? "")")
            // One train and one eval response, each in its own chunk.
            #expect(
                try await postgresError(
                    running: insert, [run, first, policy, train, second, Int32(1), "eval", eval], on: buffer.connection) == nil)
            #expect(try await buffer.connection.query("SELECT count(*) FROM optune.responses")[0].decode(0, as: Int.self) == 2)
        }
    }

    @Test func aResponseForAPromptWithoutATaskIsAForeignKeyViolation() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 2)
            let c = scenario.buffer.connection
            let insert = """
                INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text, chunk)
                VALUES ($1, 0, $2, 0, $4, $3, 1, 'x', (SELECT chunk FROM optune.generation_tasks WHERE run_id = $1))
                """
            let (run, prompt, policy) = (scenario.run, scenario.prompts[0], scenario.policy)
            // A prompt its chunk does not hold, another policy, another purpose: each is refused by
            // the statement-level check that stands in for a per-row foreign key.
            for (badPrompt, badPolicy, purpose) in [
                (Int64(987_654), policy, "train"), (prompt, policy + 1000, "train"), (prompt, policy, "eval"),
            ] {
                let error = try await postgresError(running: insert, [run, badPrompt, badPolicy, purpose], on: c)
                #expect(error?.sqlState == SQLState.foreignKeyViolation)
                #expect(error?.constraint == "responses_generation_task_check")
            }
            // A chunk that does not exist.
            let missing = try await postgresError(
                running:
                    """
                    INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text, chunk)
                    VALUES ($1, 0, $2, 0, 'train', $3, 1, 'x', -1)
                    """, [run, prompt, policy], on: c)
            #expect(missing?.constraint == "responses_generation_task_check")
            #expect(try await postgresError(running: insert, [run, prompt, policy, "train"], on: c) == nil)
            // The chunk a response relies on cannot change its prompts.
            let changed = try await postgresError(running: "UPDATE optune.generation_tasks SET prompt_ids = '{1}', size = 1", on: c)
            #expect(changed?.sqlState == "23000")
        }
    }
}
