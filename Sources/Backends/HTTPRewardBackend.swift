import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Settings of `HTTPRewardBackend`.
public struct HTTPRewardSettings: Sendable, CustomStringConvertible {
    /// Where batches are POSTed.
    public var url: URL
    /// What an open circuit probes with GET (default: `url`). Any HTTP answer below 500 but
    /// 401/403 counts as up — a POST-only endpoint answering 405 to a GET is up.
    public var healthURL: URL?
    public var http: HTTPClientSettings
    /// Items per POST; a scoring batch larger than this is split into several requests.
    public var itemsPerRequest = 64

    public init(url: URL, http: HTTPClientSettings = HTTPClientSettings(apiKey: HTTPRewardSettings.apiKeyFromEnvironment())) {
        self.url = url
        self.http = http
    }

    /// `OPTUNE_REWARD_API_KEY`, or nil. (The generation server's key is deliberately not reused:
    /// a reward server may belong to someone else.)
    public static func apiKeyFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let value = environment["OPTUNE_REWARD_API_KEY"], !value.isEmpty { return value }
        return nil
    }

    public var description: String {
        "HTTPRewardSettings(url: \(displayName(of: url)), \(http), itemsPerRequest: \(itemsPerRequest))"
    }
}

/// Scores responses with a reward model behind HTTP.
///
/// The contract: `POST url` with `Content-Type: application/json` (and `Authorization: Bearer
/// $OPTUNE_REWARD_API_KEY` when that is set) and the body
///
/// ```json
/// {"items": [{"prompt": "…", "messages": [{"role": "user", "content": "…"}],
///             "response": "…", "response_token_ids": [1, 2, 3]}]}
/// ```
///
/// - `prompt`: the prompt's text; for a prompt imported as chat messages, the content of its
///   last user message (the whole conversation is in `messages`).
/// - `messages`: present only for chat prompts, as imported.
/// - `response`: the response's text, or null when the generator stored only token ids.
/// - `response_token_ids`: present when the response has token ids.
///
/// The server answers 200 with one finite number per item, in order, as a bare list
/// `[0.5, …]`, `{"scores": […]}` or `{"rewards": […]}`. A wrong count, a non-number or a
/// non-finite value is a non-retryable error carrying the server's text; so is any 4xx other
/// than 429, 401, 403, 404 and 405 (a refused key or a wrong URL stops the daemon leasing
/// instead, as if the server were down). 429, 5xx, timeouts and connection errors are retried with backoff, then reported
/// as retryable; a body that is not JSON is a retryable error. Batches larger than
/// `itemsPerRequest` are split and sent concurrently (up to `http.maxConcurrentRequests`).
public struct HTTPRewardBackend: RewardBackend {
    public let settings: HTTPRewardSettings
    let endpoint: HTTPEndpoint

    public init(settings: HTTPRewardSettings) {
        self.settings = settings
        endpoint = HTTPEndpoint(name: displayName(of: settings.url), settings: settings.http)
    }

    public func score(_ items: [ScoringItem]) async throws -> [Double] {
        guard !items.isEmpty else { return [] }
        let size = max(1, settings.itemsPerRequest)
        let chunks = stride(from: 0, to: items.count, by: size).map { Array(items[$0..<min($0 + size, items.count)]) }
        return try await scoreConcurrently(chunks, limit: settings.http.maxConcurrentRequests) { chunk in try await scoreChunk(chunk) }
    }

    public func isAvailable() async -> Bool {
        await endpoint.breaker.isAvailable {
            let request = endpoint.request("GET", settings.healthURL ?? settings.url)
            if case .answer(let status, _, _) = await endpoint.attemptOnce(request, timeout: endpoint.probeTimeout) {
                return status < 500 && status != 401 && status != 403
            }
            return false
        }
    }

    func scoreChunk(_ items: [ScoringItem]) async throws -> [Double] {
        let body = try Self.requestBody(items)
        let what = "POST (\(items.count) responses)"
        let answer = try await endpoint.send("POST", settings.url, json: body, what: what)
        guard (200..<300).contains(answer.status) else {
            if answer.status == 404 || answer.status == 405 {
                // A wrong --url: every batch would fail alike, so stop leasing rather than kill tasks.
                let reason = "POST answered HTTP \(answer.status) (\(serverMessage(answer.body))); is --url the reward endpoint?"
                await endpoint.breaker.trip(reason)
                throw BackendError("reward server \(endpoint.name): \(reason)", retryable: true, unavailable: true)
            }
            throw BackendError(
                "reward server \(endpoint.name) refused \(items.count) responses with HTTP \(answer.status): \(serverMessage(answer.body))",
                retryable: false)
        }
        return try Self.parseScores(answer.body, expected: items.count, server: endpoint.name)
    }

    static func requestBody(_ items: [ScoringItem]) throws -> JSONValue {
        let list = try items.map { item -> JSONValue in
            var entry: [String: JSONValue] = [:]
            var promptText = item.prompt.text
            if let messagesJSON = item.prompt.messagesJSON {
                guard let messages = JSONValue.parse(Data(messagesJSON.utf8)), let array = messages.arrayValue else {
                    throw BackendError("prompt \(item.prompt.id): its messages are not a JSON array", retryable: false)
                }
                entry["messages"] = messages
                if promptText == nil {
                    promptText =
                        array.last(where: { $0["role"]?.stringValue == "user" })?["content"]?.stringValue
                        ?? array.last?["content"]?.stringValue
                }
            }
            entry["prompt"] = promptText.map { .string($0) } ?? .null
            entry["response"] = item.text.map { .string($0) } ?? .null
            if let tokens = item.tokens { entry["response_token_ids"] = .ids(tokens) }
            return .object(entry)
        }
        return .object(["items": .array(list)])
    }

    static func parseScores(_ data: Data, expected: Int, server: String) throws -> [Double] {
        guard let root = JSONValue.parse(data) else {
            let text = String(decoding: data.prefix(4096), as: UTF8.self)
            if text.contains("NaN") || text.contains("Infinity") {
                throw BackendError("reward server \(server) returned a non-finite score: \(bodyExcerpt(data))", retryable: false)
            }
            throw BackendError("reward server \(server) answered a malformed body (not JSON): \(bodyExcerpt(data))", retryable: true)
        }
        let list: [JSONValue]
        if let array = root.arrayValue {
            list = array
        } else if let array = root["scores"]?.arrayValue ?? root["rewards"]?.arrayValue {
            list = array
        } else {
            throw BackendError(
                "reward server \(server) answered neither a list nor {\"scores\": [...]} nor {\"rewards\": [...]}: \(bodyExcerpt(data))",
                retryable: false)
        }
        guard list.count == expected else {
            throw BackendError(
                "reward server \(server) returned \(list.count) scores for \(expected) responses: \(bodyExcerpt(data))", retryable: false)
        }
        return try list.enumerated().map { index, value in
            guard let score = value.numberValue else {
                throw BackendError(
                    "reward server \(server) returned a non-number as score \(index): \(bodyExcerpt(data))", retryable: false)
            }
            guard score.isFinite else {
                throw BackendError("reward server \(server) returned a non-finite score \(index): \(bodyExcerpt(data))", retryable: false)
            }
            return score
        }
    }
}
