import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Connections: CPU time by application name")
struct ConnectionUsageTests {
    /// The server's CPU time is counted when it runs on this host (the test cluster listens on a
    /// Unix socket), waiting is not, and a listener is not counted at all.
    @Test func computingCountsWaitingDoesNotAndAListenerIsLeftOut() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let name = "usage-\(UUID().uuidString)"
            let worker = try await Connection.connect(to: database.url, applicationName: name)
            let listener = try await Connection.connect(to: database.url, applicationName: name + "-listen", countsAsWork: false)
            let local = try await worker.query("SELECT inet_server_addr() IS NULL")[0].decode(0, as: Bool.self)
            // Server work of a fixed size (a tenth of a second or so here), however loaded the machine.
            try await worker.execute("SELECT sum(sqrt(g)) FROM generate_series(1, 2000000) g")
            // Waiting: a second of sleep costs (almost) no CPU.
            try await worker.execute("SELECT pg_sleep(1)")
            await worker.close()  // reads the backend's CPU time one last time before it ends
            let afterSleep = try #require(ConnectionUsage.usage()[name])
            if local {
                let server = try #require(afterSleep.server)
                #expect(server >= 0.03 && server < 0.9, "computing and 1 s of sleep were counted as \(server) s of CPU")
            } else {
                #expect(afterSleep.server == nil, "a server on another host is not seen")
            }
            #expect(afterSleep.client < 0.5, "the client only waited; counted \(afterSleep.client) s")
            try await listener.listen("optune_usage_test")
            #expect(try await listener.waitForNotification(timeout: .milliseconds(100)) == nil)
            #expect(ConnectionUsage.usage()[name + "-listen"] == nil, "a listener is not counted")
            await listener.close()
        }
    }
}
