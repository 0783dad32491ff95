/// The three tasks of the synthetic family (DESIGN §7).
public enum DigitTaskKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Answer the digits unchanged.
    case copy
    /// Answer the digits in reverse order.
    case reverse
    /// Answer each digit plus one, modulo 10.
    case addOne = "add-one"

    /// The answer's digit `i` for a prompt of `digits`.
    func answer(for digits: [UInt8]) -> [UInt8] {
        switch self {
        case .copy: digits
        case .reverse: digits.reversed()
        case .addOne: digits.map { ($0 + 1) % 10 }
        }
    }
}

/// One prompt of the synthetic task family: a task and 2–8 digits.
///
/// Prompts live in the database as ``text`` (`"reverse: 3 1 4"`) and are parsed back with
/// ``init(text:)``; the two are exact inverses for every valid prompt.
public struct DigitPrompt: Sendable, Hashable, Codable {
    /// The fewest digits a prompt has.
    public static let minDigits = 2
    /// The most digits a prompt has.
    public static let maxDigits = 8

    /// What to do with the digits.
    public var kind: DigitTaskKind
    /// The digits, each 0–9; between ``minDigits`` and ``maxDigits`` of them.
    public var digits: [UInt8]

    /// A prompt; `digits` must hold 2–8 values in 0–9.
    public init(kind: DigitTaskKind, digits: [UInt8]) {
        precondition(
            (Self.minDigits...Self.maxDigits).contains(digits.count) && digits.allSatisfy { $0 < 10 },
            "a digit prompt has 2–8 digits in 0–9")
        self.kind = kind
        self.digits = digits
    }

    /// Parses the form ``text`` writes: the kind's raw value, a colon, and the digits separated by
    /// single spaces (`"add-one: 0 9 5"`). Returns nil for anything else, including digit counts
    /// outside 2–8.
    public init?(text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let kind = DigitTaskKind(rawValue: String(parts[0])) else { return nil }
        let body = parts[1]
        guard body.first == " " else { return nil }
        let fields = body.dropFirst().split(separator: " ", omittingEmptySubsequences: false)
        var digits: [UInt8] = []
        for field in fields {
            guard field.utf8.count == 1, let byte = field.utf8.first, (48...57).contains(byte) else { return nil }
            digits.append(byte - 48)
        }
        guard (Self.minDigits...Self.maxDigits).contains(digits.count) else { return nil }
        self.init(kind: kind, digits: digits)
    }

    /// The stable human-readable form, for example `"reverse: 3 1 4"`.
    public var text: String {
        kind.rawValue + ": " + digits.map { String($0) }.joined(separator: " ")
    }

    private enum CodingKeys: String, CodingKey { case kind, digits }

    /// Decodes `{"kind": "reverse", "digits": [3, 1, 4]}`, rejecting what ``init(kind:digits:)``
    /// would not accept.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(DigitTaskKind.self, forKey: .kind)
        let digits = try container.decode([UInt8].self, forKey: .digits)
        guard (Self.minDigits...Self.maxDigits).contains(digits.count) && digits.allSatisfy({ $0 < 10 }) else {
            throw DecodingError.dataCorruptedError(
                forKey: .digits, in: container, debugDescription: "a digit prompt has 2–8 digits in 0–9")
        }
        self.init(kind: kind, digits: digits)
    }

    /// The correct answer's digits.
    public var answer: [UInt8] { kind.answer(for: digits) }

    /// The correct response as token ids, ending with ``DigitVocabulary/eos``.
    public var answerTokens: [UInt32] { answer.map { UInt32($0) } + [DigitVocabulary.eos] }
}

/// Deterministic prompt sets of the synthetic family.
///
/// Kind, length (2–8) and digits are drawn uniformly. Prompts within one call are distinct. Two
/// calls with different seeds can share prompts (there are only 300 two-digit prompts); use
/// ``split(trainCount:evalCount:seed:)`` for disjoint train and eval sets.
public enum DigitTaskFamily {
    /// `count` distinct prompts, a pure function of `seed`.
    public static func prompts(count: Int, seed: UInt64) -> [DigitPrompt] {
        draw(count: count, seed: seed, distinct: true, excluding: [])
    }

    /// `count` independent uniform draws (repeats allowed, so kinds and lengths stay exactly
    /// uniform), skipping any prompt in `excluded`; a pure function of `seed` and `excluded`.
    public static func independentPrompts(count: Int, seed: UInt64, excluding excluded: Set<DigitPrompt> = [])
        -> [DigitPrompt]
    {
        draw(count: count, seed: seed, distinct: false, excluding: excluded)
    }

    /// Disjoint train and eval sets drawn from one stream: the first `trainCount` distinct
    /// prompts are the train split, the next `evalCount` the eval split.
    public static func split(trainCount: Int, evalCount: Int, seed: UInt64)
        -> (train: [DigitPrompt], eval: [DigitPrompt])
    {
        let all = prompts(count: trainCount + evalCount, seed: seed)
        return (Array(all[..<trainCount]), Array(all[trainCount...]))
    }

    private static func draw(count: Int, seed: UInt64, distinct: Bool, excluding excluded: Set<DigitPrompt>)
        -> [DigitPrompt]
    {
        precondition(count >= 0 && count <= 10_000_000, "prompt count out of range")
        var seen = Set<DigitPrompt>()
        var rng = SplitMix64(seed: SplitMix64.mix(seed, 0x6469_6769_7473))  // "digits"
        let kinds = DigitTaskKind.allCases
        let lengths = DigitPrompt.minDigits...DigitPrompt.maxDigits
        var result: [DigitPrompt] = []
        result.reserveCapacity(count)
        while result.count < count {
            let kind = kinds[Int(rng.next() % UInt64(kinds.count))]
            let length = lengths.lowerBound + Int(rng.next() % UInt64(lengths.count))
            let digits = (0..<length).map { _ in UInt8(rng.next() % 10) }
            let prompt = DigitPrompt(kind: kind, digits: digits)
            guard !excluded.contains(prompt) else { continue }
            if !distinct || seen.insert(prompt).inserted { result.append(prompt) }
        }
        return result
    }
}
