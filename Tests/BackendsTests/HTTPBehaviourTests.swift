import Foundation
import Testing

@testable import Backends

/// Retries, timeouts, the circuit breaker and the reward contract, against the fake server.
@Suite("HTTP backends: retries, timeouts, circuit, reward contract")
struct HTTPBehaviourTests {
    let policy = PolicyHandle(id: 1, weights: nil, uri: "test://pi0")
    let request = GenerationRequest(prompt: PromptContent(id: 1, text: "hello", messagesJSON: nil), seeds: [5])

    func failure(_ results: [Result<[GeneratedSample], BackendError>]) -> BackendError? {
        if case .failure(let error) = results.first { return error }
        return nil
    }

    @Test func rateLimitsAndServerErrorsAreRetriedUpToTheBound() async throws {
        try await withFakeServer { server in
            let backend = openAIBackend(server, testHTTPSettings(attempts: 4))
            // Two 429s then an answer: three requests, one sample.
            try await server.control(#"{"faults": [{"fault": "429", "count": 2}]}"#)
            let recovered = try await backend.generate([request], policy: policy, sampling: SamplingParameters())
            #expect(recovered[0][0].tokens == [5, 5, UInt32.max])
            #expect(try await server.count("POST /v1/completions") == 3)

            // 500 for ever: exactly four attempts, then a retryable error that counts (not "unavailable").
            try await server.control(#"{"reset": true, "faults": [{"fault": "500", "count": -1, "message": "CUDA out of memory"}]}"#)
            let failed = try #require(failure(try await backend.generateEach([request], policy: policy, sampling: SamplingParameters())))
            #expect(failed.retryable && !failed.unavailable)
            #expect(
                failed.message.contains("after 4 attempts") && failed.message.contains("HTTP 500")
                    && failed.message.contains("CUDA out of memory"))
            #expect(try await server.count("POST /v1/completions") == 4)

            // 503 for ever: the same bound, reported as the endpoint being unavailable.
            try await server.control(#"{"reset": true, "faults": [{"fault": "503", "count": -1}]}"#)
            let unavailable = try #require(
                failure(try await backend.generateEach([request], policy: policy, sampling: SamplingParameters())))
            #expect(unavailable.retryable && unavailable.unavailable)
            #expect(try await server.count("POST /v1/completions") == 4)

            // 429 for ever: bounded too.
            try await server.control(#"{"reset": true, "faults": [{"fault": "429", "count": -1}]}"#)
            let limited = try #require(failure(try await backend.generateEach([request], policy: policy, sampling: SamplingParameters())))
            #expect(limited.retryable && limited.message.contains("HTTP 429"))
            #expect(try await server.count("POST /v1/completions") == 4)
        }
    }

    @Test func aHangingServerTimesOutAndIsRetried() async throws {
        try await withFakeServer { server in
            try await server.control(#"{"hang_seconds": 10, "faults": [{"fault": "hang", "count": 2}]}"#)
            let backend = openAIBackend(server, testHTTPSettings(attempts: 2, timeout: .milliseconds(400)))
            let failed = try #require(failure(try await backend.generateEach([request], policy: policy, sampling: SamplingParameters())))
            // Both attempts timed out: a hang that had been waited out would have been answered
            // (a hang fault answers normally after hang_seconds), so the call would have succeeded.
            #expect(failed.retryable && failed.message.contains("no answer within"))
            #expect(try await server.count("POST /v1/completions") == 2)
            // The faults are used up: the next call is answered.
            let answered = try await backend.generate([request], policy: policy, sampling: SamplingParameters())
            #expect(answered[0][0].text == "réponse ✓ 5")
        }
    }

    @Test func theCircuitOpensOnARefusedConnectionAndClosesAfterAProbe() async throws {
        try await withFakeServer { server in
            var http = testHTTPSettings(attempts: 2, breakerFailures: 2)
            http.breaker.probeInterval = .milliseconds(200)
            let backend = openAIBackend(server, http)
            try await server.control(#"{"down": true}"#)
            let failed = try #require(failure(try await backend.generateEach([request], policy: policy, sampling: SamplingParameters())))
            #expect(failed.unavailable)
            #expect(await backend.endpoint.breaker.state == .open)
            #expect(await backend.isAvailable() == false)
            // While open, requests are not even sent.
            let refused = try #require(failure(try await backend.generateEach([request], policy: policy, sampling: SamplingParameters())))
            #expect(refused.unavailable && refused.message.contains("circuit open"))
            try await server.control(#"{"down": false}"#)
            #expect(try await eventually(timeout: .seconds(5)) { await backend.isAvailable() })
            #expect(await backend.endpoint.breaker.state == .halfOpen)
            _ = try await backend.generate([request], policy: policy, sampling: SamplingParameters())
            #expect(await backend.endpoint.breaker.state == .closed)
        }
    }

    @Test func aRefusedKeyStopsTheDaemonInsteadOfKillingTasks() async throws {
        try await withFakeServer { server in
            let backend = openAIBackend(server)
            try await server.control(#"{"faults": [{"fault": "401", "count": 1, "message": "Invalid API key"}]}"#)
            let refused = try #require(failure(try await backend.generateEach([request], policy: policy, sampling: SamplingParameters())))
            #expect(refused.unavailable && refused.message.contains("HTTP 401") && refused.message.contains("Invalid API key"))
            #expect(try await server.count("POST /v1/completions") == 1)
            #expect(await backend.endpoint.breaker.state == .open)
            // The probe (GET /v1/models) is answered: the daemon may try again.
            #expect(try await eventually(timeout: .seconds(5)) { await backend.isAvailable() })
            #expect(try await backend.generate([request], policy: policy, sampling: SamplingParameters())[0].count == 1)
        }
    }

    @Test func manyRequestsAreInFlightAtOnceButNoMoreThanTheLimit() async throws {
        try await withFakeServer { server in
            // Each request takes 0.3 s, so requests overlap; the server counts how many at once.
            try await server.control(#"{"hang_seconds": 0.3, "faults": [{"fault": "hang", "count": -1}]}"#)
            let backend = openAIBackend(server)  // at most 8 in flight
            let requests = (0..<8).map {
                GenerationRequest(
                    prompt: PromptContent(id: Int64($0), text: "p\($0)", messagesJSON: nil), seeds: [UInt64($0), UInt64($0 + 100)])
            }
            let results = try await backend.generate(requests, policy: policy, sampling: SamplingParameters())
            #expect(results.map(\.count) == Array(repeating: 2, count: 8))
            #expect(results[3][1].tokens?.first == 103)
            let peak = Int(try await server.snapshot()["max_in_flight"]?.numberValue ?? 0)
            #expect(peak > 1 && peak <= 8, "peak in flight: \(peak)")
            #expect(try await server.count("POST /v1/completions") == 16)
        }
    }

    // MARK: - Reward

    func rewardBackend(_ server: FakeServer, _ http: HTTPClientSettings = testHTTPSettings(), itemsPerRequest: Int = 64)
        -> HTTPRewardBackend
    {
        var settings = HTTPRewardSettings(url: server.serviceURL.appendingPathComponent("reward"), http: http)
        settings.itemsPerRequest = itemsPerRequest
        return HTTPRewardBackend(settings: settings)
    }

    let items = [
        ScoringItem(prompt: PromptContent(id: 1, text: "2+2?", messagesJSON: nil), tokens: [1, 2, 3], text: "four"),
        ScoringItem(
            prompt: PromptContent(
                id: 2, text: nil, messagesJSON: #"[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]"#),
            tokens: nil, text: "hello!"),
        ScoringItem(prompt: PromptContent(id: 3, text: "x", messagesJSON: nil), tokens: [9], text: nil),
    ]
    let expected = [0.4 + 0.03, 0.6, 0.0 + 0.01]

    @Test func rewardsAreReadInEveryAcceptedShapeAndTheRequestFollowsTheContract() async throws {
        try await withFakeServer { server in
            let backend = rewardBackend(server)
            for format in ["scores", "rewards", "list"] {
                try await server.control(#"{"reward_format": "\#(format)"}"#)
                let scores = try await backend.score(items)
                #expect(zip(scores, expected).allSatisfy { abs($0 - $1) < 1e-12 }, "\(format): \(scores)")
            }
            let sent = try #require(try await server.requests().last)
            let entries = try #require(sent["items"]?.arrayValue)
            #expect(
                entries[0]
                    == .object([
                        "prompt": .string("2+2?"), "response": .string("four"), "response_token_ids": .array([.int(1), .int(2), .int(3)]),
                    ]))
            #expect(entries[1]["prompt"] == .string("hi"))
            #expect(entries[1]["messages"]?.arrayValue?.count == 2)
            #expect(entries[1]["response_token_ids"] == nil)
            #expect(entries[2]["response"] == .null)
            // Batches split by itemsPerRequest, results still in order.
            let split = rewardBackend(server, itemsPerRequest: 2)
            try await server.control(#"{"reset": true}"#)
            let scores = try await split.score(items)
            #expect(zip(scores, expected).allSatisfy { abs($0 - $1) < 1e-12 })
            #expect(try await server.count("POST /reward") == 2)
        }
    }

    @Test func aWrongCountANonFiniteScoreOrAClientErrorIsNotRetried() async throws {
        try await withFakeServer { server in
            let backend = rewardBackend(server)
            for (fault, phrase) in [("wrong_count", "returned 2 scores for 3 responses"), ("nan", "non-finite"), ("400", "HTTP 400")] {
                try await server.control(
                    #"{"reset": true, "faults": [{"fault": "\#(fault)", "count": 1, "message": "no such reward head"}]}"#)
                let error = try await #require(throws: BackendError.self) { try await backend.score(items) }
                #expect(!error.retryable, "\(fault)")
                #expect(error.message.contains(phrase), "\(fault): \(error.message)")
                #expect(try await server.count("POST /reward") == 1)
            }
            // A wrong URL (404) is the daemon's problem: unavailable, tasks kept, circuit tripped.
            var wrong = HTTPRewardSettings(url: server.serviceURL.appendingPathComponent("no-such-route"), http: testHTTPSettings())
            wrong.itemsPerRequest = 64
            let misrouted = try await #require(throws: BackendError.self) { try await HTTPRewardBackend(settings: wrong).score(items) }
            #expect(misrouted.unavailable && misrouted.message.contains("HTTP 404"))
            // Not JSON: a retryable error, not a crash.
            try await server.control(#"{"reset": true, "faults": [{"fault": "malformed", "count": 1}]}"#)
            let malformed = try await #require(throws: BackendError.self) { try await backend.score(items) }
            #expect(malformed.retryable && malformed.message.contains("malformed"))
        }
    }

    @Test func theRewardCircuitProbesWithAGetAndAcceptsA405() async throws {
        try await withFakeServer { server in
            var http = testHTTPSettings(attempts: 1, breakerFailures: 1)
            http.breaker.probeInterval = .milliseconds(100)
            let backend = rewardBackend(server, http)
            try await server.control(#"{"down": true}"#)
            let error = try await #require(throws: BackendError.self) { try await backend.score(items) }
            #expect(error.unavailable)
            #expect(await backend.isAvailable() == false)
            try await server.control(#"{"down": false}"#)
            #expect(try await eventually(timeout: .seconds(5)) { await backend.isAvailable() })
            #expect(try await server.count("GET /reward") >= 1)
            #expect(try await backend.score(items).count == 3)
        }
    }

    @Test func theAPIKeyComesFromTheEnvironmentAndIsNeverPrinted() {
        #expect(OpenAIGenerationSettings.apiKeyFromEnvironment(["OPTUNE_API_KEY": "a", "OPENAI_API_KEY": "b"]) == "a")
        #expect(OpenAIGenerationSettings.apiKeyFromEnvironment(["OPTUNE_API_KEY": "", "OPENAI_API_KEY": "b"]) == "b")
        #expect(OpenAIGenerationSettings.apiKeyFromEnvironment([:]) == nil)
        #expect(HTTPRewardSettings.apiKeyFromEnvironment(["OPENAI_API_KEY": "b"]) == nil)
        let settings = OpenAIGenerationSettings(baseURL: URL(string: "http://h:1")!, http: HTTPClientSettings(apiKey: "sk-secret"))
        #expect(!"\(settings)".contains("sk-secret"))
        #expect(settings.apiRoot.absoluteString == "http://h:1/v1")
        #expect(OpenAIGenerationSettings(baseURL: URL(string: "http://h:1/v1/")!).apiRoot.absoluteString == "http://h:1/v1")
    }
}
