/// The built-in task families, by name (`optune run --task NAME`).
///
/// Both use the same prompts (``DigitTaskFamily``), policy and reward (``DigitReward``: the share
/// of right answer positions minus a length penalty, in [0, 1]); they differ in how noisy π_0's
/// demonstrations are, so in which prompts π_0 is weak.
public enum BuiltinTaskFamily: String, Sendable, Hashable, Codable, CaseIterable {
    /// The original task: demo noise per kind only (``DemonstrationNoise/standard``). Copy is
    /// solved at π_0, so "low reward" mostly means "not copy".
    case digits
    /// Graded difficulty: demo noise grows with the kind and the answer length
    /// (``DemonstrationNoise/graded``), 11 levels from 0% to 50%, spread over every kind.
    case graded

    /// The demonstration noise π_0 is fitted to.
    public var noise: DemonstrationNoise {
        switch self {
        case .digits: .standard
        case .graded: .graded
        }
    }
}

extension DigitPrompt {
    /// The prompt's difficulty level, 0 (easiest) … 10: the graded family's demo corruption rate
    /// in steps of 5 points (a pure function of kind and length, the same in every family, so a
    /// prompt shared by two prompt sets has one level).
    public var difficulty: Int {
        Int((DemonstrationNoise.graded.rate(for: self) * 20).rounded())
    }

    /// The prompt's metadata as a JSON object: `{"task": "digits", "kind": "reverse", "digits": 5,
    /// "difficulty": 5}`; SQL can group by `metadata->>'difficulty'`.
    public var metadataJSON: String {
        #"{"task": "digits", "kind": "\#(kind.rawValue)", "digits": \#(digits.count), "difficulty": \#(difficulty)}"#
    }
}
