import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

/// Daemons need no more than the `optune_worker` role, and a read-only login (`optune_reader`)
/// can neither take a run's leadership nor stall it with advisory locks.
@Suite("Roles: daemons as optune_worker, readers cannot stall a run")
struct RoleTests {
    /// A login role of this test's own, member of `group`, dropped afterwards.
    static func withLogin(in group: String, _ body: (String) async throws -> Void) async throws {
        let admin = try await Connection.connect(to: try TestDatabase.serverURL(), applicationName: "optune-tests")
        let name = "optune_test_login_" + UUID().uuidString.prefix(8).lowercased()
        try await admin.execute(
            "CREATE ROLE \(try await admin.quoteIdentifier(name)) LOGIN IN ROLE \(try await admin.quoteIdentifier(group))")
        do {
            try await body(name)
        } catch {
            _ = try? await admin.execute("DROP ROLE \(try await admin.quoteIdentifier(name))")
            await admin.close()
            throw error
        }
        _ = try? await admin.execute("DROP ROLE \(try await admin.quoteIdentifier(name))")
        await admin.close()
    }

    /// `url` with its user replaced by `user`.
    static func url(_ url: String, as user: String) throws -> String {
        guard url.contains("user=optune") else { throw TestDatabaseError(message: "the test server URL names no user=optune: \(url)") }
        return url.replacingOccurrences(of: "user=optune", with: "user=\(user)")
    }

    @Test func everyDaemonWorksAsOptuneWorkerWhileAReaderHoldsTheOldLeadershipLock() async throws {
        try await TestDatabase.withFresh { database in
            try await createRun("roles", in: database, iterations: 2)
            let owner = try await database.connect()
            let run = try await owner.query("SELECT id FROM optune.runs WHERE name = 'roles'")[0].decode(0, as: Int64.self)
            try await Self.withLogin(in: "optune_worker") { worker in
                try await Self.withLogin(in: "optune_reader") { reader in
                    // The reader holds what used to be the run's leadership lock, and cannot write a leadership row.
                    let readerConnection = try await Connection.connect(to: try Self.url(database.url, as: reader))
                    #expect(
                        try await readerConnection.query("SELECT pg_try_advisory_lock($1)", [0x636F_6F72_0000_0000 ^ run])[0].decode(
                            0, as: Bool.self))
                    let refused = await #expect(throws: PostgresError.self) {
                        try await readerConnection.execute(
                            "INSERT INTO optune.run_leaders (run_id, holder, expires_at) VALUES ($1, 'reader', now() + interval '1 hour')",
                            [run])
                    }
                    #expect(refused?.sqlState == "42501")

                    let workerURL = try Self.url(database.url, as: worker)
                    let coordinator = try OptuneProcess(["coordinate", "--run", "roles", "--log-level", "warning"], databaseURL: workerURL)
                    let workers = try ["generate", "score", "train"].map {
                        try OptuneProcess([$0, "--log-level", "warning", "--poll-milliseconds", "100"], databaseURL: workerURL)
                    }
                    let status = await coordinator.waitForExit(timeout: .seconds(240))
                    for process in workers { process.send(SIGTERM) }
                    #expect(status == 0, "coordinator output:\n\(coordinator.output)")
                    for process in workers {
                        #expect(await process.waitForExit(timeout: .seconds(30)) == 0, "worker output:\n\(process.output)")
                    }
                    #expect(try await Probe.count("SELECT count(*) FROM optune.iterations WHERE state = 'done'", on: owner) == 3)
                    // The worker role cannot change the schema.
                    let workerConnection = try await Connection.connect(to: workerURL)
                    let ddl = await #expect(throws: PostgresError.self) {
                        try await workerConnection.execute("DROP TABLE optune.pairs CASCADE")
                    }
                    #expect(ddl?.sqlState == "42501")
                    await workerConnection.close()
                    await readerConnection.close()
                }
            }
            await owner.close()
        }
    }

    /// PostgreSQL lets only a table's owner ANALYZE (or VACUUM) it, and warns anyone else without
    /// failing: a coordinator connected as optune_worker used to leave D_t's statistics stale.
    /// The build itself needs none of responses and rewards (its joins go by hash whatever the
    /// estimates), so only D_t is analysed.
    @Test func aCoordinatorConnectedAsOptuneWorkerRefreshesTheStatisticsOfDt() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 20)
            try await scenario.scoredAwaitingBuild()
            try await Self.withLogin(in: "optune_worker") { worker in
                let workerBuffer = ReplayBuffer(connection: try await Connection.connect(to: try Self.url(database.url, as: worker)))
                // The VACUUM after the build is the one step such a role cannot do; the
                // coordinator says so once when it starts.
                #expect(try await workerBuffer.canSettlePairs() == false)
                let record = try await workerBuffer.runRecord(scenario.run)
                try await workerBuffer.buildPairs(run: record, t: 0)
                await workerBuffer.connection.close()
            }
            // Only ANALYZE sets last_analyze (autovacuum sets last_autoanalyze), and 20 pairs are
            // below autovacuum's threshold of 50 rows anyway.
            let analyzed = try await scenario.buffer.connection.query(
                """
                SELECT relname FROM pg_stat_user_tables
                WHERE schemaname = 'optune' AND relname IN ('responses', 'rewards', 'pairs') AND last_analyze IS NOT NULL
                ORDER BY relname
                """
            ).map { try $0.decode(0, as: String.self) }
            #expect(analyzed == ["pairs"])
            let pairColumns = try await scenario.buffer.connection.query(
                "SELECT attname::text FROM pg_stats WHERE schemaname = 'optune' AND tablename = 'pairs' ORDER BY attname"
            ).map { try $0.decode(0, as: String.self) }
            #expect(pairColumns == ["prompt_id", "r_w", "run_id", "t"])
            #expect(try await Probe.count("SELECT count(*) FROM optune.pairs", on: scenario.buffer.connection) == 20)
            #expect(try await scenario.buffer.canSettlePairs())
        }
    }
}
