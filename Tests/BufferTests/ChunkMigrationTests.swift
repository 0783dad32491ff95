import Buffer
import Foundation
import Migrations
import Postgres
import TestSupport
import Testing
import TokenCodec

/// Migration 0009 (issue 11) moves a database written in the per-prompt layout of 0001–0008 —
/// one `selections` row per selected prompt, one task per prompt in each queue, responses tied to
/// their task by a composite FK — to one selection row per iteration and chunk tasks. These tests
/// fill the OLD layout with raw SQL (the Swift code of this branch writes the old layout, and the
/// new code must not be needed to read it back), migrate, and check that nothing moved or was lost.
@Suite("Migration 0009 moves per-prompt selections and tasks to chunks without loss")
struct ChunkMigrationTests {
    /// The name of the migration under test; the database is first migrated up to the one before it.
    static let chunkMigration = "0009_chunked_work"

    @Test func selectionsTasksResponsesAndViewsComeThroughUnchanged() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            try await Self.migrateToOldLayout(connection)
            try await Self.fillOldLayout(connection)
            try await Self.expectFixtureCoversEveryState(connection)

            var before: [String: [String]] = [:]
            for (name, sql) in Self.unchangedQueries { before[name] = try await Self.rows(sql, on: connection) }
            let generationBefore = try await Self.rows(Self.oldTaskRows("generation_tasks"), on: connection)
            let scoringBefore = try await Self.rows(Self.oldTaskRows("scoring_tasks"), on: connection)
            let selectionsBefore = try await Self.rows(Self.oldSelectionArrays, on: connection)
            let iterationsSelecting = try await Self.count(
                "SELECT count(DISTINCT (run_id, t)) FROM optune.selections", on: connection)

            let applied = try await Migrator(connection: connection).migrate()
            #expect(applied.first == Self.chunkMigration)

            // The selections view, the other views and the untouched tables give the same rows.
            for (name, sql) in Self.unchangedQueries {
                let after = try await Self.rows(sql, on: connection)
                #expect(after == before[name], "\(name) changed")
                #expect(after.isEmpty == false, "\(name) had no rows to compare")
            }

            // |D_t| is recorded on every iteration that has pairs.
            #expect(
                try await Self.count(
                    """
                    SELECT count(*) FROM optune.iterations i
                    WHERE i.pairs IS DISTINCT FROM (SELECT nullif(count(*), 0) FROM optune.pairs p WHERE (p.run_id, p.t) = (i.run_id, i.t))
                    """, on: connection) == 0)

            // One iteration_selections row per (run, t): prompt_ids in rank order, ranking_rewards
            // aligned with them, and the whole array NULL at t = 0.
            #expect(try await Self.count("SELECT count(*) FROM optune.iteration_selections", on: connection) == iterationsSelecting)
            #expect(try await Self.rows(Self.newSelectionArrays, on: connection) == selectionsBefore)

            // Every old task is a chunk of its one prompt, with its state, lease, attempts, expiries and error.
            #expect(try await Self.rows(Self.newTaskRows("generation_tasks"), on: connection) == generationBefore)
            #expect(try await Self.rows(Self.newTaskRows("scoring_tasks"), on: connection) == scoringBefore)
            for queue in ["generation_tasks", "scoring_tasks"] {
                #expect(try await Self.count(Self.notOnePromptChunks(queue), on: connection) == 0, "\(queue)")
            }
            // Chunk numbers come from one sequence: unique across both queues.
            #expect(try await Self.count(Self.duplicateChunkNumbers, on: connection) == 0)

            // Every response names the chunk of its (run, t, prompt), with its policy and purpose.
            let responses = try await Self.count("SELECT count(*) FROM optune.responses", on: connection)
            #expect(responses == Int64(before["responses"]?.count ?? -1))
            #expect(try await Self.count(Self.responsesInTheirChunk, on: connection) == responses)
            await connection.close()
        }
    }

    @Test func theResponseCheckAndChunkIdentityGuardTheMovedData() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            try await Self.migrateToOldLayout(connection)
            try await Self.fillOldLayout(connection)
            try await Migrator(connection: connection).migrate()

            // Run A's iteration 1: a pending chunk (its prompt has no response yet) and a done one.
            let ids = try await connection.query(
                """
                SELECT r.id, i.policy_id, p0.id,
                       pending.chunk, pending.prompt_ids[1], done.chunk, done.prompt_ids[1], old.chunk
                FROM optune.runs r
                JOIN optune.iterations i ON i.run_id = r.id AND i.t = 1
                JOIN optune.policies p0 ON p0.run_id = r.id AND p0.t = 0
                JOIN optune.generation_tasks pending ON pending.run_id = r.id AND pending.t = 1
                     AND pending.purpose = 'train' AND pending.state = 'pending'
                JOIN optune.generation_tasks done ON done.run_id = r.id AND done.t = 1
                     AND done.purpose = 'train' AND done.state = 'done' AND done.attempts = 1
                JOIN optune.generation_tasks old ON old.run_id = r.id AND old.t = 0
                     AND old.prompt_ids = pending.prompt_ids
                WHERE r.name = 'run-a'
                """)
            try #require(ids.count == 1)
            let run = try ids[0].decode(0, as: Int64.self)
            let pi1 = try ids[0].decode(1, as: Int64.self)
            let pi0 = try ids[0].decode(2, as: Int64.self)
            let pendingChunk = try ids[0].decode(3, as: Int64.self)
            let pendingPrompt = try ids[0].decode(4, as: Int64.self)
            let doneChunk = try ids[0].decode(5, as: Int64.self)
            let donePrompt = try ids[0].decode(6, as: Int64.self)
            let chunkOfT0 = try ids[0].decode(7, as: Int64.self)
            let maxChunk = try await Self.count(
                "SELECT max(chunk) FROM (SELECT chunk FROM optune.generation_tasks UNION ALL SELECT chunk FROM optune.scoring_tasks) c",
                on: connection)

            let insert = """
                INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text, chunk)
                VALUES ($1, 1, $2, $3, $4, $5, 3, 'a late sample', $6)
                """
            let responsesBefore = try await Self.count("SELECT count(*) FROM optune.responses", on: connection)
            // Each case has its own sample index, so a row wrongly accepted cannot fail a later case for another reason.
            let refused: [(String, [(any PostgresEncodable)?])] = [
                ("the chunk does not hold the prompt", [run, donePrompt, Int32(7), "train", pi1, pendingChunk]),
                ("another policy than the chunk's", [run, pendingPrompt, Int32(11), "train", pi0, pendingChunk]),
                ("another purpose than the chunk's", [run, pendingPrompt, Int32(12), "eval", pi1, pendingChunk]),
                ("a chunk of another iteration", [run, pendingPrompt, Int32(13), "train", pi1, chunkOfT0]),
                ("a chunk that does not exist", [run, pendingPrompt, Int32(14), "train", pi1, maxChunk + 1000]),
            ]
            for (reason, parameters) in refused {
                let error = try await postgresError(running: insert, parameters, on: connection)
                #expect(error?.sqlState == SQLState.foreignKeyViolation, "\(reason)")
                #expect(error?.constraint == "responses_generation_task_check", "\(reason)")
            }
            // One bad row refuses the whole statement, good rows included.
            let mixed = try await postgresError(
                running:
                    """
                    INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text, chunk)
                    VALUES ($1, 1, $2, 20, 'train', $3, 3, 'good', $4), ($1, 1, $5, 21, 'train', $3, 3, 'bad', $4)
                    """, [run, pendingPrompt, pi1, pendingChunk, donePrompt], on: connection)
            #expect(mixed?.constraint == "responses_generation_task_check")
            #expect(try await Self.count("SELECT count(*) FROM optune.responses", on: connection) == responsesBefore)

            // The right chunk, prompt, policy and purpose is accepted.
            try await connection.execute(insert, [run, pendingPrompt, Int32(0), "train", pi1, pendingChunk])
            #expect(try await Self.count("SELECT count(*) FROM optune.responses", on: connection) == responsesBefore + 1)

            // The buffer COPYs responses straight into the table: the check runs for COPY as well.
            let copy = """
                COPY optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text, chunk)
                FROM STDIN (FORMAT binary)
                """
            let copyRows: @Sendable (inout BinaryCopyWriter, [(prompt: Int64, sample: Int32)]) throws -> Void = { writer, rows in
                for row in rows {
                    try writer.beginRow(fieldCount: 9)
                    writer.write(run)
                    writer.write(Int32(1))
                    writer.write(row.prompt)
                    writer.write(row.sample)
                    writer.write("train")
                    writer.write(pi1)
                    writer.write(Int32(3))
                    writer.write("a copied sample")
                    writer.write(pendingChunk)
                }
            }
            do {
                try await connection.copyFromBinary(copy) { try copyRows(&$0, [(pendingPrompt, 30), (donePrompt, 31)]) }
                Issue.record("a COPY of a response whose chunk does not hold its prompt was accepted")
            } catch let error as PostgresError {
                #expect(error.sqlState == SQLState.foreignKeyViolation)
                #expect(error.constraint == "responses_generation_task_check")
            }
            #expect(try await Self.count("SELECT count(*) FROM optune.responses", on: connection) == responsesBefore + 1)
            let copied = try await connection.copyFromBinary(copy) { try copyRows(&$0, [(pendingPrompt, 30), (pendingPrompt, 31)]) }
            #expect(copied == 2)

            // Moving a response to a chunk that does not hold its prompt is refused too.
            let moved = try await postgresError(
                running:
                    "UPDATE optune.responses SET chunk = $1 WHERE run_id = $2 AND t = 1 AND prompt_id = $3",
                [pendingChunk, run, donePrompt], on: connection)
            #expect(moved?.sqlState == SQLState.foreignKeyViolation)
            #expect(moved?.constraint == "responses_generation_task_check")

            // A chunk's prompts never change (keep_chunk_identity), in either queue; its state may.
            for queue in ["generation_tasks", "scoring_tasks"] {
                let error = try await postgresError(
                    running:
                        """
                        UPDATE optune.\(queue) SET prompt_ids = ARRAY[$1::bigint]
                        WHERE run_id = $2 AND t = 1 AND prompt_ids = ARRAY[$3::bigint]
                        """,
                    [pendingPrompt, run, donePrompt], on: connection)
                #expect(error?.sqlState == "23000", "\(queue)")
                #expect(error?.message.contains("never change") == true, "\(queue)")
            }
            let chunkKept = try await Self.count(
                """
                SELECT count(*) FROM optune.generation_tasks
                WHERE run_id = $1 AND t = 1 AND chunk = $2 AND prompt_ids = ARRAY[$3::bigint]
                """,
                [run, doneChunk, donePrompt], on: connection)
            #expect(chunkKept == 1)
            let leased = try await connection.execute(
                """
                UPDATE optune.generation_tasks
                SET state = 'leased', lease_owner = 'generator@migtest', lease_token = nextval('optune.lease_token_seq'),
                    lease_expires_at = now() + interval '1 minute', attempts = attempts + 1, updated_at = now()
                WHERE run_id = $1 AND t = 1 AND chunk = $2 AND state = 'pending'
                """, [run, pendingChunk])
            #expect(leased == 1)

            // As the daemons' role: a chunk split off a moved one takes a number from the sequence and
            // accepts responses of its prompt; no chunk can be deleted (the check relies on them).
            try await connection.execute("SET ROLE optune_worker")
            let split = try await connection.query(
                """
                INSERT INTO optune.generation_tasks (run_id, t, purpose, policy_id, prompt_ids, size, parent_chunk)
                VALUES ($1, 1, 'train', $2, ARRAY[$3::bigint], 1, $4)
                RETURNING chunk
                """, [run, pi1, pendingPrompt, pendingChunk])[0].decode(0, as: Int64.self)
            #expect(split > maxChunk)
            try await connection.execute(insert, [run, pendingPrompt, Int32(40), "train", pi1, split])
            let deleted = try await postgresError(
                running:
                    "DELETE FROM optune.generation_tasks WHERE run_id = $1 AND t = 1 AND chunk = $2", [run, split], on: connection)
            #expect(deleted?.sqlState == "42501")
            try await connection.execute("RESET ROLE")
            await connection.close()
        }
    }

    // MARK: - The database before 0009

    /// Applies the bundled migrations up to, not including, 0009.
    static func migrateToOldLayout(_ connection: Connection) async throws {
        let files = try MigrationFiles.bundled()
        let old = Array(files.prefix { $0.name < chunkMigration })
        try #require(old.last?.name == "0008_token_blob_v2")
        try await Migrator(connection: connection, files: old).migrate()
    }

    /// Fills the per-prompt layout: run A (12 train + 4 eval prompts) with t = 0 done and t = 1
    /// generating, tasks in every state; run B, a fork of A after t = 0, with t = 1 done.
    static func fillOldLayout(_ connection: Connection) async throws {
        let ids = (0..<6).map { UInt32(40_000 + 17 * $0) }
        let blob = TokenCodec.encode(ids, width: .two, shuffle: false)
        try #require(blob.count >= 8 && blob[0] == 0x54 && blob[1] == 1)
        try await connection.simpleQuery(tasksAndSelections)
        try await connection.execute(responsesOfDoneTasks, [ByteA(blob), Int32(ids.count)])
        try await connection.simpleQuery(rewardsPairsAndEvaluations)
    }

    /// Fails if the fixture stopped covering a state the migration must carry over.
    static func expectFixtureCoversEveryState(_ connection: Connection) async throws {
        let coverage = try await rows(
            """
            SELECT row(
                (SELECT array_agg(DISTINCT state ORDER BY state) FROM optune.generation_tasks),
                (SELECT array_agg(DISTINCT state ORDER BY state) FROM optune.scoring_tasks),
                (SELECT count(*) FROM optune.generation_tasks WHERE expiries > 0 AND state = 'leased'),
                (SELECT count(*) FROM optune.generation_tasks WHERE purpose = 'eval' AND state <> 'done'),
                (SELECT count(*) FROM optune.selections WHERE ranking_reward IS NULL AND t > 0),
                (SELECT count(*) > 0 AND count(*) > count(tokens) AND count(tokens) > 0 FROM optune.responses),
                (SELECT count(DISTINCT kept_pair) FROM optune.unpaired_prompts),
                (SELECT count(*) FROM optune.pairs WHERE origin = 'reused' AND source_run_id <> run_id)
            )::text
            """, on: connection)
        #expect(coverage == ["(\"{dead,done,leased,pending}\",\"{dead,done,leased}\",1,3,2,t,2,10)"])
    }

    // MARK: - Snapshots

    /// Queries whose rows 0009 must not change, by name. The per-prompt columns of selections are
    /// read through the name optune.selections (a table before, a view after).
    static let unchangedQueries: [(String, String)] = [
        ("selections", "SELECT row(run_id, t, prompt_id, rank, ranking_reward)::text FROM optune.selections ORDER BY run_id, t, rank"),
        ("reward_trajectory", "SELECT v::text FROM optune.reward_trajectory v ORDER BY v.run_id, v.t, v.prompt_id"),
        ("iteration_summary", "SELECT v::text FROM optune.iteration_summary v ORDER BY v.run_id, v.t"),
        ("fig2_gain_split", "SELECT v::text FROM optune.fig2_gain_split v ORDER BY v.run_id, v.t"),
        ("reused_pair_staleness", "SELECT v::text FROM optune.reused_pair_staleness v ORDER BY v.run_id, v.t"),
        ("run_comparison", "SELECT v::text FROM optune.run_comparison v ORDER BY v.run_id"),
        (
            "responses",
            """
            SELECT row(id, run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, sha256(tokens), text,
                       finish_reason, sampling, seed, worker_id, latency_ms, created_at)::text
            FROM optune.responses ORDER BY id
            """
        ),
        ("rewards", "SELECT w::text FROM optune.rewards w ORDER BY w.response_id, w.reward_model_id"),
        ("pairs", "SELECT p::text FROM optune.pairs p ORDER BY p.run_id, p.t, p.prompt_id"),
        ("unpaired_prompts", "SELECT u::text FROM optune.unpaired_prompts u ORDER BY u.run_id, u.t, u.prompt_id"),
        ("evaluations", "SELECT e::text FROM optune.evaluations e ORDER BY e.id"),
        (
            "iterations",
            """
            SELECT (SELECT string_agg(v, ',' ORDER BY k) FROM jsonb_each_text(to_jsonb(i) - 'pairs') AS e(k, v))
            FROM optune.iterations i ORDER BY i.run_id, i.t
            """
        ),
    ]

    /// Each per-prompt task of `queue` before 0009, as the columns a chunk must keep.
    static func oldTaskRows(_ queue: String) -> String {
        """
        SELECT row(run_id, t, prompt_id, purpose, policy_id, state, lease_owner, lease_token, lease_expires_at,
                   attempts, max_attempts, expiries, last_error, created_at, updated_at)::text
        FROM optune.\(queue) ORDER BY run_id, t, prompt_id
        """
    }

    /// Each chunk of `queue` after 0009, with its only prompt in place of the old prompt_id.
    static func newTaskRows(_ queue: String) -> String {
        """
        SELECT row(run_id, t, prompt_ids[1], purpose, policy_id, state, lease_owner, lease_token, lease_expires_at,
                   attempts, max_attempts, expiries, last_error, created_at, updated_at)::text
        FROM optune.\(queue) ORDER BY run_id, t, prompt_ids[1]
        """
    }

    /// Chunks of `queue` that are not an original chunk of exactly one prompt.
    static func notOnePromptChunks(_ queue: String) -> String {
        """
        SELECT count(*) FROM optune.\(queue)
        WHERE size <> 1 OR cardinality(prompt_ids) <> 1 OR parent_chunk IS NOT NULL
        """
    }

    static let duplicateChunkNumbers = """
        SELECT count(*) - count(DISTINCT chunk)
        FROM (SELECT chunk FROM optune.generation_tasks UNION ALL SELECT chunk FROM optune.scoring_tasks) c
        """

    /// The old selections as (run, t, rank, prompt, whole array NULL, ranking reward); every run of
    /// the fixture ranks by reward, so only t = 0 has no ranking rewards.
    static let oldSelectionArrays = """
        SELECT row(run_id, t, rank, prompt_id, t = 0, ranking_reward)::text
        FROM optune.selections ORDER BY run_id, t, rank
        """

    /// The same read from the arrays of iteration_selections, position = rank.
    static let newSelectionArrays = """
        SELECT row(s.run_id, s.t, u.rank, u.prompt_id, s.ranking_rewards IS NULL, s.ranking_rewards[u.rank])::text
        FROM optune.iteration_selections s
        CROSS JOIN LATERAL unnest(s.prompt_ids) WITH ORDINALITY AS u(prompt_id, rank)
        ORDER BY s.run_id, s.t, u.rank
        """

    /// Responses whose chunk is the one-prompt chunk of their (run, t, prompt), policy and purpose.
    static let responsesInTheirChunk = """
        SELECT count(*)
        FROM optune.responses r
        JOIN optune.generation_tasks g ON (g.run_id, g.t, g.chunk) = (r.run_id, r.t, r.chunk)
        WHERE g.prompt_ids = ARRAY[r.prompt_id] AND g.policy_id = r.policy_id AND g.purpose = r.purpose
        """

    // MARK: - Helpers

    /// The rows of a query of one text column.
    static func rows(_ sql: String, on connection: Connection) async throws -> [String] {
        try await connection.query(sql).map { try $0.decode(0, as: String.self) }
    }

    /// The one bigint a query returns.
    static func count(_ sql: String, _ parameters: [(any PostgresEncodable)?] = [], on connection: Connection) async throws -> Int64 {
        try await connection.query(sql, parameters)[0].decode(0, as: Int64.self)
    }

    // MARK: - The old layout's rows

    static let tasksAndSelections = """
        CREATE TEMP TABLE k_prompts (split text, i integer, id bigint);
        INSERT INTO optune.prompts (text, source)
        SELECT format('train prompt %s', i), 'migtest' FROM generate_series(1, 12) i;
        INSERT INTO optune.prompts (messages, source)
        SELECT jsonb_build_array(jsonb_build_object('role', 'user', 'content', format('eval prompt %s', i))), 'migtest'
        FROM generate_series(1, 4) i;
        INSERT INTO k_prompts
        SELECT CASE WHEN text IS NOT NULL THEN 'train' ELSE 'eval' END,
               row_number() OVER (PARTITION BY text IS NOT NULL ORDER BY id), id
        FROM optune.prompts;
        INSERT INTO optune.prompt_sets (name) VALUES ('migtest-set');
        INSERT INTO optune.prompt_set_members (set_id, prompt_id, split)
        SELECT s.id, k.id, k.split FROM optune.prompt_sets s, k_prompts k;
        INSERT INTO optune.reward_models (name, version, backend) VALUES ('migtest-rm', '1', 'builtin');
        INSERT INTO optune.runs (name, prompt_set_id, reward_model_id, rho, strategy, samples_per_prompt, loss,
            beta1, beta2, seed, iterations_planned, status)
        SELECT 'run-a', s.id, m.id, 0.5, 'reward', 2, 'wdpo', 0.1, 2.0, 7, 2, 'running'
        FROM optune.prompt_sets s, optune.reward_models m;

        CREATE TEMP TABLE k AS
        SELECT r.id AS run_a FROM optune.runs r WHERE r.name = 'run-a';
        INSERT INTO optune.policies (run_id, t, uri) SELECT run_a, 0, 'file:///migtest/pi0' FROM k;
        INSERT INTO optune.policies (run_id, t, parent_policy_id, uri)
        SELECT k.run_a, 1, p.id, 'file:///migtest/pi1' FROM k JOIN optune.policies p ON p.run_id = k.run_a AND p.t = 0;
        ALTER TABLE k ADD COLUMN pi0 bigint, ADD COLUMN pi1 bigint, ADD COLUMN run_b bigint;
        UPDATE k SET pi0 = (SELECT id FROM optune.policies p WHERE p.run_id = k.run_a AND p.t = 0),
                     pi1 = (SELECT id FROM optune.policies p WHERE p.run_id = k.run_a AND p.t = 1);

        -- Run A, t = 0: done, fully online.
        INSERT INTO optune.iterations (run_id, t, state, policy_id, rho, strategy, prompts_total, selected, regenerated,
            zero_gap_pairs, responses_generated, tokens_generated, eval_responses, eval_tokens_generated, dead_tasks,
            select_seconds, generate_seconds, score_seconds, build_seconds, train_seconds, evaluate_seconds,
            started_at, finished_at)
        SELECT run_a, 0, 'done', pi0, 1, 'full', 12, 12, 11, 4, 24, 24 * 6, 8, 8 * 5, 1,
               0.5, 10, 4, 1, 20, 3, '2026-11-01 10:00:00+00', '2026-11-01 10:40:00+00' FROM k;
        -- Run A, t = 1: generating.
        INSERT INTO optune.iterations (run_id, t, state, policy_id, rho, strategy, prompts_total, selected,
            responses_generated, tokens_generated, eval_responses, eval_tokens_generated, dead_tasks, select_seconds, started_at)
        SELECT run_a, 1, 'generating', pi1, 0.5, 'reward', 12, 6, 4, 4 * 6, 2, 2 * 5, 3, 0.25, '2026-11-01 10:41:00+00' FROM k;
        INSERT INTO optune.training_runs (run_id, t, policy_in, policy_out, loss, beta1, beta2, pairs_used, skipped_zero_gap,
            loss_curve, train_seconds, started_at, finished_at)
        SELECT run_a, 0, pi0, pi1, 'wdpo', 0.1, 2.0, 12, 0, '{0.69,0.61,0.55}', 20,
               '2026-11-01 10:20:00+00', '2026-11-01 10:40:00+00' FROM k;

        -- Selections of t = 0: every train prompt, no ranking reward.
        INSERT INTO optune.selections (run_id, t, prompt_id, rank, ranking_reward, created_at)
        SELECT k.run_a, 0, p.id, p.i, NULL, '2026-11-01 10:00:01+00' FROM k, k_prompts p WHERE p.split = 'train';

        -- Work of t = 0: every task done, each holding a lease it finished under.
        INSERT INTO optune.generation_tasks (run_id, t, prompt_id, purpose, policy_id, state, lease_owner, lease_token,
            lease_expires_at, attempts, expiries, lease_batch, created_at, updated_at)
        SELECT k.run_a, 0, p.id, p.split, k.pi0, 'done', 'generator@host:11:aa', nextval('optune.lease_token_seq'),
               '2026-11-01 10:05:00+00', 1, 0, 16, '2026-11-01 10:00:02+00', '2026-11-01 10:03:00+00'
        FROM k, k_prompts p ORDER BY p.split DESC, p.i;
        -- Scoring of train prompt 5 died, so D_0 has no pair for it.
        INSERT INTO optune.scoring_tasks (run_id, t, prompt_id, purpose, policy_id, state, lease_owner, lease_token,
            lease_expires_at, attempts, expiries, last_error, lease_batch, created_at, updated_at)
        SELECT g.run_id, g.t, g.prompt_id, g.purpose, g.policy_id, CASE WHEN p.i = 5 AND p.split = 'train' THEN 'dead' ELSE 'done' END,
               'scorer@host:12:bb', nextval('optune.lease_token_seq'), '2026-11-01 10:09:00+00',
               CASE WHEN p.i = 5 AND p.split = 'train' THEN 3 ELSE 1 END, 0,
               CASE WHEN p.i = 5 AND p.split = 'train' THEN 'reward model returned NaN' END,
               16, '2026-11-01 10:03:00+00', '2026-11-01 10:06:00+00'
        FROM optune.generation_tasks g JOIN k_prompts p ON p.id = g.prompt_id ORDER BY g.purpose DESC, g.prompt_id;

        -- The reward of prompt i's chosen sample in D_0 is ((7 i) mod 12) / 4 − 1 (all distinct), so
        -- ranking by it orders the prompts unlike their ids; prompt 5 has no pair and ranks first.
        CREATE TEMP TABLE k_ranked AS
        SELECT x.id, x.i, x.r_w0, row_number() OVER (ORDER BY x.r_w0 NULLS FIRST, x.id)::integer AS rank
        FROM (SELECT p.id, p.i, CASE WHEN p.i <> 5 THEN (((7 * p.i) % 12) / 4.0 - 1)::double precision END AS r_w0
              FROM k_prompts p WHERE p.split = 'train') x;

        -- Run A, t = 1: the 6 prompts of lowest reward in D_0, ranked by it.
        INSERT INTO optune.selections (run_id, t, prompt_id, rank, ranking_reward, created_at)
        SELECT k.run_a, 1, r.id, r.rank, r.r_w0, '2026-11-01 10:41:01+00' FROM k, k_ranked r WHERE r.rank <= 6;
        -- Its generation tasks in every state, by rank, and the eval tasks of π_1.
        INSERT INTO optune.generation_tasks (run_id, t, prompt_id, purpose, policy_id, state, lease_owner, lease_token,
            lease_expires_at, attempts, max_attempts, expiries, last_error, lease_batch, created_at, updated_at)
        SELECT k.run_a, 1, s.prompt_id, 'train', k.pi1, v.state, v.owner,
               CASE WHEN v.owner IS NOT NULL THEN nextval('optune.lease_token_seq') END,
               v.expires, v.attempts, 3, v.expiries, v.error, v.batch,
               '2026-11-01 10:41:02+00', '2026-11-01 10:50:00+00'::timestamptz + s.rank * interval '1 minute'
        FROM k
        JOIN optune.selections s ON s.run_id = k.run_a AND s.t = 1
        JOIN (VALUES
            (1, 'done',    'generator@host:21:cc', '2026-11-01 10:45:00+00'::timestamptz, 1, 0, NULL, 6),
            (2, 'done',    'generator@host:22:dd', '2026-11-01 10:55:00+00', 2, 1, NULL, 1),
            (3, 'leased',  'generator@host:22:dd', now() + interval '10 minutes', 1, 0, NULL, 6),
            (4, 'pending', 'generator@host:21:cc', '2026-11-01 10:45:00+00', 1, 1, NULL, 6),
            (5, 'dead',    'generator@host:23:ee', '2026-11-01 11:05:00+00', 3, 1, 'backend returned HTTP 500: out of memory', 1),
            (6, 'leased',  'generator@host:23:ee', now() + interval '5 minutes', 2, 1, NULL, 1)
        ) AS v(rank, state, owner, expires, attempts, expiries, error, batch) ON v.rank = s.rank
        ORDER BY s.rank;
        INSERT INTO optune.generation_tasks (run_id, t, prompt_id, purpose, policy_id, state, lease_owner, lease_token,
            lease_expires_at, attempts, max_attempts, expiries, last_error, created_at, updated_at)
        SELECT k.run_a, 1, p.id, 'eval', k.pi1, v.state, v.owner,
               CASE WHEN v.owner IS NOT NULL THEN nextval('optune.lease_token_seq') END,
               v.expires, v.attempts, v.max_attempts, v.expiries, v.error, '2026-11-01 10:41:03+00', '2026-11-01 10:52:00+00'
        FROM k
        JOIN k_prompts p ON p.split = 'eval'
        JOIN (VALUES
            (1, 'done',    'generator@host:21:cc', '2026-11-01 10:46:00+00'::timestamptz, 1, 3, 0, NULL),
            (2, 'pending', NULL, NULL, 0, 3, 0, NULL),
            (3, 'leased',  'generator@host:21:cc', now() + interval '10 minutes', 1, 3, 0, NULL),
            (4, 'dead',    'generator@host:23:ee', '2026-11-01 10:48:00+00', 2, 2, 2, 'lease expired while leased alone')
        ) AS v(i, state, owner, expires, attempts, max_attempts, expiries, error) ON v.i = p.i
        ORDER BY p.i;
        INSERT INTO optune.scoring_tasks (run_id, t, prompt_id, purpose, policy_id, state, lease_owner, lease_token,
            lease_expires_at, attempts, max_attempts, expiries, last_error, lease_batch, created_at, updated_at)
        SELECT g.run_id, g.t, g.prompt_id, g.purpose, g.policy_id, v.state, v.owner, nextval('optune.lease_token_seq'),
               v.expires, v.attempts, 3, v.expiries, v.error, 2, '2026-11-01 10:47:00+00', '2026-11-01 10:58:00+00'
        FROM k
        JOIN optune.generation_tasks g ON g.run_id = k.run_a AND g.t = 1 AND g.state = 'done'
        LEFT JOIN optune.selections s ON (s.run_id, s.t, s.prompt_id) = (g.run_id, g.t, g.prompt_id)
        JOIN (VALUES
            (1, 'done',   'scorer@host:31:ff', '2026-11-01 10:49:00+00'::timestamptz, 1, 0, NULL),
            (2, 'leased', 'scorer@host:31:ff', now() + interval '15 minutes', 2, 1, NULL),
            (0, 'dead',   'scorer@host:32:gg', '2026-11-01 10:57:00+00', 3, 0, 'reward model timed out after 30 s')
        ) AS v(rank, state, owner, expires, attempts, expiries, error) ON v.rank = coalesce(s.rank, 0)
        ORDER BY g.prompt_id;

        -- Run B: a fork of run A after t = 0 that ran t = 1 to the end with ρ = 0.25.
        INSERT INTO optune.runs (name, prompt_set_id, reward_model_id, rho, strategy, samples_per_prompt, loss,
            beta1, beta2, seed, iterations_planned, status, forked_from_run_id, forked_from_iteration)
        SELECT 'run-b', r.prompt_set_id, r.reward_model_id, 0.25, 'reward', 2, 'wdpo', 0.1, 2.0, 7, 1, 'done', r.id, 0
        FROM k JOIN optune.runs r ON r.id = k.run_a;
        UPDATE k SET run_b = (SELECT id FROM optune.runs WHERE name = 'run-b');
        INSERT INTO optune.iterations (run_id, t, state, policy_id, rho, strategy, prompts_total, selected, regenerated, reused,
            zero_gap_pairs, responses_generated, tokens_generated, eval_responses, eval_tokens_generated, dead_tasks,
            select_seconds, generate_seconds, score_seconds, build_seconds, evaluate_seconds, started_at, finished_at)
        SELECT run_b, 1, 'done', pi1, 0.25, 'reward', 12, 3, 2, 10, 4, 4, 4 * 6, 8, 8 * 5, 1,
               0.2, 6, 2, 1, 3, '2026-11-02 09:00:00+00', '2026-11-02 09:30:00+00' FROM k;
        INSERT INTO optune.selections (run_id, t, prompt_id, rank, ranking_reward, created_at)
        SELECT k.run_b, 1, r.id, r.rank, r.r_w0, '2026-11-02 09:00:01+00' FROM k, k_ranked r WHERE r.rank <= 3;
        INSERT INTO optune.generation_tasks (run_id, t, prompt_id, purpose, policy_id, state, lease_owner, lease_token,
            lease_expires_at, attempts, max_attempts, expiries, last_error, created_at, updated_at)
        SELECT k.run_b, 1, s.prompt_id, 'train', k.pi1, v.state, 'generator@host:41:hh', nextval('optune.lease_token_seq'),
               '2026-11-02 09:10:00+00', v.attempts, 3, v.expiries, v.error, '2026-11-02 09:00:02+00', '2026-11-02 09:12:00+00'
        FROM k
        JOIN optune.selections s ON s.run_id = k.run_b AND s.t = 1
        JOIN (VALUES (1, 'done', 1, 0, NULL), (2, 'done', 1, 0, NULL), (3, 'dead', 1, 3, 'lease expired 3 times'))
            AS v(rank, state, attempts, expiries, error) ON v.rank = s.rank
        ORDER BY s.rank;
        INSERT INTO optune.generation_tasks (run_id, t, prompt_id, purpose, policy_id, state, lease_owner, lease_token,
            lease_expires_at, attempts, created_at, updated_at)
        SELECT k.run_b, 1, p.id, 'eval', k.pi1, 'done', 'generator@host:41:hh', nextval('optune.lease_token_seq'),
               '2026-11-02 09:20:00+00', 1, '2026-11-02 09:15:00+00', '2026-11-02 09:18:00+00'
        FROM k JOIN k_prompts p ON p.split = 'eval' ORDER BY p.i;
        INSERT INTO optune.scoring_tasks (run_id, t, prompt_id, purpose, policy_id, state, lease_owner, lease_token,
            lease_expires_at, attempts, created_at, updated_at)
        SELECT run_id, t, prompt_id, purpose, policy_id, 'done', 'scorer@host:42:ii', nextval('optune.lease_token_seq'),
               '2026-11-02 09:25:00+00', 1, '2026-11-02 09:18:00+00', '2026-11-02 09:21:00+00'
        FROM k JOIN optune.generation_tasks g ON g.run_id = k.run_b AND g.t = 1 AND g.state = 'done'
        ORDER BY g.purpose DESC, g.prompt_id;
        """

    /// Two samples of every done generation task: train samples carry a v1 token blob ($1, $2 ids),
    /// eval samples text only.
    static let responsesOfDoneTasks = """
        INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens, text,
            finish_reason, sampling, seed, worker_id, latency_ms, created_at)
        SELECT g.run_id, g.t, g.prompt_id, n.sample_index, g.purpose, g.policy_id,
               CASE WHEN g.purpose = 'train' THEN $2 ELSE 5 END,
               CASE WHEN g.purpose = 'train' THEN $1::bytea END,
               CASE WHEN g.purpose = 'eval' OR n.sample_index = 0
                    THEN format('response of run %s, t %s, prompt %s, sample %s', g.run_id, g.t, g.prompt_id, n.sample_index) END,
               'stop', '{"temperature": 0.8}', 1000 + n.sample_index, g.lease_owner, 12.5, g.updated_at
        FROM optune.generation_tasks g
        CROSS JOIN generate_series(0, 1) AS n(sample_index)
        WHERE g.state = 'done'
        ORDER BY g.run_id, g.t, g.purpose DESC, g.prompt_id, n.sample_index
        """

    static let rewardsPairsAndEvaluations = """
        -- Rewards of every response whose scoring task is done: train sample 1 scores ((7 i) mod 12)/4 − 1 + t/2,
        -- sample 0 scores (i mod 3)/2 less (so every third pair has a zero gap); eval responses score i/10 + t/5.
        INSERT INTO optune.rewards (response_id, reward_model_id, score, created_at)
        SELECT r.id, run.reward_model_id,
               (CASE WHEN r.purpose = 'train'
                     THEN ((7 * p.i) % 12) / 4.0 - 1 + 0.5 * r.t - CASE WHEN r.sample_index = 0 THEN 0.5 * (p.i % 3) ELSE 0 END
                     ELSE 0.1 * p.i + 0.2 * r.t - 0.05 * r.sample_index END)::double precision,
               s.updated_at
        FROM optune.responses r
        JOIN optune.runs run ON run.id = r.run_id
        JOIN k_prompts p ON p.id = r.prompt_id
        JOIN optune.scoring_tasks s ON (s.run_id, s.t, s.prompt_id) = (r.run_id, r.t, r.prompt_id) AND s.state = 'done'
        ORDER BY r.id;

        -- D_0 of run A and D_1 of run B: regenerated pairs from the scored samples of finished iterations …
        INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t, chosen_sample, rejected_sample,
            r_w, r_l, weight, created_at)
        SELECT x.run_id, x.t, x.prompt_id, 'regenerated', x.run_id, x.t, x.chosen, 1 - x.chosen, x.r_w, x.r_l,
               optune.pair_weight(run.beta2, x.r_w - x.r_l), i.finished_at
        FROM (
            SELECT r.run_id, r.t, r.prompt_id, max(w.score) AS r_w, min(w.score) AS r_l,
                   (array_agg(r.sample_index ORDER BY w.score DESC, r.sample_index DESC))[1] AS chosen
            FROM optune.responses r JOIN optune.rewards w ON w.response_id = r.id
            WHERE r.purpose = 'train'
            GROUP BY r.run_id, r.t, r.prompt_id
            HAVING count(*) = 2
        ) x
        JOIN optune.runs run ON run.id = x.run_id
        JOIN optune.iterations i ON (i.run_id, i.t) = (x.run_id, x.t) AND i.state = 'done'
        ORDER BY x.run_id, x.t, x.prompt_id;
        -- … and run B's pairs carried over from run A's D_0 (the prompts it did not select, and its dead one).
        INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t, chosen_sample, rejected_sample,
            r_w, r_l, weight, created_at)
        SELECT k.run_b, 1, p.prompt_id, 'reused', p.source_run_id, p.source_t, p.chosen_sample, p.rejected_sample,
               p.r_w, p.r_l, p.weight, '2026-11-02 09:29:00+00'
        FROM k JOIN optune.pairs p ON p.run_id = k.run_a AND p.t = 0
        WHERE NOT EXISTS (SELECT FROM optune.pairs q WHERE q.run_id = k.run_b AND q.t = 1 AND q.prompt_id = p.prompt_id)
        ORDER BY p.prompt_id;
        -- The selected prompts that got no new pair: run A's at t = 0 (no pair to keep), run B's at t = 1 (keeps D_0's).
        INSERT INTO optune.unpaired_prompts (run_id, t, prompt_id, reason, kept_pair, created_at)
        SELECT s.run_id, s.t, s.prompt_id, 'scoring task dead: ' || s.last_error, false, '2026-11-01 10:10:00+00'
        FROM k JOIN optune.scoring_tasks s ON s.run_id = k.run_a AND s.t = 0 AND s.state = 'dead';
        INSERT INTO optune.unpaired_prompts (run_id, t, prompt_id, reason, kept_pair, created_at)
        SELECT g.run_id, g.t, g.prompt_id, 'generation task dead: ' || g.last_error, true, '2026-11-02 09:28:00+00'
        FROM k JOIN optune.generation_tasks g ON g.run_id = k.run_b AND g.t = 1 AND g.state = 'dead';

        -- Evaluations of the finished iterations' policies on the eval split.
        INSERT INTO optune.evaluations (run_id, t, policy_id, split, n, mean_reward, reward_stddev, tokens)
        SELECT r.run_id, r.t, r.policy_id, 'eval', count(*), avg(w.score), stddev_pop(w.score), sum(r.n_tokens)
        FROM optune.responses r
        JOIN optune.rewards w ON w.response_id = r.id
        JOIN optune.iterations i ON (i.run_id, i.t) = (r.run_id, r.t) AND i.state = 'done'
        WHERE r.purpose = 'eval'
        GROUP BY r.run_id, r.t, r.policy_id;

        DROP TABLE k, k_prompts, k_ranked;
        """
}
