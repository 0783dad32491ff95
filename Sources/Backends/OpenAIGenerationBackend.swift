import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Settings of `OpenAIGenerationBackend`.
public struct OpenAIGenerationSettings: Sendable, CustomStringConvertible {
    /// The server, e.g. `http://gpu1:8000` or `http://gpu1:8000/v1` (`/v1` is added when absent).
    public var baseURL: URL
    public var http: HTTPClientSettings
    /// Ask for token ids with vLLM's extensions: `return_token_ids: true` (the ids of the
    /// completion and of the prompt) and, with logprobs, `return_tokens_as_token_ids: true`.
    /// Turn off for servers that reject unknown fields (OpenAI's own API does).
    public var requestTokenIDs = true
    /// Ask for the sampled tokens' logprobs (`logprobs: 0` on /v1/completions, `logprobs: true,
    /// top_logprobs: 0` on /v1/chat/completions), recorded as the response's logprob sum.
    public var requestLogprobs = true
    /// How long a check that the server serves a policy's model is trusted before it is redone.
    public var modelCheckInterval: Duration = .seconds(30)

    public init(baseURL: URL, http: HTTPClientSettings = HTTPClientSettings(apiKey: OpenAIGenerationSettings.apiKeyFromEnvironment())) {
        self.baseURL = baseURL
        self.http = http
    }

    /// `OPTUNE_API_KEY`, else `OPENAI_API_KEY`, else nil (an empty value counts as unset).
    public static func apiKeyFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        for name in ["OPTUNE_API_KEY", "OPENAI_API_KEY"] {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return nil
    }

    /// The API root: `baseURL` ending in `/v1`.
    var apiRoot: URL {
        var text = baseURL.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        if !text.hasSuffix("/v1") { text += "/v1" }
        return URL(string: text) ?? baseURL
    }

    public var description: String {
        "OpenAIGenerationSettings(baseURL: \(displayName(of: baseURL)), \(http), tokenIDs: \(requestTokenIDs), logprobs: \(requestLogprobs))"
    }
}

/// Generation with an OpenAI-compatible server: vLLM, SGLang, llama.cpp's server, … .
///
/// - **One HTTP request per sample** (`n = 1`), each with its own `seed`: the daemon derives one
///   seed per (run, t, prompt, sample) and records it with the response, and only a request per
///   seed makes that record true — with `n > 1` a server draws the n samples from one seed (and
///   some ignore the seed altogether). The server's prefix cache makes the repeated prompt cheap.
///   The daemon's seeds are below 2^63 (a non-negative int64 every server accepts), so the
///   seed sent is the recorded seed. (A larger seed would be sent as its low 63 bits.) Up to `http.maxConcurrentRequests` requests are in flight at once.
/// - Text prompts go to `POST /v1/completions`; prompts imported as chat messages go to
///   `POST /v1/chat/completions` (the server applies its chat template).
/// - `model` is the policy's URI (`optune policy register --uri`). A policy without one (built-in
///   weights) is refused. Before the first request for a policy — and again every
///   `modelCheckInterval`, or when the server answers 404 — `GET /v1/models` must list that
///   model; if it does not, nothing is generated: the tasks go back to the queue uncounted and
///   `isAvailable()` stays false until the server lists the model (it may be loading the new
///   checkpoint). A stale server never silently generates for π_t.
/// - Stored per sample: completion token ids when the server returns them (vLLM's
///   `return_token_ids` → `choices[].token_ids`; else logprob tokens of the form
///   `token_id:123` from `return_tokens_as_token_ids`; else none — ids are never invented), the
///   prompt's token ids (`choices[].prompt_token_ids`, or the chat response's `prompt_token_ids`),
///   the text, the finish reason and the sum of the sampled tokens' logprobs when given. When
///   the server returns no ids, the completion's length is `usage.completion_tokens`.
/// - Errors: 429, 5xx, timeouts and connection errors are retried with exponential backoff and
///   jitter, then reported retryable; other 4xx are not retried and carry the server's message
///   (the task dies with it) — except 401/403, 404/405 (no such route) and a missing
///   /v1/models, which say the daemon is misconfigured, not the task: they trip the circuit and
///   return the tasks uncounted. A malformed body is a retryable error. A circuit breaker opens
///   after consecutive transport / 5xx failures; while it is open the daemon leases nothing, and
///   `isAvailable()` probes `GET /v1/models` every `breaker.probeInterval` until it answers.
public struct OpenAIGenerationBackend: GenerationBackend {
    public let settings: OpenAIGenerationSettings
    let endpoint: HTTPEndpoint
    let models: ModelChecks

    public init(settings: OpenAIGenerationSettings) {
        self.settings = settings
        endpoint = HTTPEndpoint(name: displayName(of: settings.apiRoot), settings: settings.http)
        models = ModelChecks()
    }

    public func generate(_ requests: [GenerationRequest], policy: PolicyHandle, sampling: SamplingParameters) async throws
        -> [[GeneratedSample]]
    {
        try await generateEach(requests, policy: policy, sampling: sampling).map { try $0.get() }
    }

    public func generateEach(
        _ requests: [GenerationRequest], policy: PolicyHandle, sampling: SamplingParameters
    ) async throws -> [Result<[GeneratedSample], BackendError>] {
        guard let model = policy.uri, !model.isEmpty else {
            let error = BackendError(
                "policy \(policy.id) has built-in weights and no served model: serve its checkpoint and register it with "
                    + "`optune policy register --uri MODEL` (MODEL = the name the server lists in /v1/models), or use --backend builtin",
                retryable: false)
            return requests.map { _ in .failure(error) }
        }
        do {
            try await ensureServed(model, policy: policy.id)
        } catch let error as BackendError {
            return requests.map { _ in .failure(error) }
        }
        struct Job: Sendable {
            var request: Int
            var prompt: PromptContent
            var seed: UInt64
        }
        let jobs = requests.enumerated().flatMap { index, request in
            request.seeds.map { Job(request: index, prompt: request.prompt, seed: $0) }
        }
        let outcomes = await boundedMap(jobs, limit: settings.http.maxConcurrentRequests) { job in
            do {
                return Result<GeneratedSample, BackendError>.success(
                    try await sample(job.prompt, seed: job.seed, model: model, policy: policy.id, sampling: sampling))
            } catch let error as BackendError {
                return .failure(error)
            } catch {
                return .failure(BackendError("generation for prompt \(job.prompt.id) failed: \(error)", retryable: true))
            }
        }
        var results: [Result<[GeneratedSample], BackendError>] = []
        var position = 0
        for request in requests {
            let mine = outcomes[position..<(position + request.seeds.count)]
            position += request.seeds.count
            let errors = mine.compactMap { outcome -> BackendError? in
                if case .failure(let error) = outcome { return error }
                return nil
            }
            if let error = mostSevere(errors) {
                results.append(.failure(error))
            } else {
                results.append(.success(mine.compactMap { try? $0.get() }))
            }
        }
        return results
    }

    public func isAvailable() async -> Bool {
        if let awaited = await models.awaitedModel() {
            guard await models.recheckDue(settings.http.breaker.probeInterval) else { return false }
            let listed = await listedModels()
            guard let listed, listed.contains(awaited) else { return false }
            await models.served(awaited)
            await endpoint.breaker.recordSuccess()
            return true
        }
        return await endpoint.breaker.isAvailable { await listedModels() != nil }
    }

    // MARK: - The model check

    /// The models `GET /v1/models` lists, or nil when the server does not answer with a list
    /// (a probe: no retries).
    func listedModels() async -> [String]? {
        let request = endpoint.request("GET", appending("models", to: settings.apiRoot))
        guard case .answer(let status, let body, _) = await endpoint.attemptOnce(request, timeout: endpoint.probeTimeout),
            (200..<300).contains(status)
        else { return nil }
        return Self.modelIDs(body)
    }

    static func modelIDs(_ body: Data) -> [String]? {
        guard let data = JSONValue.parse(body)?["data"]?.arrayValue else { return nil }
        return data.compactMap { $0["id"]?.stringValue }
    }

    /// Throws unless the server lists `model` (checked at most every `modelCheckInterval`).
    func ensureServed(_ model: String, policy: Int64) async throws {
        if await models.isFresh(model, within: settings.modelCheckInterval) { return }
        let answer = try await endpoint.send("GET", appending("models", to: settings.apiRoot), what: "GET /v1/models")
        guard (200..<300).contains(answer.status) else {
            // No /v1/models here (a wrong --base-url, say): every request would fail alike, so
            // stop leasing instead of failing tasks.
            let reason = "GET /v1/models answered HTTP \(answer.status) (\(serverMessage(answer.body))); is the base URL right?"
            await endpoint.breaker.trip(reason)
            throw BackendError("\(endpoint.name): \(reason)", retryable: true, unavailable: true)
        }
        guard let listed = Self.modelIDs(answer.body) else {
            throw BackendError("GET /v1/models at \(endpoint.name) answered a malformed body: \(bodyExcerpt(answer.body))", retryable: true)
        }
        guard listed.contains(model) else {
            await models.awaiting(model)
            throw staleServer(listed: listed, model: model, policy: policy)
        }
        await models.served(model)
    }

    func staleServer(listed: [String], model: String, policy: Int64) -> BackendError {
        let serves = listed.isEmpty ? "no model" : listed.map { "\"\($0)\"" }.joined(separator: ", ")
        return BackendError(
            "server \(endpoint.name) serves \(serves), not π_t's model \"\(model)\" (policy \(policy)); "
                + "nothing generated — waiting for the server to serve that checkpoint",
            retryable: true, unavailable: true)
    }

    // MARK: - One sample

    func sample(_ prompt: PromptContent, seed: UInt64, model: String, policy: Int64, sampling: SamplingParameters) async throws
        -> GeneratedSample
    {
        let chat = prompt.messagesJSON != nil
        let body = try Self.requestBody(prompt, seed: seed, model: model, sampling: sampling, settings: settings)
        let path = chat ? "chat/completions" : "completions"
        let what = "POST /v1/\(path) (prompt \(prompt.id))"
        let answer = try await endpoint.send("POST", appending(path, to: settings.apiRoot), json: body, what: what)
        guard (200..<300).contains(answer.status) else {
            let message = serverMessage(answer.body)
            if answer.status == 404 {
                // vLLM answers 404 for a model it does not serve: the server changed under us.
                await models.forget(model)
                if let listed = await listedModels(), !listed.contains(model) {
                    await models.awaiting(model)
                    throw staleServer(listed: listed, model: model, policy: policy)
                }
            }
            if answer.status == 404 || answer.status == 405 {
                // No such route (a chat-only server asked for /v1/completions, say): every
                // request of this kind would fail alike, so stop leasing rather than kill tasks.
                let reason = "POST /v1/\(path) answered HTTP \(answer.status) (\(message)); does the server offer /v1/\(path)?"
                await endpoint.breaker.trip(reason)
                throw BackendError("\(endpoint.name): \(reason)", retryable: true, unavailable: true)
            }
            throw BackendError("\(what) at \(endpoint.name) was refused with HTTP \(answer.status): \(message)", retryable: false)
        }
        do {
            var sample = try Self.parseSample(answer.body, chat: chat)
            sample.latencyMs = Double(answer.latency.components.seconds) * 1000 + Double(answer.latency.components.attoseconds) / 1e15
            return sample
        } catch {
            throw BackendError(
                "\(what) at \(endpoint.name) answered a malformed body (\(error.reason)): \(bodyExcerpt(answer.body))", retryable: true)
        }
    }

    /// The JSON body of one request.
    static func requestBody(
        _ prompt: PromptContent, seed: UInt64, model: String, sampling: SamplingParameters, settings: OpenAIGenerationSettings
    ) throws -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(model),
            "n": .int(1),
            "seed": .int(Int64(seed & 0x7FFF_FFFF_FFFF_FFFF)),
            "temperature": .double(sampling.temperature),
            "top_p": .double(sampling.topP),
            "max_tokens": .int(Int64(sampling.maxTokens)),
            "stream": .bool(false),
        ]
        if let stop = sampling.stop, !stop.isEmpty { body["stop"] = .array(stop.map { .string($0) }) }
        if let messagesJSON = prompt.messagesJSON {
            guard let messages = JSONValue.parse(Data(messagesJSON.utf8)), let list = messages.arrayValue, !list.isEmpty else {
                throw BackendError("prompt \(prompt.id): its messages are not a non-empty JSON array", retryable: false)
            }
            body["messages"] = messages
            if settings.requestLogprobs {
                body["logprobs"] = .bool(true)
                body["top_logprobs"] = .int(0)
            }
        } else if let text = prompt.text {
            body["prompt"] = .string(text)
            if settings.requestLogprobs { body["logprobs"] = .int(0) }
        } else {
            throw BackendError("prompt \(prompt.id) has neither text nor messages", retryable: false)
        }
        if settings.requestTokenIDs {
            body["return_token_ids"] = .bool(true)
            if settings.requestLogprobs { body["return_tokens_as_token_ids"] = .bool(true) }
        }
        return .object(body)
    }

    struct MalformedBody: Error {
        var reason: String
    }

    /// Reads one sample from a completion or chat completion body.
    static func parseSample(_ data: Data, chat: Bool) throws(MalformedBody) -> GeneratedSample {
        guard let root = JSONValue.parse(data) else { throw MalformedBody(reason: "not JSON") }
        guard root.objectValue != nil else { throw MalformedBody(reason: "not a JSON object") }
        guard let choices = root["choices"]?.arrayValue else { throw MalformedBody(reason: "no choices") }
        guard let choice = choices.first(where: { $0["index"]?.numberValue == 0 }) ?? choices.first, choice.objectValue != nil else {
            throw MalformedBody(reason: "no choice")
        }
        var text: String?
        if chat {
            guard let message = choice["message"], message.objectValue != nil else {
                throw MalformedBody(reason: "a chat choice without a message")
            }
            switch message["content"] {
            case .string(let content)?: text = content
            case nil, .null?: text = nil
            default: throw MalformedBody(reason: "the message content is not a string")
            }
        } else {
            switch choice["text"] {
            case .string(let content)?: text = content
            case nil, .null?: text = nil
            default: throw MalformedBody(reason: "the choice's text is not a string")
            }
        }
        var finishReason: String?
        switch choice["finish_reason"] {
        case .string(let reason)?: finishReason = reason
        case nil, .null?: finishReason = nil
        default: throw MalformedBody(reason: "finish_reason is not a string")
        }

        // Token ids: vLLM's return_token_ids, else `token_id:N` logprob tokens, else none.
        var tokens: [UInt32]?
        if let ids = choice["token_ids"], !ids.isNull {
            guard let parsed = ids.tokenIDs else { throw MalformedBody(reason: "token_ids is not a list of token ids") }
            tokens = parsed
        }
        let logprobs = choice["logprobs"].flatMap { $0.isNull ? nil : $0 }
        var entries: [(token: JSONValue?, logprob: JSONValue?)] = []
        if let logprobs {
            if chat {
                if let content = logprobs["content"], !content.isNull {
                    guard let list = content.arrayValue else { throw MalformedBody(reason: "logprobs.content is not a list") }
                    entries = list.map { ($0["token"], $0["logprob"]) }
                }
            } else {
                let tokenList = logprobs["tokens"]?.arrayValue
                let logprobList = logprobs["token_logprobs"]?.arrayValue
                if let tokenList, let logprobList, tokenList.count == logprobList.count {
                    entries = zip(tokenList, logprobList).map { ($0, $1) }
                } else if let logprobList {
                    entries = logprobList.map { (nil, $0) }
                } else if let tokenList {
                    entries = tokenList.map { ($0, nil) }
                }
            }
        }
        if tokens == nil, !entries.isEmpty {
            var ids: [UInt32] = []
            for entry in entries {
                guard let token = entry.token?.stringValue, token.hasPrefix("token_id:"),
                    let id = UInt32(token.dropFirst("token_id:".count))
                else {
                    ids = []
                    break
                }
                ids.append(id)
            }
            if ids.count == entries.count { tokens = ids }
        }
        var logprobSum: Double?
        if logprobs != nil, !entries.isEmpty || tokens?.isEmpty == true {
            var sum = 0.0
            var complete = true
            for entry in entries {
                guard let value = entry.logprob?.numberValue else {
                    complete = false
                    break
                }
                sum += value
            }
            if complete, sum.isFinite { logprobSum = sum }
        }
        let promptSource =
            chat ? (root["prompt_token_ids"] ?? choice["prompt_token_ids"]) : (choice["prompt_token_ids"] ?? root["prompt_token_ids"])
        var promptTokens: [UInt32]?
        if let promptSource, !promptSource.isNull {
            guard let parsed = promptSource.tokenIDs else { throw MalformedBody(reason: "prompt_token_ids is not a list of token ids") }
            promptTokens = parsed
        }
        guard text != nil || tokens != nil else { throw MalformedBody(reason: "neither text nor token ids") }
        // One sample per request (n = 1), so the usage's completion tokens are this sample's.
        // A count that is not an integer in 0...Int32.max (the column's range) is ignored.
        let reported = root["usage"]?["completion_tokens"].flatMap { value -> Int? in
            if case .int(let count) = value, count >= 0, count <= Int64(Int32.max) { return Int(exactly: count) }
            return nil
        }
        return GeneratedSample(
            tokens: tokens, text: text, finishReason: finishReason, logprobSum: logprobSum, promptTokens: promptTokens,
            reportedTokenCount: reported)
    }
}

/// Which models a server was seen to serve, and which one a daemon is waiting for.
actor ModelChecks {
    private var verified: [String: ContinuousClock.Instant] = [:]
    private var awaited: String?
    private var lastRecheck: ContinuousClock.Instant = .now

    func isFresh(_ model: String, within interval: Duration) -> Bool {
        guard let at = verified[model] else { return false }
        return ContinuousClock.now - at < interval
    }

    func served(_ model: String) {
        verified[model] = .now
        awaited = nil
    }

    func forget(_ model: String) {
        verified[model] = nil
    }

    func awaiting(_ model: String) {
        verified[model] = nil
        awaited = model
        lastRecheck = .now
    }

    func awaitedModel() -> String? { awaited }

    /// Whether a re-check of an awaited model is due (then it counts as done now).
    func recheckDue(_ interval: Duration) -> Bool {
        guard ContinuousClock.now - lastRecheck >= interval else { return false }
        lastRecheck = .now
        return true
    }
}
