/// Mean reward of a policy on a prompt set, by ``DigitReward``.
public enum PolicyEvaluation {
    /// Mean reward of one sampled response per prompt; prompt i uses seed mix(`seed`, i).
    public static func meanReward(
        of model: PolicyModel, on prompts: [DigitPrompt], seed: UInt64, temperature: Double = 1, topP: Double = 1,
        maxTokens: Int = 10
    ) -> Double {
        let seeds = prompts.indices.map { SplitMix64.mix(seed, UInt64($0)) }
        let responses = model.sample(
            prompts: prompts, seeds: seeds, temperature: temperature, topP: topP, maxTokens: maxTokens)
        return mean(prompts, responses)
    }

    /// Mean reward of the greedy response to each prompt.
    public static func greedyMeanReward(of model: PolicyModel, on prompts: [DigitPrompt], maxTokens: Int = 10) -> Double {
        mean(prompts, model.greedy(prompts: prompts, maxTokens: maxTokens))
    }

    private static func mean(_ prompts: [DigitPrompt], _ responses: [[UInt32]]) -> Double {
        guard !prompts.isEmpty else { return 0 }
        let total = zip(prompts, responses).reduce(0.0) { $0 + DigitReward.score(prompt: $1.0, response: $1.1) }
        return total / Double(prompts.count)
    }
}
