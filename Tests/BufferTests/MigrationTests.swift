import Buffer
import Foundation
import Migrations
import Postgres
import TestSupport
import Testing

@Suite("Migrations")
struct MigrationTests {
    @Test func applyingTwiceIsANoOp() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            let migrator = try Migrator(connection: connection)
            let first = try await migrator.migrate()
            #expect(first == migrator.files.map(\.name))
            #expect(try await migrator.migrate().isEmpty)
            #expect(try await migrator.status().allSatisfy { $0.state == .applied })
        }
    }

    @Test func anEditedMigrationIsRefused() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            let files = [
                MigrationFile(name: "0001_first", sql: "CREATE TABLE public.first (id int)"),
                MigrationFile(name: "0002_second", sql: "CREATE TABLE public.second (id int)"),
            ]
            try await Migrator(connection: connection, files: files).migrate()
            let edited = [
                MigrationFile(name: "0001_first", sql: "CREATE TABLE public.first (id bigint)"), files[1],
                MigrationFile(name: "0003_third", sql: "CREATE TABLE public.third (id int)"),
            ]
            let migrator = Migrator(connection: connection, files: edited)
            let error = await #expect(throws: MigrationError.self) { try await migrator.migrate() }
            #expect(error?.description.contains("0001_first") == true)
            #expect(try await migrator.status().map(\.state) == [.modified, .applied, .pending])
            // Nothing of the pending migration was applied.
            let third = try await connection.query("SELECT to_regclass('public.third') IS NULL")[0].decode(0, as: Bool.self)
            #expect(third)
        }
    }

    @Test func aFailingMigrationLeavesNoTrace() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            let files = [MigrationFile(name: "0001_broken", sql: "CREATE TABLE public.half (id int); SELECT 1/0;")]
            await #expect(throws: MigrationError.self) { try await Migrator(connection: connection, files: files).migrate() }
            let half = try await connection.query("SELECT to_regclass('public.half') IS NULL")[0].decode(0, as: Bool.self)
            #expect(half)
            #expect(try await Migrator(connection: connection, files: files).status().map(\.state) == [.pending])
        }
    }

    @Test func concurrentMigrateRunsEndInOneConsistentSchema() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let applied = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let connection = try await database.connect()
                        return try await Migrator(connection: connection).migrate()
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let files = try MigrationFiles.bundled().map(\.name)
            // Exactly one run applied everything; the others found nothing to do.
            #expect(applied.filter { !$0.isEmpty } == [files])
            let connection = try await database.connect()
            let recorded = try await connection.query("SELECT count(*) FROM optune.schema_migrations")[0].decode(0, as: Int64.self)
            #expect(recorded == Int64(files.count))
            let tables = try await connection.query(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'optune'")[0].decode(0, as: Int64.self)
            #expect(tables >= 18)
        }
    }
}
