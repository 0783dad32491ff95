/// The policy's output vocabulary: the digits 0–9 (ids 0–9) and end-of-sequence (id 10).
///
/// A response is the list of sampled ids *including* the final ``eos`` when the policy stopped
/// by itself; a response cut off at the token limit has no ``eos``. Log-probabilities and the
/// reward treat responses the same way, so a stored response means exactly what was sampled.
public enum DigitVocabulary {
    /// Number of output ids.
    public static let size = 11
    /// The end-of-sequence id.
    public static let eos: UInt32 = 10

    /// The digits before the first ``eos``, space-separated (`"4 1 3"`); ids above 10 print as `?`.
    public static func text(of response: [UInt32]) -> String {
        response.prefix { $0 != eos }.map { $0 < 10 ? String($0) : "?" }.joined(separator: " ")
    }

    /// Whether the response ended with ``eos`` (`"stop"`) or ran out of tokens (`"length"`).
    public static func finishReason(of response: [UInt32]) -> String {
        response.last == eos ? "stop" : "length"
    }
}
