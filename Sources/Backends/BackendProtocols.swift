/// A prompt as a backend sees it.
public struct PromptContent: Sendable, Hashable {
    public var id: Int64
    /// Plain text, or nil for a conversational prompt.
    public var text: String?
    /// A JSON array of chat messages, or nil for a plain prompt.
    public var messagesJSON: String?

    public init(id: Int64, text: String?, messagesJSON: String?) {
        self.id = id
        self.text = text
        self.messagesJSON = messagesJSON
    }
}

/// The policy a generator must sample from: built-in weights, or a served model's name/URI.
public struct PolicyHandle: Sendable, Hashable {
    public var id: Int64
    /// Serialized built-in weights (already decompressed), if this is a built-in policy.
    public var weights: [UInt8]?
    /// The model name or URI an external server knows this policy by.
    public var uri: String?

    public init(id: Int64, weights: [UInt8]?, uri: String?) {
        self.id = id
        self.weights = weights
        self.uri = uri
    }
}

/// Sampling settings, recorded with every response.
public struct SamplingParameters: Sendable, Hashable, Codable {
    public var temperature: Double = 1.0
    public var topP: Double = 1.0
    public var maxTokens: Int = 12
    /// Stop sequences (HTTP backends only; nil = none, and then absent from the recorded JSON).
    public var stop: [String]?

    public init(temperature: Double = 1.0, topP: Double = 1.0, maxTokens: Int = 12, stop: [String]? = nil) {
        self.temperature = temperature
        self.topP = topP
        self.maxTokens = maxTokens
        self.stop = stop
    }
}

/// One request: `seeds.count` samples of one prompt, one seed per sample.
public struct GenerationRequest: Sendable, Hashable {
    public var prompt: PromptContent
    public var seeds: [UInt64]

    public init(prompt: PromptContent, seeds: [UInt64]) {
        self.prompt = prompt
        self.seeds = seeds
    }
}

/// One generated sample.
public struct GeneratedSample: Sendable, Hashable {
    /// Completion token ids, or nil when the backend returned only text (never invented).
    public var tokens: [UInt32]?
    public var text: String?
    public var finishReason: String?
    public var logprobSum: Double?
    /// The prompt's token ids as the server saw them (e.g. after its chat template), when it
    /// returned them; nil otherwise (never invented).
    public var promptTokens: [UInt32]?
    /// How long this sample took, when the backend measured it per sample.
    public var latencyMs: Double?
    /// The completion's length in tokens as the server reported it (`usage.completion_tokens`
    /// of a one-sample request), when it did; used when `tokens` is nil.
    public var reportedTokenCount: Int?

    public init(
        tokens: [UInt32]?, text: String?, finishReason: String?, logprobSum: Double? = nil,
        promptTokens: [UInt32]? = nil, latencyMs: Double? = nil, reportedTokenCount: Int? = nil
    ) {
        self.tokens = tokens
        self.text = text
        self.finishReason = finishReason
        self.logprobSum = logprobSum
        self.promptTokens = promptTokens
        self.latencyMs = latencyMs
        self.reportedTokenCount = reportedTokenCount
    }

    /// The completion's length in tokens: the ids' count when there are ids, else the count
    /// the server reported, else 0 (unknown).
    public var tokenCount: Int { tokens?.count ?? reportedTokenCount ?? 0 }
}

/// Produces responses from a policy (DESIGN §6: a built-in and an HTTP implementation).
public protocol GenerationBackend: Sendable {
    /// Generates for every request with `policy`; the result has one array per request, with
    /// one sample per seed, in order.
    func generate(_ requests: [GenerationRequest], policy: PolicyHandle, sampling: SamplingParameters) async throws -> [[GeneratedSample]]

    /// Like `generate`, but one outcome per request, so one prompt's failure (a 400 for a prompt
    /// longer than the context, say) does not fail the others. The default calls `generate` and
    /// gives every request its error.
    func generateEach(
        _ requests: [GenerationRequest], policy: PolicyHandle, sampling: SamplingParameters
    ) async throws -> [Result<[GeneratedSample], BackendError>]

    /// Whether the backend can take work now. A daemon asks before leasing and does not lease
    /// while this is false (an HTTP backend's circuit is open, or its server does not serve the
    /// policy yet); the call itself probes the endpoint when a probe is due. Default: true.
    func isAvailable() async -> Bool
}

extension GenerationBackend {
    public func generateEach(
        _ requests: [GenerationRequest], policy: PolicyHandle, sampling: SamplingParameters
    ) async throws -> [Result<[GeneratedSample], BackendError>] {
        do {
            let results = try await generate(requests, policy: policy, sampling: sampling)
            guard results.count == requests.count else {
                let error = BackendError("the backend returned \(results.count) results for \(requests.count) requests", retryable: false)
                return requests.map { _ in .failure(error) }
            }
            return results.map { .success($0) }
        } catch let error as BackendError {
            return requests.map { _ in .failure(error) }
        }
    }

    public func isAvailable() async -> Bool { true }
}

/// One (prompt, response) to score.
public struct ScoringItem: Sendable, Hashable {
    public var prompt: PromptContent
    public var tokens: [UInt32]?
    public var text: String?

    public init(prompt: PromptContent, tokens: [UInt32]?, text: String?) {
        self.prompt = prompt
        self.tokens = tokens
        self.text = text
    }
}

/// Scores responses; every score must be finite.
public protocol RewardBackend: Sendable {
    func score(_ items: [ScoringItem]) async throws -> [Double]

    /// Whether the backend can take work now (see `GenerationBackend.isAvailable`). Default: true.
    func isAvailable() async -> Bool
}

extension RewardBackend {
    public func isAvailable() async -> Bool { true }
}

/// One training pair as a trainer sees it.
public struct TrainingPair: Sendable, Hashable {
    public var prompt: PromptContent
    public var chosen: [UInt32]
    public var rejected: [UInt32]
    public var weight: Double

    public init(prompt: PromptContent, chosen: [UInt32], rejected: [UInt32], weight: Double) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
        self.weight = weight
    }
}

/// Settings of one π_t → π_{t+1} training step (DESIGN §2 step 5).
public struct PreferenceTrainingSettings: Sendable, Hashable, Codable {
    public var weighted: Bool
    public var beta1: Double
    public var learningRate: Double = 2e-4
    public var epochs: Int = 4
    public var batchSize: Int = 64
    public var seed: UInt64 = 0

    public init(weighted: Bool, beta1: Double, seed: UInt64) {
        self.weighted = weighted
        self.beta1 = beta1
        self.seed = seed
    }
}

/// What training produced.
public struct TrainingResult: Sendable {
    /// Serialized weights of π_{t+1}.
    public var weights: [UInt8]
    public var lossCurve: [Double]
    public var pairsUsed: Int

    public init(weights: [UInt8], lossCurve: [Double], pairsUsed: Int) {
        self.weights = weights
        self.lossCurve = lossCurve
        self.pairsUsed = pairsUsed
    }
}

/// Trains π_t → π_{t+1} on pairs with DPO or wDPO.
public protocol PreferenceTrainingBackend: Sendable {
    func train(policy: PolicyHandle, pairs: [TrainingPair], settings: PreferenceTrainingSettings) async throws -> TrainingResult
}

/// A backend failure, with whether trying again may help (429, 5xx, timeouts) or not (4xx).
public struct BackendError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var retryable: Bool
    /// The work was not really attempted: the endpoint could not be reached (connection refused,
    /// 503, circuit open) or does not serve the policy yet. A daemon returns such tasks to the
    /// queue without counting the attempt and stops leasing until `isAvailable()` says so.
    public var unavailable: Bool

    public init(_ message: String, retryable: Bool, unavailable: Bool = false) {
        self.message = message
        self.retryable = retryable || unavailable
        self.unavailable = unavailable
    }

    public var description: String { message }
}
