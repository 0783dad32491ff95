import Foundation
import Testing

@testable import LocalCluster

/// These tests start real PostgreSQL servers, each in its own temporary root, so they can run in
/// parallel; each stops its server and removes its folders when it ends, also on failure.
@Suite("The private PostgreSQL cluster", .timeLimit(.minutes(3)))
struct LocalClusterTests {
    @Test("A second start is a no-op")
    func secondStartIsANoOp() async throws {
        try await withTemporaryCluster { cluster in
            #expect(try await cluster.start() == .started)
            let first = try await cluster.status()
            #expect(try await cluster.start() == .alreadyRunning)
            let second = try await cluster.status()
            #expect(second.isRunning)
            #expect(second.pid == first.pid)
        }
    }

    @Test("Stop then start works and status reports each state")
    func stopThenStart() async throws {
        try await withTemporaryCluster { cluster in
            let before = try await cluster.status()
            #expect(!before.isInitialized)
            #expect(!before.isRunning)

            #expect(try await cluster.start() == .started)
            let running = try await cluster.status()
            #expect(running.isInitialized)
            #expect(running.isRunning)
            #expect(running.pid != nil)
            #expect(running.dataVersion != nil)
            #expect(running.serverVersion?.hasPrefix(running.dataVersion ?? "-") == true)
            #expect(running.socketDirectory == cluster.configuration.root + "/run")
            #expect(FileManager.default.fileExists(atPath: running.socketDirectory + "/.s.PGSQL.5432"))
            #expect(try await query(cluster, "SELECT current_database()") == "optune")

            #expect(try await cluster.stop() == .stopped)
            let stopped = try await cluster.status()
            #expect(stopped.isInitialized)
            #expect(!stopped.isRunning)
            #expect(stopped.pid == nil)
            #expect(try await cluster.stop() == .notRunning)

            #expect(try await cluster.start() == .started)
            #expect(try await cluster.status().isRunning)
            #expect(try await query(cluster, "SELECT current_user") == "optune")
        }
    }

    @Test("A stale postmaster.pid left by kill -9 of the postmaster is recovered")
    func recoversFromKilledPostmaster() async throws {
        try await withTemporaryCluster { cluster in
            #expect(try await cluster.start() == .started)
            try await query(cluster, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
            let pid = try #require(postmasterPID(cluster))

            // Only the postmaster dies, as under the OOM killer: its children notice and exit,
            // and start must wait for them before the old shared memory can be reused.
            #expect(kill(pid, SIGKILL) == 0)
            try await waitUntil { !ProcessProbe.exists(pid) }
            #expect(FileManager.default.fileExists(atPath: cluster.dataDirectory + "/postmaster.pid"))
            #expect(try await !cluster.status().isRunning)

            #expect(try await cluster.start() == .started)
            let status = try await cluster.status()
            #expect(status.isRunning)
            #expect(status.pid != pid)
            #expect(try await query(cluster, "SELECT n FROM kept") == "42")
        }
    }

    @Test("A postmaster.pid naming a live process that is not the server is removed")
    func recoversFromReusedPID() async throws {
        try await withTemporaryCluster { cluster in
            #expect(try await cluster.start() == .started)
            let pid = try #require(postmasterPID(cluster))
            // Kill the whole server (its process group), then let the pid be "reused" by this
            // test process, which is alive and not PostgreSQL.
            #expect(kill(-pid, SIGKILL) == 0)
            try await waitUntil { ProcessProbe.serverProcesses(dataDirectory: cluster.dataDirectory).isEmpty }
            let pidFile = cluster.dataDirectory + "/postmaster.pid"
            var lines = try String(contentsOfFile: pidFile, encoding: .utf8).components(separatedBy: "\n")
            lines[0] = "\(getpid())"
            try lines.joined(separator: "\n").write(toFile: pidFile, atomically: false, encoding: .utf8)
            #expect(try await !cluster.status().isRunning)

            #expect(try await cluster.start() == .started)
            #expect(try await cluster.status().isRunning)
        }
    }

    @Test("Two starts at once start one server")
    func concurrentStarts() async throws {
        try await withTemporaryCluster { cluster in
            async let first = cluster.start()
            async let second = cluster.start()
            let outcomes = try await [first, second]
            #expect(outcomes.filter { $0 == .started }.count == 1)
            #expect(outcomes.filter { $0 == .alreadyRunning }.count == 1)
            #expect(try await query(cluster, "SELECT 1") == "1")
        }
    }

    @Test("A root too deep for a socket path uses a short socket directory under /tmp")
    func longRootFallsBackToShortSocketDirectory() async throws {
        let deep = String(repeating: "d", count: 60) + "/" + String(repeating: "e", count: 40)
        try await withTemporaryCluster(below: deep) { (cluster: LocalCluster) async throws in
            #expect(cluster.socketDirectory.hasPrefix("/tmp/optune-"))
            #expect(cluster.connectionURL.contains("host=\(cluster.socketDirectory)&"))
            #expect(try await cluster.start() == .started)
            #expect(FileManager.default.fileExists(atPath: cluster.socketDirectory + "/.s.PGSQL.5432"))
            #expect(try await query(cluster, "SELECT 1") == "1")
        }
    }

    @Test("Status and stop of a cluster that was never created change nothing")
    func statusHasNoSideEffects() async throws {
        try await withTemporaryCluster { cluster in
            let status = try await cluster.status()
            #expect(!status.isInitialized)
            #expect(!status.isRunning)
            #expect(try await cluster.stop() == .notRunning)
            #expect(!FileManager.default.fileExists(atPath: cluster.configuration.root))
        }
    }
}

@Suite("Local cluster naming")
struct LocalClusterNamingTests {
    @Test("The connection URL names the socket directory, port, user and database")
    func connectionURL() {
        let cluster = LocalCluster(configuration: .init(root: "/srv/my project/.optune"))
        #expect(
            cluster.connectionURL
                == "postgresql:///optune?host=/srv/my%20project/.optune/run&port=5432&user=optune")
    }

    @Test("The default root is $OPTUNE_HOME, else ./.optune")
    func defaultRoot() {
        #expect(LocalClusterConfiguration.defaultRoot(environment: [:], currentDirectory: "/w/p") == "/w/p/.optune")
        #expect(
            LocalClusterConfiguration.defaultRoot(environment: ["OPTUNE_HOME": "data/"], currentDirectory: "/w/p")
                == "/w/p/data")
        let absolute = LocalClusterConfiguration.defaultRoot(
            environment: ["OPTUNE_HOME": "/var/lib/optune"], currentDirectory: "/w")
        #expect(absolute == "/var/lib/optune")
    }

    @Test("A postmaster.pid is read for its pid, port and socket directory")
    func parsesPostmasterPID() {
        let text = "4242\n/x/pgdata\n1700000000\n5432\n/x/run\n\n  1234567     98304\nready   \n"
        #expect(
            PostmasterPIDFile.parse(text)
                == PostmasterPIDFile(pid: 4242, port: 5432, socketDirectory: "/x/run", sharedMemoryID: 98304))
        #expect(PostmasterPIDFile.parse("") == nil)
        #expect(PostmasterPIDFile.parse("garbage\n") == nil)
    }

    @Test("The fallback socket directory is short and the same for the same root")
    func fallbackSocketDirectoryIsStable() {
        let root = "/" + String(repeating: "r", count: 120)
        let layout = ClusterLayout(root: root, port: 5432)
        #expect(layout.usesFallbackSocketDirectory)
        #expect(layout.socketDirectory == ClusterLayout(root: root, port: 5432).socketDirectory)
        #expect(layout.socketDirectory != ClusterLayout(root: root + "x", port: 5432).socketDirectory)
        #expect(layout.socketFile.utf8.count <= ClusterLayout.maximumSocketPathLength)
    }
}

// MARK: - Helpers

/// Runs `body` with a cluster rooted in a new temporary folder (below `subpath` if given), then
/// stops the cluster and removes its folders, whether `body` succeeded or not.
func withTemporaryCluster(
    below subpath: String? = nil, _ body: (LocalCluster) async throws -> Void
) async throws {
    let base = FileManager.default.temporaryDirectory.path + "/optune-lc-" + UUID().uuidString.prefix(8)
    let root = subpath.map { base + "/" + $0 } ?? base + "/root"
    let cluster = LocalCluster(configuration: LocalClusterConfiguration(root: root, fsync: false))
    do {
        try await body(cluster)
    } catch {
        await cleanUp(cluster, base: base)
        throw error
    }
    await cleanUp(cluster, base: base)
}

private func cleanUp(_ cluster: LocalCluster, base: String) async {
    if (try? await cluster.stop()) == nil {
        for pid in ProcessProbe.serverProcesses(dataDirectory: cluster.dataDirectory) { kill(pid, SIGKILL) }
    }
    try? FileManager.default.removeItem(atPath: base)
    if cluster.socketDirectory.hasPrefix("/tmp/optune-") {
        try? FileManager.default.removeItem(atPath: cluster.socketDirectory)
    }
}

/// The pid in the cluster's postmaster.pid.
private func postmasterPID(_ cluster: LocalCluster) -> pid_t? {
    PostmasterPIDFile.read(cluster.dataDirectory + "/postmaster.pid")?.pid
}

/// Runs SQL with psql through the cluster's connection URL and returns its unaligned output.
@discardableResult
private func query(_ cluster: LocalCluster, _ sql: String) async throws -> String {
    let binaries = try await cluster.locateBinaries()
    let result = try await Command.run([
        binaries.psql, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", cluster.connectionURL, "-c", sql,
    ])
    try #require(result.succeeded, "psql failed: \(result.output)")
    return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
}

private func waitUntil(
    timeout: Duration = .seconds(30), _ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}
