import Buffer
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

@testable import Backends
@testable import Daemons

/// `VLLMRewardBackend` against the fake server's recorded vLLM `/pooling` shapes.
@Suite("Reward models served by vLLM's pooling API")
struct VLLMRewardBackendTests {
    func backend(
        _ server: FakeServer, _ http: HTTPClientSettings = testHTTPSettings(), configure: (inout VLLMRewardSettings) -> Void = { _ in }
    )
        -> VLLMRewardBackend
    {
        var settings = VLLMRewardSettings(baseURL: server.serviceURL, http: http)
        settings.model = "test://rm"
        configure(&settings)
        return VLLMRewardBackend(settings: settings)
    }

    /// The fake's raw score for a response text (ASCII): (len % 10) / 10 - 0.5.
    func raw(_ text: String) -> Double { Double(text.unicodeScalars.count % 10) / 10 - 0.5 }

    /// Equal to within JSON round-trip error (Foundation's parser may differ from Python's
    /// repr in the last bits).
    func close(_ scores: [Double], _ expected: [Double]) -> Bool {
        scores.count == expected.count && zip(scores, expected).allSatisfy { abs($0 - $1) < 1e-12 }
    }

    static let items = [
        ScoringItem(prompt: PromptContent(id: 1, text: "Name a fruit.", messagesJSON: nil), tokens: [1, 2], text: "Pear"),
        ScoringItem(
            prompt: PromptContent(
                id: 2, text: nil, messagesJSON: #"[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]"#),
            tokens: nil, text: "Hello there, friend"),
        ScoringItem(prompt: PromptContent(id: 3, text: "Count to three.", messagesJSON: nil), tokens: nil, text: "1 2 3"),
    ]

    @Test func sequenceClassifierScoresAreTheRawValuesOfChatRequests() async throws {
        try await withFakeServer { server in
            try await server.control(#"{"models": ["test://rm"]}"#)
            let scores = try await backend(server).score(Self.items)
            #expect(close(scores, Self.items.map { raw($0.text ?? "") }))
            let sent = try await server.requests()
            #expect(sent.count == 3)
            #expect(sent.allSatisfy { $0["path"]?.stringValue == "/pooling" })
            #expect(sent.allSatisfy { $0["model"]?.stringValue == "test://rm" && $0["use_activation"] == .bool(false) })
            #expect(sent.allSatisfy { $0["authorization"]?.stringValue == "Bearer test-key" })
            let chat = try #require(sent.first { $0["messages"]?.arrayValue?.count == 3 })
            #expect(
                chat["messages"]
                    == .array([
                        .object(["role": .string("system"), "content": .string("Be brief.")]),
                        .object(["role": .string("user"), "content": .string("Hi")]),
                        .object(["role": .string("assistant"), "content": .string("Hello there, friend")]),
                    ]))
            let text = try #require(sent.first { $0["messages"]?.arrayValue?.first?["content"]?.stringValue == "Name a fruit." })
            #expect(text["messages"]?.arrayValue?.map { $0["role"]?.stringValue } == ["user", "assistant"])
            #expect(text["input"] == nil && text["prompt"] == nil)
        }
    }

    @Test func tokenRewardModelsAreReadFromTheLastRow() async throws {
        try await withFakeServer { server in
            try await server.control(#"{"models": ["test://rm"], "pooling_shape": "token"}"#)
            #expect(close(try await backend(server).score(Self.items), Self.items.map { raw($0.text ?? "") }))
        }
    }

    @Test func activationIsOnlyAppliedWhenAsked() async throws {
        try await withFakeServer { server in
            try await server.control(#"{"models": ["test://rm"]}"#)
            let scores = try await backend(server) { $0.useActivation = true }.score(Self.items)
            for (score, item) in zip(scores, Self.items) {
                #expect(abs(score - 1 / (1 + exp(-raw(item.text ?? "")))) < 1e-12)
            }
            #expect(try await server.requests().allSatisfy { $0["use_activation"] == .bool(true) })
        }
    }

    @Test func severalValuesNeedAScoreIndexAndOtherShapesAreErrors() async throws {
        try await withFakeServer { server in
            try await server.control(#"{"models": ["test://rm"], "pooling_shape": "multi"}"#)
            let ambiguous = try await #require(throws: BackendError.self) { try await backend(server).score(Self.items) }
            #expect(!ambiguous.retryable && ambiguous.message.contains("--score-index"))
            #expect(close(try await backend(server) { $0.scoreIndex = 1 }.score(Self.items), Self.items.map { 2 * raw($0.text ?? "") }))
            let outOfRange = try await #require(throws: BackendError.self) {
                try await backend(server) { $0.scoreIndex = 2 }.score(Self.items)
            }
            #expect(!outOfRange.retryable)
            try await server.control(#"{"pooling_shape": "base64"}"#)
            let base64 = try await #require(throws: BackendError.self) { try await backend(server).score(Self.items) }
            #expect(!base64.retryable && base64.message.contains("base64"))
        }
        for body in [
            #"{"data": []}"#, #"{"data": [{"data": []}]}"#, #"{"data": [{"data": ["x"]}]}"#, #"[1.0]"#, #"{"data": [{"data": [1e400]}]}"#,
        ] {
            #expect(throws: BackendError.self) { try VLLMRewardBackend.parseScore(Data(body.utf8), scoreIndex: nil, server: "s") }
        }
        #expect(
            try VLLMRewardBackend.parseScore(
                Data(#"{"data": [{"index": 0, "object": "pooling", "data": [-3.25]}]}"#.utf8), scoreIndex: nil, server: "s") == -3.25)
    }

    @Test func clientErrorsFailForGoodAndAWrongModelStopsLeasing() async throws {
        try await withFakeServer { server in
            try await server.control(
                #"{"models": ["test://rm"], "faults": [{"fault": "400", "count": 1, "message": "This model's maximum context length is 4096 tokens"}]}"#
            )
            let refused = try await #require(throws: BackendError.self) { try await backend(server).score([Self.items[0]]) }
            #expect(!refused.retryable && refused.message.contains("maximum context length"))
            let wrongModel = backend(server) { $0.model = "not-served" }
            let stale = try await #require(throws: BackendError.self) { try await wrongModel.score([Self.items[0]]) }
            #expect(stale.unavailable && stale.message.contains("does not exist"))
            #expect(await wrongModel.endpoint.breaker.state == .open)
            // The health probe answers, so the circuit half-opens after the probe interval.
            try await Task.sleep(for: .milliseconds(250))
            #expect(await wrongModel.isAvailable())
            let textless = ScoringItem(prompt: PromptContent(id: 9, text: "p", messagesJSON: nil), tokens: [1], text: nil)
            let noText = try await #require(throws: BackendError.self) { try await backend(server).score([textless]) }
            #expect(!noText.retryable && noText.message.contains("no text"))
        }
    }

    @Test func theCLIRefusesVLLMOptionsThatDoNotFit() async throws {
        for (arguments, phrase) in [
            (["score", "--backend", "vllm"], "--backend vllm needs --url"),
            (
                ["score", "--backend", "http", "--url", "http://rm1:9000/reward", "--score-index", "1"],
                "--score-index applies only to --backend vllm"
            ),
            (["score", "--reward-model", "rm"], "--reward-model applies only to --backend vllm"),
            (["score", "--backend", "vllm", "--url", "http://rm1:8000", "--score-index=-1"], "--score-index must be 0 or more"),
            (["score", "--backend", "vllm", "--url", "http://rm1:8000", "--items-per-request", "3"], "apply only to --backend http"),
        ] {
            let (status, output) = try await OptuneProcess.run(arguments, databaseURL: "postgresql:///nowhere", timeout: .seconds(30))
            #expect(status == 64, "\(arguments): \(output)")
            #expect(output.contains(phrase), "\(arguments): \(output)")
        }
    }

    @Test func urlsResolveToThePoolingRoute() throws {
        for (given, expected) in [
            ("http://rm1:8000", "http://rm1:8000/pooling"), ("http://rm1:8000/", "http://rm1:8000/pooling"),
            ("http://rm1:8000/v1", "http://rm1:8000/pooling"), ("http://rm1:8000/pooling", "http://rm1:8000/pooling"),
        ] {
            let settings = VLLMRewardSettings(baseURL: try #require(URL(string: given)), http: testHTTPSettings())
            #expect(settings.poolingURL.absoluteString == expected)
            #expect(settings.healthURL.absoluteString == "http://rm1:8000/health")
        }
    }

    @Test func optuneScoreWithTheVLLMBackendStoresTheScores() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                try await server.control(#"{"models": ["test://pi0", "test://rm"]}"#)
                let scenario = try await BufferScenario.make(in: database, promptCount: 2)
                let buffer = scenario.buffer
                var settings = DaemonSettings()
                settings.leaseSeconds = 30
                let generator = GeneratorService(
                    databaseURL: database.url, backend: openAIBackend(server), sampling: SamplingParameters(maxTokens: 16),
                    settings: settings,
                    logger: Logger(label: "test.generate"))
                let generation = try await buffer.lease(.generation, owner: generator.identity.id, limit: 10, leaseSeconds: 30)
                #expect(try await generator.process(generation, buffer: buffer, cache: RunCache()) == 4)
                let scorer = try OptuneProcess(
                    [
                        "score", "--backend", "vllm", "--url", server.serviceURL.absoluteString, "--reward-model", "test://rm", "--run",
                        "scenario",
                        "--timeout-seconds", "10", "--poll-milliseconds", "100", "--log-level", "warning",
                    ],
                    databaseURL: database.url)
                let done = try await eventually(timeout: .seconds(20)) {
                    try await count(
                        "SELECT coalesce(sum(size), 0)::int8 FROM optune.scoring_tasks WHERE state = 'done'", on: buffer.connection) == 2
                }
                scorer.send(SIGTERM)
                #expect(done, "scorer output:\n\(scorer.output)")
                #expect(await scorer.waitForExit(timeout: .seconds(20)) == 0, "scorer output:\n\(scorer.output)")
                let rows = try await buffer.connection.query(
                    "SELECT r.text, w.score FROM optune.rewards w JOIN optune.responses r ON r.id = w.response_id ORDER BY r.id")
                #expect(rows.count == 4)
                for row in rows {
                    let text = try row.decode(0, as: String.self)
                    #expect(abs(try row.decode(1, as: Double.self) - raw(text)) < 1e-12)
                }
                #expect(try await server.count("POST /pooling") == 4)
            }
        }
    }
}
