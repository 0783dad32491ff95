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

/// How wrong the demonstrations that π_0 learns from are, per task kind and answer length
/// (DESIGN §7).
///
/// Each answer digit of a prompt of kind k with n digits is independently replaced, with
/// probability ``rate(for:)`` = `corruption[k] + lengthSlope[k] · (n − 2)` (clipped to [0, 1]), by
/// a different digit drawn uniformly; lengths and EOS are always right. π_0 fitted to these puts
/// about 1 − rate of its mass on the right digit: weak where the demos are noisy, yet the right
/// digit stays the most likely one, so preference tuning can sharpen it. Difficulty comes from
/// the demos, not from tasks the network cannot learn.
public struct DemonstrationNoise: Sendable, Hashable, Codable {
    /// Probability that an answer digit of a 2-digit prompt is corrupted, per task kind
    /// (missing kinds: 0).
    public var corruption: [DigitTaskKind: Double]
    /// What each digit beyond the second adds to the corruption rate, per task kind (missing
    /// kinds: 0).
    public var lengthSlope: [DigitTaskKind: Double]

    public init(corruption: [DigitTaskKind: Double], lengthSlope: [DigitTaskKind: Double] = [:]) {
        precondition(corruption.values.allSatisfy { (0...1).contains($0) }, "corruption rates are probabilities")
        precondition(lengthSlope.values.allSatisfy { $0.isFinite && $0 >= 0 }, "length slopes are finite and ≥ 0")
        self.corruption = corruption
        self.lengthSlope = lengthSlope
    }

    private enum CodingKeys: String, CodingKey { case corruption, lengthSlope }

    /// Decodes `{"corruption": {...}, "lengthSlope": {...}}`; `lengthSlope` may be absent.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let corruption = try container.decode([DigitTaskKind: Double].self, forKey: .corruption)
        let slope = try container.decodeIfPresent([DigitTaskKind: Double].self, forKey: .lengthSlope) ?? [:]
        guard corruption.values.allSatisfy({ (0...1).contains($0) }) else {
            throw DecodingError.dataCorruptedError(forKey: .corruption, in: container, debugDescription: "rates must be in [0, 1]")
        }
        guard slope.values.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw DecodingError.dataCorruptedError(forKey: .lengthSlope, in: container, debugDescription: "slopes must be finite and ≥ 0")
        }
        self.init(corruption: corruption, lengthSlope: slope)
    }

    /// Clean copy demos, 25% of reverse digits and 45% of add-one digits corrupted: the three
    /// tasks span easy to hard, and the mean corruption over the noisy tasks is 35%.
    public static let standard = DemonstrationNoise(corruption: [.copy: 0, .reverse: 0.25, .addOne: 0.45])

    /// The graded family's noise: 0%, 10% and 20% for 2-digit copy, reverse and add-one
    /// prompts, plus 5 points per further digit, so every kind runs from easy to hard (copy
    /// 0–30%, reverse 10–40%, add-one 20–50%) in 11 levels of 5 points.
    public static let graded = DemonstrationNoise(
        corruption: [.copy: 0, .reverse: 0.10, .addOne: 0.20], lengthSlope: [.copy: 0.05, .reverse: 0.05, .addOne: 0.05])

    /// The corruption rate of the demonstrations of `prompt`.
    public func rate(for prompt: DigitPrompt) -> Double {
        let base = corruption[prompt.kind] ?? 0
        let slope = lengthSlope[prompt.kind] ?? 0
        return min(1, max(0, base + slope * Double(prompt.digits.count - DigitPrompt.minDigits)))
    }

    /// One demonstration per prompt; demo i is a pure function of `seed`, i and the prompt.
    public func demonstrations(for prompts: [DigitPrompt], seed: UInt64) -> [Demonstration] {
        prompts.enumerated().map { index, prompt in
            var rng = SplitMix64(seed: SplitMix64.mix(seed, UInt64(index)))
            let rate = rate(for: prompt)
            let digits = prompt.answer.map { digit -> UInt8 in
                guard rng.nextUnit() < rate else { return digit }
                return (digit + 1 + UInt8(rng.next() % 9)) % 10  // any digit but the right one
            }
            return Demonstration(prompt: prompt, response: digits.map { UInt32($0) } + [DigitVocabulary.eos])
        }
    }
}
