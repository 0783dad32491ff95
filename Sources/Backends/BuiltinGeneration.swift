import Policy

/// Generation with the built-in policy (DESIGN §7): prompts are digit tasks stored as text, the
/// policy's weights come from the buffer. CPU-bound work runs off the caller's task in a
/// detached task so a daemon's other work is not starved.
public struct BuiltinGenerationBackend: GenerationBackend {
    public init() {}

    public func generate(_ requests: [GenerationRequest], policy: PolicyHandle, sampling: SamplingParameters) async throws
        -> [[GeneratedSample]]
    {
        let model = try BuiltinModels.model(policy)
        var prompts: [DigitPrompt] = []
        var seeds: [UInt64] = []
        for request in requests {
            let prompt = try BuiltinModels.digitPrompt(request.prompt)
            for seed in request.seeds {
                prompts.append(prompt)
                seeds.append(seed)
            }
        }
        let sampled = await Task.detached {
            model.sample(
                prompts: prompts, seeds: seeds, temperature: sampling.temperature, topP: sampling.topP, maxTokens: sampling.maxTokens)
        }.value
        let logProbs = model.logProbabilities(prompts: prompts, responses: sampled)
        var results: [[GeneratedSample]] = []
        var index = 0
        for request in requests {
            results.append(
                request.seeds.indices.map { _ in
                    defer { index += 1 }
                    return GeneratedSample(
                        tokens: sampled[index], text: DigitVocabulary.text(of: sampled[index]),
                        finishReason: DigitVocabulary.finishReason(of: sampled[index]), logprobSum: logProbs[index])
                })
        }
        return results
    }
}

/// The built-in programmatic reward: fraction of digits right minus a length penalty, in [0, 1].
public struct BuiltinRewardBackend: RewardBackend {
    public init() {}

    public func score(_ items: [ScoringItem]) async throws -> [Double] {
        try items.map { item in
            guard let tokens = item.tokens else {
                throw BackendError("the built-in reward needs token ids; response of prompt \(item.prompt.id) has none", retryable: false)
            }
            return DigitReward.score(prompt: try BuiltinModels.digitPrompt(item.prompt), response: tokens)
        }
    }
}

/// DPO / wDPO with the built-in trainer (DESIGN §2 step 5), RMSProp with warm-up.
public struct BuiltinPreferenceTrainer: PreferenceTrainingBackend {
    public init() {}

    public func train(policy: PolicyHandle, pairs: [TrainingPair], settings: PreferenceTrainingSettings) async throws -> TrainingResult {
        let reference = try BuiltinModels.model(policy)
        let preferencePairs = try pairs.map { pair in
            PreferencePair(
                prompt: try BuiltinModels.digitPrompt(pair.prompt), chosen: pair.chosen, rejected: pair.rejected, weight: pair.weight)
        }
        let options = PreferenceOptions(settings)
        let result = await Task.detached { PreferenceTrainer.train(reference, on: preferencePairs, options: options) }.value
        return TrainingResult(weights: result.model.serialized(), lossCurve: result.stepLosses, pairsUsed: result.pairs)
    }
}

/// Shared helpers of the built-in backends.
enum BuiltinModels {
    static func model(_ policy: PolicyHandle) throws -> PolicyModel {
        guard let weights = policy.weights else {
            throw BackendError(
                "policy \(policy.id) has no built-in weights (it is served at \(policy.uri ?? "?")); use an HTTP backend", retryable: false)
        }
        do {
            return try PolicyModel(serialized: weights)
        } catch {
            throw BackendError("policy \(policy.id): \(error)", retryable: false)
        }
    }

    static func digitPrompt(_ prompt: PromptContent) throws -> DigitPrompt {
        guard let text = prompt.text, let parsed = DigitPrompt(text: text) else {
            throw BackendError(
                "prompt \(prompt.id) is not a built-in digit task (\"reverse: 3 1 4\"); the built-in backends only run those",
                retryable: false)
        }
        return parsed
    }
}
