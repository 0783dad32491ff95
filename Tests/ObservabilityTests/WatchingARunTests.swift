import Foundation
import Postgres
import TestSupport
import Testing

/// Issue 13's "done when": metrics scraped from running daemons, status that says what an
/// iteration waits for, `status --watch` on a pipe, and live `optune run` output on a pipe.
@Suite("Watching a run")
struct WatchingARunTests {
    func count(_ sql: String, on connection: Connection) async throws -> Int {
        try await connection.query(sql)[0].decode(0, as: Int.self)
    }

    func eventually(timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    @Test func daemonsServeMetricsThatMoveAndMatchTheDatabase() async throws {
        try await TestDatabase.withFresh { database in
            let env = ["OPTUNE_DATABASE_URL": database.url]
            let created = try await runOptune(
                [
                    "run", "--create-only", "--name", "watch", "--rho", "0.5", "--iterations", "1", "--train-prompts", "200",
                    "--eval-prompts", "40",
                    "--epochs", "1",
                ], environment: env, timeout: .seconds(300))
            #expect(created.status == 0, "\(created.stderr)")
            let connection = try await database.connect()
            // Everything but a trainer: iteration 0 stops in state training, waiting for a policy.
            let coordinator = try OptuneProcess(
                ["coordinate", "--run", "watch", "--metrics-port", "0", "--log-level", "warning"], databaseURL: database.url)
            let generator = try OptuneProcess(
                [
                    "generate", "--run", "watch", "--metrics-port", "0", "--batch-size", "8", "--delay-before-submit-ms", "100",
                    "--poll-milliseconds", "100", "--log-level", "warning",
                ], databaseURL: database.url)
            let scorer = try OptuneProcess(["score", "--poll-milliseconds", "100", "--log-level", "warning"], databaseURL: database.url)
            defer { for child in [coordinator, generator, scorer] { child.send(SIGKILL) } }
            let generatorPort = try await metricsPort(of: generator)
            let coordinatorPort = try await metricsPort(of: coordinator)

            // Scrape the generator while it works: the leased and completed counters rise.
            var leasedSeen: [Double] = []
            let reachedTraining = try await eventually(timeout: .seconds(240)) {
                let metrics = try await scrape(port: generatorPort)
                let leased = metrics.value("optune_tasks_leased_total", ["queue": "generation"]) ?? 0
                if leased != leasedSeen.last { leasedSeen.append(leased) }
                return try await count("SELECT count(*) FROM optune.iterations WHERE t = 0 AND state = 'training'", on: connection) == 1
            }
            #expect(reachedTraining, "coordinator:\n\(coordinator.output)")
            #expect(leasedSeen.filter { $0 > 0 }.count >= 2, "leased counter samples: \(leasedSeen)")
            #expect(leasedSeen == leasedSeen.sorted(), "a counter never goes down: \(leasedSeen)")

            let generation = try await scrape(port: generatorPort)
            let tasksDone = try await count(
                "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'done'", on: connection)
            let responses = try await count("SELECT count(*) FROM optune.responses", on: connection)
            let tokens = try await count("SELECT coalesce(sum(n_tokens), 0)::bigint FROM optune.responses", on: connection)
            #expect(generation.types["optune_tasks_leased_total"] == "counter")
            #expect(generation.value("optune_tasks_completed_total", ["queue": "generation"]) == Double(tasksDone))
            #expect(generation.value("optune_tasks_leased_total", ["queue": "generation"]) == Double(tasksDone))
            #expect(generation.value("optune_responses_generated_total") == Double(responses))
            #expect(generation.value("optune_tokens_generated_total") == Double(tokens))
            #expect((generation.value("optune_lease_duration_seconds_count", ["queue": "generation"]) ?? 0) > 0)
            #expect((generation.value("optune_submit_duration_seconds_count", ["queue": "generation"]) ?? 0) > 0)
            #expect(generation.value("optune_database_connected") == 1)

            // The coordinator's iteration gauges agree with the database.
            let agrees = try await eventually(timeout: .seconds(10)) {
                let metrics = try await scrape(port: coordinatorPort)
                let row = try await connection.query(
                    "SELECT t, state FROM optune.iterations i JOIN optune.runs r ON r.id = i.run_id WHERE r.name = 'watch' ORDER BY t DESC LIMIT 1"
                )[0]
                let t = try row.decode(0, as: Int.self), state = try row.decode(1, as: String.self)
                let states = metrics.samples.filter { $0.name == "optune_iteration_state" && $0.labels["run"] == "watch" }
                return metrics.value("optune_run_iteration", ["run": "watch"]) == Double(t)
                    && states.count == 8
                    && states.allSatisfy { $0.value == ($0.labels["state"] == state ? 1 : 0) }
            }
            #expect(agrees)

            // status --json says what the iteration waits for.
            let status = try await runOptune(["status", "--run", "watch", "--json"], environment: env)
            #expect(status.status == 0, "\(status.stderr)")
            let json = try #require(JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
            let iterations = try #require(json["iterations"] as? [[String: Any]])
            let latest = try #require(iterations.last)
            #expect(latest["state"] as? String == "training")
            let waiting = try #require(latest["waiting_for"] as? String)
            #expect(waiting.contains("optune policy register --run watch --iteration 0"), "\(waiting)")
            #expect(waiting.contains("no live trainer"), "\(waiting)")
            let workers = try #require(json["workers"] as? [[String: Any]])
            let generatorRow = try #require(workers.first { $0["role"] as? String == "generator" })
            #expect(generatorRow["run"] as? String == "watch")
            #expect(generatorRow["liveness"] as? String == "live")
            #expect(workers.contains { $0["role"] as? String == "scorer" && $0["run"] == nil })

            // status --watch on a pipe: one plain snapshot per interval, no terminal escapes.
            let watcher = try OptuneProcess(["status", "--run", "watch", "--watch", "--interval", "0.2"], databaseURL: database.url)
            let snapshots = try await eventually(timeout: .seconds(30)) {
                watcher.output.components(separatedBy: "ITERATIONS").count - 1 >= 3
            }
            watcher.send(SIGKILL)
            #expect(snapshots, "\(watcher.output)")
            #expect(!watcher.output.contains("\u{1B}["))
            #expect(watcher.output.contains("since"))
        }
    }

    @Test func runPrintsEachIterationLineAtOnceIntoAPipe() async throws {
        try await TestDatabase.withFresh { database in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try optuneExecutable())
            process.arguments = [
                "run", "--name", "piped", "--iterations", "4", "--train-prompts", "200", "--eval-prompts", "40", "--epochs", "1",
            ]
            var environment = ProcessInfo.processInfo.environment
            environment["OPTUNE_DATABASE_URL"] = database.url
            process.environment = environment
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            defer { if process.isRunning { process.terminate() } }
            var received = ""
            var firstLineAt: ContinuousClock.Instant?
            let reader = pipe.fileHandleForReading
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                received += String(decoding: chunk, as: UTF8.self)
                if firstLineAt == nil, received.split(separator: "\n").contains(where: { $0.hasPrefix("t=0") }) {
                    firstLineAt = .now
                }
            }
            let endAt = ContinuousClock.now
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(received)")
            // Block-buffered output arrives all at once when the process exits; line-buffered
            // output brings t=0 while iterations 1…4 still run.
            let firstLine = try #require(firstLineAt, "no t=0 line:\n\(received)")
            #expect(endAt - firstLine > .milliseconds(300), "the first iteration line arrived only as the run ended:\n\(received)")
            #expect(received.split(separator: "\n").filter { $0.hasPrefix("t=") }.count == 5)
        }
    }
}

@Suite("The buffer's share of each iteration")
struct BufferShareLineTests {
    /// `optune run` follows each iteration's line with the CPU its daemons' connections spent:
    /// server + client = total, the daemons' parts add up to it, and the share is total / wall.
    @Test func eachIterationReportsTheBuffersCPUByDaemon() async throws {
        try await TestDatabase.withFresh { database in
            let (status, output) = try await OptuneProcess.run(
                ["run", "--name", "share", "--iterations", "2", "--train-prompts", "200", "--eval-prompts", "40", "--epochs", "1"],
                databaseURL: database.url)
            try #require(status == 0, "optune run failed:\n\(output)")
            let lines = output.split(separator: "\n").filter { $0.contains("  buffer ") }
            #expect(lines.map { $0.prefix(4) } == ["t=0 ", "t=1 ", "t=2 "], "\(output)")
            // The test server listens on a Unix socket: its backends' CPU is seen.
            let pattern =
                /t=\d  buffer CPU ([\d.]+) s = ([\d.]+)% of ([\d.]+) s \(server ([\d.]+), client ([\d.]+)\): generate ([\d.]+) · score ([\d.]+) · coordinate ([\d.]+) · train ([\d.]+)/
            for line in lines {
                let match = try #require(try pattern.firstMatch(in: String(line)), "unexpected line: \(line)")
                let numbers = [match.1, match.2, match.3, match.4, match.5, match.6, match.7, match.8, match.9].compactMap { Double($0) }
                try #require(numbers.count == 9)
                let (total, percent, wall, server, client) = (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4])
                // Iterations 0 and 1 generate, score, build and train; iteration 2 only evaluates
                // (a few milliseconds, which may print as 0.00).
                #expect(wall > 0 && (line.hasPrefix("t=2") || total > 0), "\(line)")
                #expect(abs(server + client - total) <= 0.016, "\(line)")  // three roundings to 0.01
                #expect(abs(numbers[5...].reduce(0, +) - total) <= 0.03, "\(line)")
                #expect(abs(100 * total / wall - percent) <= max(0.2, 100 * 0.06 / wall), "\(line)")
            }
        }
    }
}

@Suite("JSON logs")
struct JSONLogTests {
    @Test func everyLogLineIsAJSONObjectWithTheCollectorFields() async throws {
        try await TestDatabase.withFresh { database in
            let generator = try OptuneProcess(
                ["generate", "--log-format", "json", "--log-level", "info", "--poll-milliseconds", "100"], databaseURL: database.url)
            let started = await {
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline {
                    if generator.output.contains("generator started") { return true }
                    try? await Task.sleep(for: .milliseconds(50))
                }
                return false
            }()
            generator.send(SIGTERM)
            #expect(await generator.waitForExit(timeout: .seconds(30)) == 0)
            #expect(started, "\(generator.output)")
            let lines = generator.output.split(separator: "\n")
            #expect(lines.count >= 2)
            for line in lines {
                let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
                #expect(
                    object["timestamp"] is String && object["level"] is String && object["label"] is String && object["message"] is String)
                #expect(object["metadata"] is [String: Any])
            }
            let startLine = try #require(lines.first { $0.contains("generator started") })
            let object = try #require(JSONSerialization.jsonObject(with: Data(startLine.utf8)) as? [String: Any])
            #expect(object["level"] as? String == "info")
            #expect(object["label"] as? String == "optune.generate")
            #expect((object["metadata"] as? [String: Any])?["worker"] is String)
        }
    }
}
