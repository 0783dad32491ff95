import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@Suite("Connections: errors, transactions, COPY, LISTEN/NOTIFY")
struct ConnectionBehaviourTests {
    @Test func aUniqueViolationIsATypedErrorWithSQLState23505() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE t (id int CONSTRAINT t_pk PRIMARY KEY)")
            try await connection.execute("INSERT INTO t VALUES ($1)", [Int32(1)])
            let error = await #expect(throws: PostgresError.self) {
                try await connection.execute("INSERT INTO t VALUES ($1)", [Int32(1)])
            }
            #expect(error?.code == .server)
            #expect(error?.sqlState == SQLState.uniqueViolation)
            #expect(error?.constraint == "t_pk")
            #expect(error?.table == "t")
            #expect(error?.detail?.contains("already exists") == true)
            #expect(error?.query == "INSERT INTO t VALUES ($1)")
        }
    }

    @Test func anErrorNamesTheStatementButNeverItsParameterValues() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            let secret = "s3cret-value-that-must-not-leak"
            let error = await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT $1::int4", [secret])
            }
            #expect(error?.sqlState == "22P02")
            #expect(error?.description.contains("SELECT $1::int4") == true)
            #expect(error?.description.contains(secret) == false)
        }
    }

    @Test func aTransactionCommitsOrRollsBackAsAWhole() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE t (id int PRIMARY KEY)")
            try await connection.transaction { c in
                try c.execute("INSERT INTO t VALUES (1)")
                try c.execute("INSERT INTO t VALUES (2)")
            }
            await #expect(throws: PostgresError.self) {
                try await connection.transaction { c in
                    try c.execute("INSERT INTO t VALUES (3)")
                    try c.execute("INSERT INTO t VALUES (1)")
                }
            }
            let ids = try await connection.query("SELECT id FROM t ORDER BY id").map { try $0.decode(0, as: Int.self) }
            #expect(ids == [1, 2])
        }
    }

    @Test func aSerializationFailureIsRetriedUntilItCommits() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let setup = try await database.connect()
            try await setup.execute("CREATE TABLE counter (n int NOT NULL)")
            try await setup.execute("INSERT INTO counter VALUES (0)")
            // Eight writers increment one row under SERIALIZABLE: conflicts are certain, and with
            // retries every increment must land exactly once.
            let attemptsSeen = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let connection = try await database.connect()
                        let attempts = Mutex(0)
                        for _ in 0..<10 {
                            try await connection.transaction(.serializable, maxAttempts: 100) { c in
                                attempts.withLock { $0 += 1 }
                                let n = try c.query("SELECT n FROM counter")[0].decode(0, as: Int32.self)
                                try c.execute("UPDATE counter SET n = $1", [n + 1])
                            }
                        }
                        return attempts.withLock { $0 }
                    }
                }
                return try await group.reduce(0, +)
            }
            let total = try await setup.query("SELECT n FROM counter")[0].decode(0, as: Int32.self)
            #expect(total == 80)
            #expect(attemptsSeen >= 80)
        }
    }

    @Test func binaryCopyLoadsOneHundredThousandRows() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE bulk (id int8 PRIMARY KEY, label text, score float8, blob bytea)")
            let copied = try await connection.copyFromBinary("COPY bulk (id, label, score, blob) FROM STDIN (FORMAT binary)") { writer in
                for id in 0..<100_000 {
                    try writer.beginRow(fieldCount: 4)
                    writer.write(Int64(id))
                    writer.write(id % 10 == 0 ? nil : "row \(id)")
                    writer.write(Double(id) / 2)
                    writer.write(bytes: [UInt8(id & 0xFF), UInt8((id >> 8) & 0xFF)])
                }
            }
            #expect(copied == 100_000)
            let summary = try await connection.query(
                "SELECT count(*), count(label), sum(score)::float8, sum(get_byte(blob, 0))::int8 FROM bulk")[0]
            #expect(try summary.decode(0, as: Int64.self) == 100_000)
            #expect(try summary.decode(1, as: Int64.self) == 90_000)
            #expect(try summary.decode(2, as: Double.self) == Double(99_999 * 100_000 / 2) / 2)
            #expect(try summary.decode(3, as: Int64.self) == (0..<100_000).reduce(0) { $0 + Int64($1 & 0xFF) })
        }
    }

    @Test func aFailedCopyStoresNothing() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE bulk (id int8 PRIMARY KEY)")
            let error = await #expect(throws: PostgresError.self) {
                try await connection.copyFromBinary("COPY bulk (id) FROM STDIN (FORMAT binary)") { writer in
                    for id in [1, 2, 3, 2] {
                        try writer.beginRow(fieldCount: 1)
                        writer.write(Int64(id))
                    }
                }
            }
            #expect(error?.sqlState == SQLState.uniqueViolation)
            #expect(try await connection.query("SELECT count(*) FROM bulk")[0].decode(0, as: Int64.self) == 0)
            // The connection is still usable afterwards.
            #expect(try await connection.query("SELECT 1")[0].decode(0, as: Int32.self) == 1)
        }
    }

    @Test func listenReceivesANotification() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let listener = try await database.connect()
            let sender = try await database.connect()
            try await listener.listen("optune work")
            #expect(try await listener.waitForNotification(timeout: .milliseconds(50)) == nil)
            try await sender.notify("optune work", payload: "run=7")
            let note = try await listener.waitForNotification(timeout: .seconds(10))
            #expect(note?.channel == "optune work")
            #expect(note?.payload == "run=7")
            #expect(note?.senderPID == (await sender.backendPID))
        }
    }

    @Test func aDroppedConnectionIsReportedNotHungOn() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let victim = try await database.connect()
            let admin = try await database.connect()
            let pid = await victim.backendPID
            try await admin.execute("SELECT pg_terminate_backend($1)", [pid])
            let started = ContinuousClock.now
            let error = await #expect(throws: PostgresError.self) {
                try await victim.query("SELECT 1")
            }
            #expect(error?.code == .connectionClosed)
            #expect(ContinuousClock.now - started < .seconds(30))
            #expect(await victim.isOpen == false)
        }
    }

    @Test func aLostSessionIsAConnectionLossAndReconnectRestoresItsListens() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let listener = try await database.connect()
            try await listener.listen("optune_test_channel")
            let admin = try await database.connect()
            try await admin.execute("SELECT pg_terminate_backend($1)", [await listener.backendPID])
            let error = await #expect(throws: PostgresError.self) { try await listener.query("SELECT 1") }
            #expect(error?.isConnectionLoss == true)
            try await listener.reconnect()
            #expect(await listener.isOpen)
            try await admin.notify("optune_test_channel", payload: "after the reconnect")
            let note = try await listener.waitForNotification(timeout: .seconds(10))
            #expect(note?.payload == "after the reconnect")
            await listener.close()
            await admin.close()
        }
    }

    @Test func aBadConnectionStringFailsWithAClearError() async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await Connection.connect(to: "postgresql:///nope?host=/nonexistent-socket-dir&port=1")
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.description.contains("could not connect") == true)
    }
}
