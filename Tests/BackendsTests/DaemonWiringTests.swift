import Buffer
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

@testable import Backends
@testable import Daemons

/// The HTTP backends wired into the scorer daemon and into the `optune` CLI.
@Suite("HTTP backends in the scorer daemon and the CLI")
struct DaemonWiringTests {
    @Test func theScorerStoresTheRewardServersScores() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let scenario = try await BufferScenario.make(in: database, promptCount: 2)
                let buffer = scenario.buffer
                var settings = DaemonSettings()
                settings.leaseSeconds = 30
                // Generate through the fake OpenAI server first: that enqueues the scoring tasks.
                let generator = GeneratorService(
                    databaseURL: database.url, backend: openAIBackend(server), sampling: SamplingParameters(maxTokens: 16),
                    settings: settings,
                    logger: Logger(label: "test.generate"))
                let generation = try await buffer.lease(.generation, owner: generator.identity.id, limit: 10, leaseSeconds: 30)
                #expect(try await generator.process(generation, buffer: buffer, cache: RunCache()) == 4)

                var rewardSettings = HTTPRewardSettings(url: server.serviceURL.appendingPathComponent("reward"), http: testHTTPSettings())
                rewardSettings.itemsPerRequest = 3
                let scorer = ScorerService(
                    databaseURL: database.url, backend: HTTPRewardBackend(settings: rewardSettings), settings: settings,
                    logger: Logger(label: "test.score"))
                let scoring = try await buffer.lease(.scoring, owner: scorer.identity.id, limit: 10, leaseSeconds: 30)
                #expect(scoring.count == 2)
                try await scorer.process(scoring, buffer: buffer, cache: RunCache())

                // Each response text is "réponse ✓ s" with 3 token ids: score = (len % 10) / 10 + 0.03.
                let rows = try await buffer.connection.query(
                    "SELECT r.text, w.score FROM optune.rewards w JOIN optune.responses r ON r.id = w.response_id ORDER BY r.id")
                #expect(rows.count == 4)
                for row in rows {
                    let text = try row.decode(0, as: String.self)
                    let score = try row.decode(1, as: Double.self)
                    #expect(abs(score - (Double(text.unicodeScalars.count % 10) / 10 + 0.03)) < 1e-12)
                }
                #expect(
                    try await count(
                        "SELECT coalesce(sum(size), 0)::int8 FROM optune.scoring_tasks WHERE state = 'done'", on: buffer.connection) == 2)
                #expect(try await server.count("POST /reward") == 2)  // 4 responses, 3 per request
            }
        }
    }

    @Test func optuneGenerateWithTheOpenAIBackendRunsAsADaemon() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let scenario = try await BufferScenario.make(in: database, promptCount: 3)
                let generator = try OptuneProcess(
                    [
                        "generate", "--backend", "openai", "--base-url", server.serviceURL.absoluteString, "--run", "scenario",
                        "--max-tokens", "2", "--temperature", "0.5", "--stop", "END", "--max-concurrency", "4", "--timeout-seconds", "10",
                        "--poll-milliseconds", "100", "--log-level", "warning",
                    ],
                    databaseURL: database.url)
                let done = try await eventually(timeout: .seconds(20)) {
                    try await count(
                        "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'done'",
                        on: scenario.buffer.connection)
                        == 3
                }
                generator.send(SIGTERM)
                #expect(done, "generator output:\n\(generator.output)")
                #expect(await generator.waitForExit(timeout: .seconds(20)) == 0, "generator output:\n\(generator.output)")
                let responses = try await scenario.buffer.responses(run: scenario.run, t: 0)
                #expect(responses.count == 6)
                // --max-tokens 2 reached the server: two ids, finish reason "length".
                #expect(responses.allSatisfy { $0.tokens?.count == 2 && $0.finishReason == "length" })
                let sent = try await server.requests()
                #expect(sent.allSatisfy { $0["stop"] == .array([.string("END")]) && $0["temperature"]?.numberValue == 0.5 })
            }
        }
    }

    @Test func theCLIRefusesOptionsThatDoNotFitTheBackend() async throws {
        let url = "postgresql:///nowhere"
        for (arguments, phrase) in [
            (["generate", "--backend", "openai"], "--backend openai needs --base-url"),
            (["generate", "--base-url", "http://gpu1:8000"], "--base-url applies only to --backend openai"),
            (["generate", "--backend", "openai", "--base-url", "http://user:secret@gpu1:8000"], "must not carry credentials"),
            (["generate", "--backend", "openai", "--base-url", "gpu1:8000"], "must be an http:// or https:// URL"),
            (["generate", "--stop", "x", "--max-concurrency", "3"], "apply only to --backend openai"),
            (["score", "--backend", "http"], "--backend http needs --url"),
            (["score", "--url", "http://rm:9000/reward"], "--url applies only to --backend http"),
            (["score", "--backend", "http", "--url", "http://rm:9000/reward", "--max-attempts", "0"], "--max-attempts must be at least 1"),
        ] {
            let (status, output) = try await OptuneProcess.run(arguments, databaseURL: url, timeout: .seconds(60))
            #expect(status != 0, "\(arguments)")
            #expect(output.contains(phrase), "\(arguments): \(output)")
            #expect(!output.contains("secret"))
        }
    }
}
