import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Settings of `VLLMRewardBackend`.
public struct VLLMRewardSettings: Sendable, CustomStringConvertible {
    /// The vLLM server, e.g. `http://rm1:8000` (a trailing `/v1` is ignored), or its full
    /// `…/pooling` URL.
    public var baseURL: URL
    public var http: HTTPClientSettings
    /// The served model's name (`model` of the request); nil lets the server use its only model.
    public var model: String?
    /// Which value to take when the model returns several per response (a multi-label head);
    /// nil: the model must return exactly one.
    public var scoreIndex: Int?
    /// Whether the server applies the pooler's activation (a sigmoid for a one-label
    /// classifier): false (the default) asks for the raw reward logit with
    /// `"use_activation": false`, which is what the reward model was trained to output and
    /// keeps reward gaps unsquashed.
    public var useActivation = false

    public init(baseURL: URL, http: HTTPClientSettings = HTTPClientSettings(apiKey: HTTPRewardSettings.apiKeyFromEnvironment())) {
        self.baseURL = baseURL
        self.http = http
    }

    /// `POST` target: `…/pooling` at the server's root.
    var poolingURL: URL {
        var text = baseURL.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        if text.hasSuffix("/pooling") { return URL(string: text) ?? baseURL }
        if text.hasSuffix("/v1") { text.removeLast(3) }
        return URL(string: text + "/pooling") ?? baseURL
    }

    /// What an open circuit probes: vLLM's `GET /health`.
    var healthURL: URL {
        appending("health", to: poolingURL.deletingLastPathComponent())
    }

    public var description: String {
        "VLLMRewardSettings(url: \(displayName(of: poolingURL)), model: \(model ?? "server default"), "
            + "scoreIndex: \(scoreIndex.map(String.init) ?? "none"), useActivation: \(useActivation), \(http))"
    }
}

/// Scores responses with a reward model served by vLLM's pooling API.
///
/// Followed: vLLM v0.12–v0.18 (`vllm/entrypoints/pooling/pooling/protocol.py`,
/// `…/pooling/api_router.py`, `vllm/entrypoints/pooling/base/protocol.py`) and
/// `docs/models/pooling_models/reward.md`: sequence-classification reward models (the
/// Skywork-Reward family, `*ForSequenceClassification`, served with `--runner pooling`, pooling
/// task `classify`) and token reward models (`*ForRewardModel`, the former `--task reward`,
/// pooling task `token_classify`) are both served on `POST /pooling`. A multi-objective head
/// (ArmoRM-style) returns several values: pick one with `scoreIndex`.
///
/// One request per response (the chat form of `/pooling` takes one conversation), sent
/// concurrently up to `http.maxConcurrentRequests`:
///
/// ```json
/// {"model": "Skywork/Skywork-Reward-V2-Llama-3.1-8B",
///  "messages": [{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}],
///  "use_activation": false}
/// ```
///
/// `messages` is the prompt's conversation as imported (a text prompt becomes one user
/// message) followed by the response as the assistant's turn, so the server renders it with
/// the reward model's own chat template. `model` is omitted when not configured.
/// `use_activation` (vLLM ≥ 0.11.1) asks for the raw score; older servers ignore the field.
///
/// The answer (`PoolingResponse`):
///
/// ```json
/// {"id": "pool-…", "object": "list", "created": 1733000000, "model": "…",
///  "data": [{"index": 0, "object": "pooling", "data": [1.75]}],
///  "usage": {"prompt_tokens": 42, "total_tokens": 42, "completion_tokens": 0}}
/// ```
///
/// `data[0].data` is `[score]` for a sequence classifier, or one row per token
/// (`[[…], …, [score]]`) for a token reward model, whose last row scores the whole
/// conversation. A row with several values needs `scoreIndex`. Anything else — a base64
/// string, an empty list, a non-finite number — is a non-retryable error quoting the body.
/// Errors follow the HTTP reward backend: 429, 5xx, timeouts and connection errors are
/// retried with backoff behind the circuit breaker; a 400 (a conversation longer than the
/// model's context, say) fails the batch for good with vLLM's message; 404 (no `/pooling`
/// route, or a model the server does not serve) and 405 trip the circuit instead of
/// killing tasks. The API key comes from `OPTUNE_REWARD_API_KEY`.
public struct VLLMRewardBackend: RewardBackend {
    public let settings: VLLMRewardSettings
    let endpoint: HTTPEndpoint

    public init(settings: VLLMRewardSettings) {
        self.settings = settings
        endpoint = HTTPEndpoint(name: displayName(of: settings.poolingURL), settings: settings.http)
    }

    public func score(_ items: [ScoringItem]) async throws -> [Double] {
        guard !items.isEmpty else { return [] }
        return try await scoreConcurrently(items, limit: settings.http.maxConcurrentRequests) { item in [try await scoreOne(item)] }
    }

    public func isAvailable() async -> Bool {
        await endpoint.breaker.isAvailable {
            let request = endpoint.request("GET", settings.healthURL)
            if case .answer(let status, _, _) = await endpoint.attemptOnce(request, timeout: endpoint.probeTimeout) {
                return status < 500 && status != 401 && status != 403
            }
            return false
        }
    }

    func scoreOne(_ item: ScoringItem) async throws -> Double {
        let body = try Self.requestBody(item, settings: settings)
        let what = "POST /pooling (prompt \(item.prompt.id))"
        let answer = try await endpoint.send("POST", settings.poolingURL, json: body, what: what)
        guard (200..<300).contains(answer.status) else {
            if answer.status == 404 || answer.status == 405 {
                // No /pooling here, or not this model: every request would fail alike.
                let reason =
                    "POST /pooling answered HTTP \(answer.status) (\(serverMessage(answer.body))); "
                    + "is --url a vLLM server running the reward model with --runner pooling, and --reward-model its name?"
                await endpoint.breaker.trip(reason)
                throw BackendError("vLLM reward server \(endpoint.name): \(reason)", retryable: true, unavailable: true)
            }
            throw BackendError(
                "vLLM reward server \(endpoint.name) refused prompt \(item.prompt.id)'s response with HTTP \(answer.status): \(serverMessage(answer.body))",
                retryable: false)
        }
        return try Self.parseScore(answer.body, scoreIndex: settings.scoreIndex, server: endpoint.name)
    }

    /// The JSON body for one (prompt, response).
    static func requestBody(_ item: ScoringItem, settings: VLLMRewardSettings) throws -> JSONValue {
        var messages: [JSONValue]
        if let messagesJSON = item.prompt.messagesJSON {
            guard let parsed = JSONValue.parse(Data(messagesJSON.utf8))?.arrayValue, !parsed.isEmpty else {
                throw BackendError("prompt \(item.prompt.id): its messages are not a non-empty JSON array", retryable: false)
            }
            messages = parsed
        } else if let text = item.prompt.text {
            messages = [.object(["role": .string("user"), "content": .string(text)])]
        } else {
            throw BackendError("prompt \(item.prompt.id) has neither text nor messages", retryable: false)
        }
        guard let response = item.text else {
            throw BackendError(
                "a response to prompt \(item.prompt.id) has no text (only token ids); the vLLM reward backend scores text — "
                    + "generate with a backend that returns text", retryable: false)
        }
        messages.append(.object(["role": .string("assistant"), "content": .string(response)]))
        var body: [String: JSONValue] = [
            "messages": .array(messages),
            "use_activation": .bool(settings.useActivation),
        ]
        if let model = settings.model { body["model"] = .string(model) }
        return .object(body)
    }

    /// The score in a `PoolingResponse` body.
    static func parseScore(_ data: Data, scoreIndex: Int?, server: String) throws -> Double {
        func malformed(_ reason: String) -> BackendError {
            BackendError("vLLM reward server \(server) answered \(reason): \(bodyExcerpt(data))", retryable: false)
        }
        guard let root = JSONValue.parse(data) else {
            let text = String(decoding: data.prefix(4096), as: UTF8.self)
            if text.contains("NaN") || text.contains("Infinity") { throw malformed("a non-finite score") }
            throw BackendError("vLLM reward server \(server) answered a malformed body (not JSON): \(bodyExcerpt(data))", retryable: true)
        }
        guard let entries = root["data"]?.arrayValue, entries.count == 1, let pooled = entries[0]["data"] else {
            throw malformed("no single data[0].data (is this vLLM's /pooling?)")
        }
        guard let values = pooled.arrayValue, let lastValue = values.last else {
            throw malformed(pooled.stringValue != nil ? "a base64 string instead of floats" : "an empty or non-list data[0].data")
        }
        // A token reward model answers one row per token: the last row scores the conversation.
        let row: [JSONValue]
        if let lastRow = lastValue.arrayValue {
            row = lastRow
        } else {
            row = values
        }
        let index: Int
        if let scoreIndex {
            guard row.indices.contains(scoreIndex) else {
                throw malformed("\(row.count) value(s), so no value at --score-index \(scoreIndex)")
            }
            index = scoreIndex
        } else {
            guard row.count == 1 else {
                throw malformed("\(row.count) values per response (a multi-label head?); choose one with --score-index")
            }
            index = 0
        }
        guard let score = row[index].numberValue else { throw malformed("a non-number as the score") }
        guard score.isFinite else { throw malformed("a non-finite score") }
        return score
    }
}
