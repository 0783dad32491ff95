/// One element of D_t: a prompt, its chosen (y_w) and rejected (y_l) responses, and the pair's
/// wDPO weight R.
///
/// Responses are token ids as ``PolicyModel/sample(prompts:seeds:temperature:topP:maxTokens:)``
/// returns them (ending with EOS when the policy stopped).
public struct PreferencePair: Sendable, Hashable, Codable {
    /// x.
    public var prompt: DigitPrompt
    /// y_w, the higher-reward response.
    public var chosen: [UInt32]
    /// y_l, the lower-reward response.
    public var rejected: [UInt32]
    /// R = σ(β2·(r_w − r_l)) (see ``PreferenceLoss/pairWeight(chosenReward:rejectedReward:beta2:)``); used by wDPO only.
    public var weight: Double

    public init(prompt: DigitPrompt, chosen: [UInt32], rejected: [UInt32], weight: Double = 1) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
        self.weight = weight
    }
}
