import Foundation
import Postgres
import TestSupport
import Testing

/// The views of `0002_views.sql`, the example queries in `sql/` that read them, and the
/// read-only role `optune_reader`.
@Suite("Views answer the questions users ask of the reward history")
struct ViewTests {
    static let views = [
        "run_lineage", "reward_trajectory", "iteration_summary", "fig2_gain_split", "reused_pair_staleness", "run_comparison",
    ]

    /// SQLSTATE 42501 insufficient_privilege.
    static let insufficientPrivilege = "42501"

    /// The package root: this file is `Tests/BufferTests/ViewTests.swift`.
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func everyExampleQueryRunsAndReturnsRowsOnAFinishedRunAndItsFork() async throws {
        try await TestDatabase.withFresh { database in
            try await Self.makeRunAndFork(in: database)
            let folder = Self.repositoryRoot.appendingPathComponent("sql")
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
            #expect(Set(files).isSuperset(of: Self.views.filter { $0 != "run_lineage" }.map { "\($0).sql" }))
            for file in files {
                // The default (the latest run, the fork) and the root run by name.
                for variables in [[], ["-v", "run=v"]] {
                    let (status, output, errors) = try await Self.psql(
                        variables + ["-f", folder.appendingPathComponent(file).path], databaseURL: database.url)
                    let rows = output.split(separator: "\n").filter { !$0.isEmpty }
                    #expect(status == 0, "\(file) \(variables) failed:\n\(errors)")
                    #expect(rows.count >= 1, "\(file) \(variables) returned no rows")
                }
            }
        }
    }

    @Test func theViewsAgreeWithTheBaseTablesAcrossAFork() async throws {
        try await TestDatabase.withFresh { database in
            try await Self.makeRunAndFork(in: database)
            let connection = try await database.connect()
            func count(_ sql: String) async throws -> Int { try await connection.query(sql)[0].decode(0, as: Int.self) }
            let v = try await count("SELECT id FROM optune.runs WHERE name = 'v'")
            let vf = try await count("SELECT id FROM optune.runs WHERE name = 'vf'")

            // iteration_summary: one row per own iteration (v: t = 0, 1 and the evaluation-only 2;
            // vf: 1 and 2), counts equal to the base tables, D_t statistics computed over pairs.
            #expect(try await count("SELECT count(*) FROM optune.iteration_summary") == 5)
            #expect(try await count("SELECT count(*) FROM optune.iteration_summary WHERE run_name = 'vf' AND t IN (1, 2)") == 2)
            let summaryMismatches = try await count(
                """
                SELECT count(*) FROM optune.iteration_summary s
                WHERE s.selected <> (SELECT count(*) FROM optune.selections x WHERE x.run_id = s.run_id AND x.t = s.t)
                   OR s.pairs <> (SELECT count(*) FROM optune.pairs p WHERE p.run_id = s.run_id AND p.t = s.t)
                   OR s.mean_chosen_reward IS DISTINCT FROM (SELECT avg(r_w) FROM optune.pairs p WHERE p.run_id = s.run_id AND p.t = s.t)
                   OR s.eval_reward IS DISTINCT FROM (SELECT mean_reward FROM optune.evaluations e WHERE e.run_id = s.run_id AND e.t = s.t AND e.split = 'eval')
                   OR s.train_tokens <> (SELECT coalesce(sum(n_tokens), 0) FROM optune.responses r WHERE r.run_id = s.run_id AND r.t = s.t AND r.purpose = 'train')
                   OR s.full_iteration_tokens <> (SELECT tokens_generated FROM optune.iterations WHERE run_id = \(v) AND t = 0)
                   OR (s.trains AND s.selected > 0) IS DISTINCT FROM (s.token_saving IS NOT NULL)
                """)
            #expect(summaryMismatches == 0)
            #expect(
                try await count(
                    """
                    SELECT count(*) FROM optune.iteration_summary s JOIN optune.iterations z ON z.run_id = \(v) AND z.t = 0
                    WHERE s.run_name = 'v' AND s.t = 1 AND abs(s.token_saving - (1 - s.train_tokens::float8 / z.tokens_generated)) < 1e-12
                    """) == 1)

            // reward_trajectory: a fork sees its parent's D_0 (inherited) and its own D_1.
            #expect(
                try await count(
                    "SELECT count(*) FROM optune.reward_trajectory WHERE run_id = \(vf) AND t = 0 AND inherited AND owner_run_id = \(v)")
                    == 60)
            #expect(try await count("SELECT count(*) FROM optune.reward_trajectory WHERE run_id = \(vf) AND t = 1 AND NOT inherited") == 60)
            #expect(
                try await count(
                    """
                    SELECT count(*) FROM optune.reward_trajectory rt
                    JOIN optune.selections s ON (s.run_id, s.t, s.prompt_id) = (rt.owner_run_id, rt.t, rt.prompt_id)
                    WHERE rt.selected AND rt.selection_rank = s.rank AND rt.ranking_reward IS NOT DISTINCT FROM s.ranking_reward
                    """) == (try await count("SELECT count(*) FROM optune.reward_trajectory WHERE selected")))

            // fig2_gain_split: the fork's first step reads D_0 from its parent; the gain is
            // Σ r_w(D_1) − Σ r_w(D_0), the halves split it, and with ρ = 0.5 by reward the bottom
            // half is exactly the selected set.
            #expect(try await count("SELECT prev_owner_run_id FROM optune.fig2_gain_split WHERE run_id = \(vf) AND t = 1") == v)
            #expect(
                try await count(
                    """
                    SELECT count(*) FROM optune.fig2_gain_split g
                    WHERE g.prompts = 60 AND g.bottom_prompts = 30 AND g.top_prompts = 30
                      AND g.bottom_regenerated = 30 AND g.top_regenerated = 0 AND g.top_gain = 0
                      AND abs(g.total_gain - ((SELECT sum(r_w) FROM optune.pairs WHERE run_id = g.run_id AND t = 1)
                                              - (SELECT sum(r_w) FROM optune.pairs WHERE run_id = \(v) AND t = 0))) < 1e-9
                      AND abs(g.bottom_gain + g.top_gain - g.total_gain) < 1e-9
                      AND (g.total_gain = 0 OR abs(g.bottom_share + g.top_share - 1) < 1e-9)
                    """) == 2)

            // reused_pair_staleness: reused counts equal the iteration's, and a fork's reused
            // pairs were generated by its parent.
            #expect(
                try await count(
                    """
                    SELECT count(*) FROM optune.reused_pair_staleness s JOIN optune.iterations i USING (run_id, t)
                    WHERE s.reused <> i.reused OR s.regenerated <> i.regenerated
                    """) == 0)
            #expect(
                try await count(
                    "SELECT count(*) FROM optune.reused_pair_staleness WHERE run_id = \(vf) AND t = 1 AND reused = 30 AND reused_from_other_run = 30 AND max_age = 1"
                )
                    == 1)

            // run_comparison: the fork's own work only, measured from the policy it started with.
            #expect(
                try await count(
                    """
                    SELECT count(*) FROM optune.run_comparison c
                    WHERE c.run_name = 'vf' AND c.forked_from = 'v@0' AND c.iterations_done = 1 AND c.start_t = 1 AND c.last_eval_t = 2
                      AND c.train_tokens = (SELECT sum(tokens_generated) FROM optune.iterations WHERE run_id = \(vf))
                      AND c.base_eval_reward = (SELECT mean_reward FROM optune.evaluations WHERE run_id = \(v) AND t = 0)
                    """) == 1)
            #expect(
                try await count(
                    "SELECT count(*) FROM optune.run_comparison WHERE run_name = 'v' AND forked_from IS NULL AND iterations_done = 2 AND start_t = 0 AND last_eval_t = 2"
                )
                    == 1)
            await connection.close()
        }
    }

    @Test func theReaderRoleReadsEveryTableAndViewAndCanChangeNothing() async throws {
        try await TestDatabase.withFresh { database in
            let connection = try await database.connect()
            let relations = try await connection.query(
                """
                SELECT table_name, table_type = 'VIEW' FROM information_schema.tables
                WHERE table_schema = 'optune' ORDER BY table_name
                """
            ).map { (name: try $0.decode(0, as: String.self), isView: try $0.decode(1, as: Bool.self)) }
            #expect(Set(relations.filter(\.isView).map(\.name)).isSuperset(of: Self.views))
            // A column each UPDATE may name (identity and generated columns are refused before
            // privileges are checked).
            let columns = try await connection.query(
                """
                SELECT DISTINCT ON (table_name) table_name, column_name FROM information_schema.columns
                WHERE table_schema = 'optune' AND is_identity = 'NO' AND is_generated = 'NEVER'
                ORDER BY table_name, ordinal_position
                """
            ).reduce(into: [String: String]()) { $0[try $1.decode(0, as: String.self)] = try $1.decode(1, as: String.self) }

            try await connection.execute("SET ROLE optune_reader")
            for relation in relations {
                _ = try await connection.query("SELECT * FROM optune.\(relation.name) LIMIT 1")
            }
            for relation in relations where !relation.isView {
                let table = "optune.\(relation.name)"
                let column = try #require(columns[relation.name])
                for statement in [
                    "INSERT INTO \(table) DEFAULT VALUES",
                    "UPDATE \(table) SET \(column) = \(column)",
                    "DELETE FROM \(table)",
                    "TRUNCATE \(table)",
                ] {
                    let error = try await Self.failure(of: statement, on: connection)
                    #expect(error?.sqlState == Self.insufficientPrivilege, "\(statement): \(error.map { "\($0)" } ?? "succeeded")")
                }
            }
            for statement in ["CREATE TABLE optune.mine (id int)", "SELECT nextval('optune.lease_token_seq')"] {
                #expect(try await Self.failure(of: statement, on: connection)?.sqlState == Self.insufficientPrivilege, "\(statement)")
            }
            await connection.close()
        }
    }

    @Test func tablesCreatedByLaterMigrationsAreReadableByTheReader() async throws {
        try await TestDatabase.withFresh { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE optune.added_later (id int)")
            try await connection.execute("SET ROLE optune_reader")
            _ = try await connection.query("SELECT * FROM optune.added_later")
            #expect(
                try await Self.failure(of: "INSERT INTO optune.added_later VALUES (1)", on: connection)?.sqlState
                    == Self.insufficientPrivilege)
            await connection.close()
        }
    }

    // MARK: - helpers

    /// A finished run `v` (two training iterations) and its fork `vf` from v@0 (one), made by
    /// the `optune` CLI.
    static func makeRunAndFork(in database: TestDatabase) async throws {
        let common = ["--train-prompts", "60", "--eval-prompts", "20", "--epochs", "1"]
        for arguments in [["run", "--name", "v", "--iterations", "2"], ["run", "--name", "vf", "--fork", "v@0", "--iterations", "1"]] {
            let (status, output) = try await OptuneProcess.run(arguments + common, databaseURL: database.url)
            guard status == 0 else { throw TestDatabaseError(message: "optune \(arguments.joined(separator: " ")) failed:\n\(output)") }
        }
    }

    /// Runs `statement` and returns the error it failed with (nil if it succeeded).
    static func failure(of statement: String, on connection: Connection) async throws -> PostgresError? {
        do {
            try await connection.execute(statement)
            return nil
        } catch let error as PostgresError {
            return error
        }
    }

    /// Runs `psql -X -v ON_ERROR_STOP=1 -A -t URL ARGUMENTS` and returns (status, stdout, stderr).
    static func psql(_ arguments: [String], databaseURL: String, timeout: Duration = .seconds(120)) async throws -> (Int32, String, String)
    {
        let directory = FileManager.default.temporaryDirectory
        let outputURL = directory.appendingPathComponent("psql-\(UUID().uuidString).out")
        let errorURL = directory.appendingPathComponent("psql-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outputURL)
            try? FileManager.default.removeItem(at: errorURL)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-A", "-t", databaseURL] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        process.standardError = try FileHandle(forWritingTo: errorURL)
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                throw TestDatabaseError(message: "psql \(arguments.joined(separator: " ")) did not finish in \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let output = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
        let errors = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
        return (process.terminationStatus, output, errors)
    }
}
