import Buffer
import Foundation
import Logging
import Postgres
import TestSupport
import Testing
import TokenCodec

@testable import Backends
@testable import Daemons

/// The OpenAI-compatible backend driven by the generator daemon against a real database.
@Suite("Generation through an OpenAI-compatible server, into the buffer")
struct GeneratorThroughHTTPTests {
    static let chatMessages = #"[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Nommez un fruit 🍐"}]"#

    func generator(
        _ database: TestDatabase, _ backend: any GenerationBackend, sampling: SamplingParameters = SamplingParameters(maxTokens: 16)
    ) -> GeneratorService {
        var settings = DaemonSettings()
        settings.pollInterval = .milliseconds(100)
        settings.unavailablePause = .milliseconds(100)
        settings.leaseSeconds = 30
        return GeneratorService(
            databaseURL: database.url, backend: backend, sampling: sampling, settings: settings, logger: Logger(label: "test.generate"))
    }

    /// Leases every pending task as `service` and processes them as its loop would.
    @discardableResult
    func processAll(_ service: GeneratorService, _ buffer: ReplayBuffer) async throws -> Int {
        let tasks = try await buffer.lease(.generation, owner: service.identity.id, limit: 100, leaseSeconds: 30)
        return try await service.process(tasks, buffer: buffer, cache: RunCache())
    }

    func taskRows(_ connection: Connection) async throws -> [(state: String, attempts: Int, error: String?)] {
        try await connection.query(
            """
            SELECT state, attempts, last_error FROM optune.generation_tasks CROSS JOIN LATERAL unnest(prompt_ids) AS u(prompt_id)
            WHERE state <> 'split' ORDER BY u.prompt_id
            """
        ).map {
            (try $0.decode(0, as: String.self), try $0.decode(1, as: Int.self), try $0.decode(2, as: String?.self))
        }
    }

    @Test func tokenIdsTextAndPromptIdsAreStoredExactlyForTextAndChatPrompts() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let scenario = try await BufferScenario.make(in: database, promptCount: 2)
                let buffer = scenario.buffer
                // A chat prompt too: it must go to /v1/chat/completions.
                _ = try await buffer.storePrompts(
                    [PromptRecord(messagesJSON: Self.chatMessages)], inSet: scenario.setID, defaultSplit: .train, source: "test")
                let chatPrompt = try #require(
                    try await buffer.promptIDs(inSet: scenario.setID, split: .train).first { !scenario.prompts.contains($0) })
                _ = try await buffer.enqueueGeneration(
                    run: scenario.run, t: 0, policy: scenario.policy, purpose: .train, promptIDs: [chatPrompt])

                let sampling = SamplingParameters(temperature: 0.7, topP: 0.9, maxTokens: 16, stop: ["\n\n"])
                let service = generator(database, openAIBackend(server), sampling: sampling)
                #expect(try await processAll(service, buffer) == 6)

                let stored = try await buffer.prompts(scenario.prompts)
                let texts = stored.mapValues { $0.text ?? "" }
                let responses = try await buffer.responses(run: scenario.run, t: 0)
                #expect(responses.count == 6)
                for response in responses {
                    let seed = try #require(response.seed)
                    let promptText = texts[response.prompt] ?? "Nommez un fruit 🍐"
                    #expect(response.tokens == FakeAnswer.tokens(prompt: promptText, seed: seed))
                    #expect(response.tokenCount == 3)
                    #expect(response.text == FakeAnswer.text(seed: seed))
                    #expect(response.finishReason == "stop")
                }
                // The recorded seeds are the daemon's, one per sample, all distinct.
                #expect(Set(responses.compactMap(\.seed)).count == 6)
                for response in responses {
                    #expect(
                        response.seed
                            == Int64(bitPattern: GeneratorService.seed(run: 0, t: 0, prompt: response.prompt, sample: response.sampleIndex))
                    )
                }

                // Prompt token ids, logprob sums, latency and the sampling record.
                let rows = try await buffer.connection.query(
                    "SELECT prompt_id, prompt_tokens, logprob_sum, latency_ms, sampling::text FROM optune.responses ORDER BY prompt_id, sample_index"
                )
                for row in rows {
                    let prompt = try row.decode(0, as: Int64.self)
                    let blob = try #require(row.withRawBytes(1) { $0.map { Array($0) } })
                    #expect(try TokenCodec.decode(blob) == FakeAnswer.promptTokens(texts[prompt] ?? "Nommez un fruit 🍐"))
                    #expect(try row.decode(2, as: Double?.self) == -0.875)
                    #expect((try row.decode(3, as: Double?.self) ?? -1) >= 0)
                    let samplingJSON = try row.decode(4, as: String.self)
                    #expect(samplingJSON.contains("\"stop\""))
                }

                // What went over the wire: one request per sample, n = 1, the recorded seed, π_t's URI.
                let sent = try await server.requests()
                #expect(sent.count == 6)
                #expect(sent.filter { $0["path"]?.stringValue == "/v1/chat/completions" }.count == 2)
                let recordedSeeds = Set(
                    responses.compactMap { $0.seed.map { Int64(bitPattern: UInt64(bitPattern: $0) & 0x7FFF_FFFF_FFFF_FFFF) } })
                let sentSeeds = Set(
                    sent.compactMap { request -> Int64? in
                        if case .int(let seed)? = request["seed"] { return seed }
                        return nil
                    })
                #expect(sentSeeds == recordedSeeds)
                for request in sent {
                    #expect(request["model"]?.stringValue == "test://pi0")
                    #expect(request["n"]?.numberValue == 1)
                    #expect(request["temperature"]?.numberValue == 0.7)
                    #expect(request["top_p"]?.numberValue == 0.9)
                    #expect(request["max_tokens"]?.numberValue == 16)
                    #expect(request["stop"] == .array([.string("\n\n")]))
                    #expect(request["return_token_ids"] == .bool(true))
                    #expect(request["authorization"]?.stringValue == "Bearer test-key")
                }
                let chat = try #require(sent.first { $0["path"]?.stringValue == "/v1/chat/completions" })
                #expect(chat["messages"]?.arrayValue?.count == 2)
                #expect(chat["prompt"] == nil)
                #expect(
                    try await count(
                        "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'done'", on: buffer.connection) == 3
                )
            }
        }
    }

    @Test func idsComeFromLogprobTokensWhenTheServerHasNoReturnTokenIds() async throws {
        // A server without vLLM's return_token_ids (e.g. older vLLM) still gives `token_id:N` logprob tokens.
        try await withFakeServer { server in
            let policy = PolicyHandle(id: 1, weights: nil, uri: "test://pi0")
            let prompt = PromptContent(id: 9, text: "abc", messagesJSON: nil)
            let body = Data(
                #"{"choices": [{"index": 0, "text": "hi", "finish_reason": "length", "logprobs": {"tokens": ["token_id:5", "token_id:70000"], "token_logprobs": [-1.5, -0.5]}}]}"#
                    .utf8)
            let sample = try OpenAIGenerationBackend.parseSample(body, chat: false)
            #expect(sample.tokens == [5, 70000])
            #expect(sample.logprobSum == -2.0)
            #expect(sample.promptTokens == nil)
            // Text tokens are never turned into ids.
            let textTokens = Data(
                #"{"choices": [{"text": "hi", "logprobs": {"tokens": ["h", "i"], "token_logprobs": [-1.0, -0.25]}}]}"#.utf8)
            let textOnly = try OpenAIGenerationBackend.parseSample(textTokens, chat: false)
            #expect(textOnly.tokens == nil && textOnly.text == "hi" && textOnly.logprobSum == -1.25)
            // Against the server, logprobs-as-ids only (return_token_ids off).
            let withoutReturnIDs = openAIBackend(server) { $0.requestTokenIDs = false }
            let plain = try await withoutReturnIDs.generate(
                [GenerationRequest(prompt: prompt, seeds: [42])], policy: policy, sampling: SamplingParameters(maxTokens: 8))
            #expect(plain[0][0].tokens == nil)  // without return_tokens_as_token_ids the tokens are text
            #expect(plain[0][0].logprobSum == -0.875)
            #expect(plain[0][0].text == "réponse ✓ 42")
            // Chat logprobs with `token_id:N` tokens, prompt ids at the top level.
            let chatBody = Data(
                #"{"prompt_token_ids": [1, 2], "choices": [{"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": "stop", "logprobs": {"content": [{"token": "token_id:3", "logprob": -0.5}]}}]}"#
                    .utf8)
            let chat = try OpenAIGenerationBackend.parseSample(chatBody, chat: true)
            #expect(chat.tokens == [3] && chat.text == nil && chat.promptTokens == [1, 2] && chat.logprobSum == -0.5)
            // Shapes that are not a sample are errors, not crashes.
            for bad in [
                #"[]"#, #"{"choices": []}"#, #"{"choices": [{"text": 5}]}"#, #"{"choices": [{"text": "a", "token_ids": [-1]}]}"#,
                #"{"choices": [{"text": null}]}"#, #"{"choices": [{"text": "a", "token_ids": [1.5]}]}"#,
            ] {
                #expect(throws: OpenAIGenerationBackend.MalformedBody.self) {
                    try OpenAIGenerationBackend.parseSample(Data(bad.utf8), chat: false)
                }
            }
        }
    }

    @Test func textOnlyResponsesStoreANullBlobAndTheText() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let scenario = try await BufferScenario.make(in: database, promptCount: 2)
                try await server.control(#"{"faults": [{"fault": "no_token_ids", "count": -1}]}"#)
                let service = generator(database, openAIBackend(server))
                #expect(try await processAll(service, scenario.buffer) == 4)
                let responses = try await scenario.buffer.responses(run: scenario.run, t: 0)
                #expect(responses.count == 4)
                for response in responses {
                    #expect(response.tokens == nil)
                    #expect(response.tokenCount == 3)  // the server's usage.completion_tokens
                    #expect(response.text == FakeAnswer.text(seed: try #require(response.seed)))
                }
                #expect(
                    try await count(
                        "SELECT count(*) FROM optune.responses WHERE tokens IS NULL AND prompt_tokens IS NULL AND logprob_sum IS NULL AND text IS NOT NULL",
                        on: scenario.buffer.connection) == 4)
            }
        }
    }

    @Test func aClientErrorMakesADeadTaskCarryingTheServersMessage() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let scenario = try await BufferScenario.make(in: database, promptCount: 2)
                // The first prompt's two samples are refused; the second prompt's succeed.
                let message = "This model's maximum context length is 4096 tokens; your prompt has 9000"
                try await server.control(#"{"faults": [{"fault": "400", "count": 2, "message": "\#(message)"}]}"#)
                let backend = openAIBackend(server) { $0.http.maxConcurrentRequests = 1 }
                let service = generator(database, backend)
                #expect(try await processAll(service, scenario.buffer) == 2)
                let rows = try await taskRows(scenario.buffer.connection)
                #expect(rows[0].state == "dead")
                #expect(rows[0].error?.contains(message) == true)
                #expect(rows[0].error?.contains("HTTP 400") == true)
                #expect(rows[1].state == "done")
                // No retry of a 400: two refused requests, two that succeeded.
                #expect(try await server.count("POST /v1/completions") == 4)
                #expect(
                    try await scenario.buffer.responses(run: scenario.run, t: 0).map(\.prompt) == [
                        scenario.prompts[1], scenario.prompts[1],
                    ])
            }
        }
    }

    @Test func aMalformedBodyFailsTheTaskRetryablyWithoutACrash() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let scenario = try await BufferScenario.make(in: database, promptCount: 1)
                try await server.control(#"{"faults": [{"fault": "malformed", "count": -1}]}"#)
                let service = generator(database, openAIBackend(server))
                #expect(try await processAll(service, scenario.buffer) == 0)
                let rows = try await taskRows(scenario.buffer.connection)
                #expect(rows[0].state == "pending")
                #expect(rows[0].attempts == 1)
                #expect(rows[0].error?.contains("malformed body (not JSON)") == true)
                #expect(try await scenario.buffer.responses(run: scenario.run, t: 0).isEmpty)
                // A malformed body is not retried in place (the task is); it is not a breaker failure either.
                #expect(try await server.count("POST /v1/completions") == 2)
            }
        }
    }

    @Test func aStaleServerIsRefusedUntilItServesTheModel() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let scenario = try await BufferScenario.make(in: database, promptCount: 2)
                try await server.control(#"{"models": ["test://pi-old"]}"#)
                let backend = openAIBackend(server)
                let service = generator(database, backend)
                #expect(try await processAll(service, scenario.buffer) == 0)
                // Nothing generated for π_t; the tasks are back in the queue with their attempt not counted.
                #expect(try await server.count("POST /v1/completions") == 0)
                #expect(try await taskRows(scenario.buffer.connection).allSatisfy { $0.state == "pending" && $0.attempts == 0 })
                #expect(await backend.isAvailable() == false)
                // The error says which model the server serves and which one π_t is.
                let failure = try await backend.generateEach(
                    [GenerationRequest(prompt: PromptContent(id: 1, text: "x", messagesJSON: nil), seeds: [1])],
                    policy: PolicyHandle(id: scenario.policy, weights: nil, uri: "test://pi0"), sampling: SamplingParameters())
                guard case .failure(let error) = failure[0] else { Issue.record("a stale server generated"); return }
                #expect(error.message.contains(#"serves "test://pi-old", not π_t's model "test://pi0""#))
                #expect(error.retryable && error.unavailable)

                // The server loads the checkpoint: the backend sees it at its next check, and generates.
                try await server.control(#"{"models": ["test://pi-old", "test://pi0"]}"#)
                #expect(try await eventually(timeout: .seconds(5)) { await backend.isAvailable() })
                #expect(try await processAll(service, scenario.buffer) == 4)
                #expect(try await taskRows(scenario.buffer.connection).allSatisfy { $0.state == "done" && $0.attempts == 1 })
            }
        }
    }

    @Test func aPolicyWithoutAServedModelIsRefusedForGood() async throws {
        try await withFakeServer { server in
            let backend = openAIBackend(server)
            let results = try await backend.generateEach(
                [GenerationRequest(prompt: PromptContent(id: 1, text: "x", messagesJSON: nil), seeds: [1, 2])],
                policy: PolicyHandle(id: 7, weights: [1, 2, 3], uri: nil), sampling: SamplingParameters())
            guard case .failure(let error) = results[0] else { Issue.record("generated without a model"); return }
            #expect(!error.retryable)
            #expect(error.message.contains("optune policy register --uri"))
            #expect(try await server.count("GET /v1/models") == 0)
        }
    }

    @Test func theCircuitStopsLeasingWhileTheServerIsDownAndResumesAfter() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let scenario = try await BufferScenario.make(in: database, promptCount: 3)
                let connection = scenario.buffer.connection
                try await server.control(#"{"down": true}"#)
                var http = testHTTPSettings(attempts: 2, breakerFailures: 2)
                http.breaker.probeInterval = .milliseconds(300)
                let service = generator(database, openAIBackend(server, http))
                let daemon = Task { try await service.run() }

                // The first batch meets a refused connection: the circuit opens and the batch goes back
                // uncounted (pending, attempts 0 again, but with the lease token it was leased under).
                #expect(
                    try await eventually(timeout: .seconds(60)) {
                        try await count(
                            "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'pending' AND attempts = 0 AND lease_token IS NOT NULL",
                            on: connection) == 3
                    })
                // While the server is down the daemon leases nothing: every task stays pending, attempts unchanged.
                for _ in 0..<10 {
                    #expect(try await taskRows(connection).allSatisfy { $0.state == "pending" && $0.attempts == 0 })
                    try await Task.sleep(for: .milliseconds(150))
                }
                #expect(try await count("SELECT count(*) FROM optune.responses", on: connection) == 0)

                // The server comes back: a probe closes the circuit and the work gets done, each task on its first attempt.
                try await server.control(#"{"down": false}"#)
                #expect(
                    try await eventually(timeout: .seconds(60)) {
                        try await count(
                            "SELECT coalesce(sum(size), 0)::int8 FROM optune.generation_tasks WHERE state = 'done'", on: connection) == 3
                    })
                #expect(try await taskRows(connection).allSatisfy { $0.attempts == 1 && $0.error == nil })
                #expect(try await count("SELECT count(*) FROM optune.responses", on: connection) == 6)
                daemon.cancel()
                try await daemon.value
            }
        }
    }
}
