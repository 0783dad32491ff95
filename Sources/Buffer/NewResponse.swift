import TokenCodec

/// A generated response, as a generator submits it.
public struct NewResponse: Sendable, Hashable {
    public var run: Int64
    public var t: Int
    public var prompt: Int64
    /// 0-based index among the samples of this prompt in this iteration.
    public var sampleIndex: Int
    public var purpose: Purpose
    /// The policy that sampled it (π_t, or the policy being evaluated).
    public var policy: Int64
    /// The completion's token ids as a v1 token blob, or nil when the backend gave only text.
    public var tokenBlob: [UInt8]?
    /// Tokens in the completion (the blob's count when there is a blob).
    public var tokenCount: Int
    /// The prompt's token ids as a v1 blob, when the backend returned them.
    public var promptTokenBlob: [UInt8]?
    public var text: String?
    public var finishReason: String?
    /// Sampling parameters (temperature, top_p, max_tokens, …) as a JSON object.
    public var samplingJSON: String
    public var seed: Int64?
    public var worker: String?
    public var latencyMs: Double?
    public var logprobSum: Double?
    /// The generation chunk (`generation_tasks.chunk`) the response is submitted for. nil: the
    /// buffer finds the unsplit chunk of its run and t that holds the prompt.
    public var chunk: Int64?

    /// A response whose tokens are already encoded (`tokenBlob`, `tokenCount`) or text-only.
    public init(
        run: Int64, t: Int, prompt: Int64, sampleIndex: Int, purpose: Purpose = .train, policy: Int64,
        tokenBlob: [UInt8]?, tokenCount: Int, promptTokenBlob: [UInt8]? = nil, text: String? = nil,
        finishReason: String? = nil, samplingJSON: String = "{}", seed: Int64? = nil, worker: String? = nil,
        latencyMs: Double? = nil, logprobSum: Double? = nil
    ) {
        self.run = run
        self.t = t
        self.prompt = prompt
        self.sampleIndex = sampleIndex
        self.purpose = purpose
        self.policy = policy
        self.tokenBlob = tokenBlob
        self.tokenCount = tokenCount
        self.promptTokenBlob = promptTokenBlob
        self.text = text
        self.finishReason = finishReason
        self.samplingJSON = samplingJSON
        self.seed = seed
        self.worker = worker
        self.latencyMs = latencyMs
        self.logprobSum = logprobSum
    }

    /// A response from raw token ids, encoded here with the blob format v1.
    public init(
        run: Int64, t: Int, prompt: Int64, sampleIndex: Int, purpose: Purpose = .train, policy: Int64,
        tokens: [UInt32], text: String? = nil, finishReason: String? = nil, samplingJSON: String = "{}",
        seed: Int64? = nil, worker: String? = nil, latencyMs: Double? = nil
    ) {
        self.init(
            run: run, t: t, prompt: prompt, sampleIndex: sampleIndex, purpose: purpose, policy: policy,
            tokenBlob: TokenCodec.encode(tokens), tokenCount: tokens.count, text: text, finishReason: finishReason,
            samplingJSON: samplingJSON, seed: seed, worker: worker, latencyMs: latencyMs)
    }

    /// The first problem with this row, checked before anything is sent, or nil.
    func problem() -> String? {
        if sampleIndex < 0 { return "sample index \(sampleIndex) is negative" }
        if tokenCount < 0 { return "token count \(tokenCount) is negative" }
        if tokenBlob == nil && text == nil { return "has neither token ids nor text" }
        if let tokenBlob {
            do {
                let header = try TokenCodec.header(of: tokenBlob)
                if header.count != tokenCount {
                    return "token blob holds \(header.count) ids but the token count says \(tokenCount)"
                }
            } catch {
                return "token blob is invalid: \(error)"
            }
        }
        if let latencyMs, !(latencyMs.isFinite && latencyMs >= 0) { return "latency \(latencyMs) ms is not a finite, non-negative number" }
        if let logprobSum, !logprobSum.isFinite { return "logprob sum \(logprobSum) is not finite" }
        return nil
    }

    var keyDescription: String { "run \(run), t \(t), prompt \(prompt), sample \(sampleIndex)" }
}

/// A reward for one response under one reward model.
public struct NewReward: Sendable, Hashable {
    public var response: Int64
    public var rewardModel: Int64
    public var score: Double

    public init(response: Int64, rewardModel: Int64, score: Double) {
        self.response = response
        self.rewardModel = rewardModel
        self.score = score
    }
}

/// What a batch write did: rows stored, and rows that were already there (a resubmission).
public struct BatchOutcome: Sendable, Hashable {
    public var inserted: Int
    public var alreadyStored: Int

    public init(inserted: Int, alreadyStored: Int) {
        self.inserted = inserted
        self.alreadyStored = alreadyStored
    }
}
