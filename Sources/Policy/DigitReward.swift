/// The programmatic reward of the synthetic task family, in [0, 1].
///
/// With n the answer's length and k the number of digits before the response's first ``DigitVocabulary/eos``:
///
///     score = (positions i < min(n, k) where the response is right) / n
///           − ``lengthPenalty`` · |k − n| / n,      clipped to [0, 1]
///
/// So the exact answer scores 1, every wrong digit costs 1/n, and every missing or extra digit
/// costs a further 0.5/n. Ids after the first EOS are ignored; a response without EOS (cut off at
/// the token limit) is judged on all its ids.
public enum DigitReward {
    /// Extra cost of each missing or surplus position, as a fraction of one position.
    public static let lengthPenalty = 0.5

    /// The reward of `response` (token ids, see ``DigitVocabulary``) for `prompt`.
    public static func score(prompt: DigitPrompt, response: [UInt32]) -> Double {
        let answer = prompt.answer
        let produced = response.prefix { $0 != DigitVocabulary.eos }
        let n = answer.count
        var right = 0
        for (i, id) in produced.prefix(n).enumerated() where id == UInt32(answer[i]) {
            right += 1
        }
        let mismatch = abs(produced.count - n)
        let raw = (Double(right) - lengthPenalty * Double(mismatch)) / Double(n)
        return min(1, max(0, raw))
    }
}
