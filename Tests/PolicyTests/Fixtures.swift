@testable import Policy

/// Models shared by the tests, built once per test process.
enum Fixtures {
    /// A small network for tests that need a model but not a good one.
    static let smallConfig = PolicyConfig(embeddingWidth: 16, firstHidden: 32, secondHidden: 32)

    /// The small network after a little SFT: peaked but not deterministic distributions.
    static let smallTrainedModel: PolicyModel = SFTTrainer.initialPolicy(
        config: smallConfig, demonstrations: 2000, seed: 4
    ).model

    /// Disjoint train and eval prompts for the training tests.
    static let split = DigitTaskFamily.split(trainCount: 500, evalCount: 500, seed: 21)

    /// π_0 with the default shape and SFT options (the eval prompts kept out of its demos).
    static let initialPolicy: PolicyModel = SFTTrainer.initialPolicy(excluding: split.eval, seed: 21).model

    /// Pairs from two samples per prompt: chosen = the higher reward, rejected = the lower; ties
    /// are dropped; weight R = σ(β2·(r_w − r_l)).
    static func pairs(from model: PolicyModel, prompts: [DigitPrompt], seed: UInt64, beta2: Double = 5)
        -> [PreferencePair]
    {
        let n = prompts.count
        let samples = model.sample(prompts: prompts + prompts, seeds: (0..<(2 * n)).map { SplitMix64.mix(seed, UInt64($0)) })
        return (0..<n).compactMap { i in
            let (a, b) = (samples[i], samples[n + i])
            let (ra, rb) = (DigitReward.score(prompt: prompts[i], response: a), DigitReward.score(prompt: prompts[i], response: b))
            guard ra != rb else { return nil }
            let (chosen, rejected, rw, rl) = ra > rb ? (a, b, ra, rb) : (b, a, rb, ra)
            return PreferencePair(
                prompt: prompts[i], chosen: chosen, rejected: rejected,
                weight: PreferenceLoss.pairWeight(chosenReward: rw, rejectedReward: rl, beta2: beta2))
        }
    }
}
