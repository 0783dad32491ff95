/// A prompt with a target response (token ids ending with ``DigitVocabulary/eos``) for SFT.
public struct Demonstration: Sendable, Hashable, Codable {
    /// The prompt.
    public var prompt: DigitPrompt
    /// The target ids, ending with ``DigitVocabulary/eos``.
    public var response: [UInt32]

    public init(prompt: DigitPrompt, response: [UInt32]) {
        self.prompt = prompt
        self.response = response
    }
}

/// How wrong the demonstrations that π_0 learns from are, per task (DESIGN §7).
///
/// Each answer digit of a prompt of kind k is independently replaced, with probability
/// `corruption[k]`, by a different digit drawn uniformly; lengths and EOS are always right. π_0
/// fitted to these puts about 1 − rate of its mass on the right digit: weak where the demos are
/// noisy, yet the right digit stays the most likely one, so preference tuning can sharpen it.
/// Difficulty comes from the demos, not from tasks the network cannot learn.
public struct DemonstrationNoise: Sendable, Hashable, Codable {
    /// Probability that an answer digit is corrupted, per task kind (missing kinds: 0).
    public var corruption: [DigitTaskKind: Double]

    public init(corruption: [DigitTaskKind: Double]) {
        precondition(corruption.values.allSatisfy { (0...1).contains($0) }, "corruption rates are probabilities")
        self.corruption = corruption
    }

    /// Clean copy demos, 25% of reverse digits and 45% of add-one digits corrupted: the three
    /// tasks span easy to hard, and the mean corruption over the noisy tasks is 35%.
    public static let standard = DemonstrationNoise(corruption: [.copy: 0, .reverse: 0.25, .addOne: 0.45])

    /// One demonstration per prompt; demo i is a pure function of `seed`, i and the prompt.
    public func demonstrations(for prompts: [DigitPrompt], seed: UInt64) -> [Demonstration] {
        prompts.enumerated().map { index, prompt in
            var rng = SplitMix64(seed: SplitMix64.mix(seed, UInt64(index)))
            let rate = corruption[prompt.kind] ?? 0
            let digits = prompt.answer.map { digit -> UInt8 in
                guard rng.nextUnit() < rate else { return digit }
                return (digit + 1 + UInt8(rng.next() % 9)) % 10  // any digit but the right one
            }
            return Demonstration(prompt: prompt, response: digits.map { UInt32($0) } + [DigitVocabulary.eos])
        }
    }
}
