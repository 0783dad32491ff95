import Foundation

/// The built-in autoregressive policy: a two-layer ReLU network over the one-hot prompt features,
/// output position and previous token, with a softmax over ``DigitVocabulary`` (see
/// ``PolicyConfig`` for the equations).
///
/// A model is a value: its weights are one contiguous `[Float]` laid out by ``PolicyLayout``, and
/// training returns a new model. All computation is batched through `cblas_sgemm`. Results are a
/// pure function of the weights, inputs and seeds on a given machine and BLAS build (different
/// CPUs may round differently). Methods allocate their own scratch memory, so one model can serve
/// concurrent calls.
public struct PolicyModel: Sendable, Equatable {
    /// The network's shape.
    public let config: PolicyConfig
    /// Where each tensor sits in ``parameters``.
    public let layout: PolicyLayout
    /// All weights and biases, laid out by ``layout``.
    public internal(set) var parameters: [Float]

    /// A freshly initialised (untrained, near-uniform) model; the weights are a pure function of
    /// `seed`. He-normal hidden layers, a small output layer, zero biases.
    public init(config: PolicyConfig = PolicyConfig(), seed: UInt64) {
        self.config = config
        layout = config.layout
        var parameters = [Float](repeating: 0, count: layout.count)
        var rng = SplitMix64(seed: SplitMix64.mix(seed, 0x696E_6974))  // "init"
        // One input row has about 2 + 2·(mean digits) + 2 ≈ 14 ones; scale for that fan-in.
        let scales = [
            (layout.inputWeights, (1.0 / 14).squareRoot()),
            (layout.firstWeights, (2.0 / Double(layout.embeddingWidth)).squareRoot()),
            (layout.secondWeights, (2.0 / Double(layout.firstHidden)).squareRoot()),
            (layout.outputWeights, 0.1 * (1.0 / Double(layout.secondHidden)).squareRoot()),
        ]
        for (range, scale) in scales {
            for i in range { parameters[i] = Float(scale * rng.nextGaussian()) }
        }
        self.parameters = parameters
    }

    /// A model with the given weights; `parameters.count` must equal `config.layout.count`.
    public init(config: PolicyConfig, parameters: [Float]) {
        precondition(parameters.count == config.layout.count, "parameter count does not match the layout")
        self.config = config
        layout = config.layout
        self.parameters = parameters
    }

    /// log π(y | x) of each response: the sum over its ids of the log-probability of each id given
    /// the prompt and the ids before it. A trailing ``DigitVocabulary/eos`` is one of those ids, so
    /// this is exactly the log-probability of having sampled the response (at temperature 1,
    /// top-p 1). An empty response has log-probability 0. Every id must be below
    /// ``DigitVocabulary/size`` (a precondition).
    public func logProbabilities(prompts: [DigitPrompt], responses: [[UInt32]]) -> [Double] {
        precondition(prompts.count == responses.count, "one response per prompt")
        let workspace = Workspace(config: config)
        var result: [Double] = []
        result.reserveCapacity(prompts.count)
        parameters.withUnsafeBufferPointer { w in
            for chunk in chunks(prompts.count, size: Self.chunkSize) {
                let ranges = workspace.load(prompts: prompts[chunk], responses: responses[chunk])
                workspace.forward(w.baseAddress!)
                result += workspace.sequenceSums(ranges)
            }
        }
        return result
    }

    /// Samples one response per prompt; `seeds[i]` alone fixes the random draws of response i.
    ///
    /// Each step samples from softmax(logits / `temperature`) restricted to the smallest set of
    /// most likely ids whose probability reaches `topP` (nucleus sampling; ties keep the lower
    /// id). `temperature` ≤ 0 or a tiny `topP` is greedy. A response stops after
    /// ``DigitVocabulary/eos`` (which it keeps) or after `maxTokens` ids.
    public func sample(
        prompts: [DigitPrompt], seeds: [UInt64], temperature: Double = 1, topP: Double = 1, maxTokens: Int = 10
    ) -> [[UInt32]] {
        precondition(prompts.count == seeds.count, "one seed per prompt")
        precondition(maxTokens >= 0 && topP > 0, "maxTokens must be ≥ 0 and topP > 0")
        let workspace = Workspace(config: config)
        let sampler = TokenSampler(temperature: temperature, topP: topP)
        var result: [[UInt32]] = []
        result.reserveCapacity(prompts.count)
        parameters.withUnsafeBufferPointer { w in
            for chunk in chunks(prompts.count, size: Self.chunkSize) {
                let columns = prompts[chunk].map(workspace.features.promptColumns)
                var generators = seeds[chunk].map { SplitMix64(seed: SplitMix64.mix($0, 0x7361_6D70)) }  // "samp"
                var responses = [[UInt32]](repeating: [], count: chunk.count)
                var active = Array(0..<chunk.count)
                for step in 0..<maxTokens where !active.isEmpty {
                    workspace.reset(rows: active.count)
                    for (row, i) in active.enumerated() {
                        workspace.setRow(row, promptColumns: columns[i], step: step, previous: responses[i].last, target: nil)
                    }
                    workspace.forward(w.baseAddress!)
                    var stillActive: [Int] = []
                    for (row, i) in active.enumerated() {
                        let id = sampler.draw(
                            logits: workspace.logits.pointer + row * DigitVocabulary.size, using: &generators[i])
                        responses[i].append(id)
                        if id != DigitVocabulary.eos { stillActive.append(i) }
                    }
                    active = stillActive
                }
                result += responses
            }
        }
        return result
    }

    /// The most likely id at every step (no randomness), up to `maxTokens` ids.
    public func greedy(prompts: [DigitPrompt], maxTokens: Int = 10) -> [[UInt32]] {
        sample(prompts: prompts, seeds: [UInt64](repeating: 0, count: prompts.count), temperature: 0, maxTokens: maxTokens)
    }

    /// Sequences per forward pass when scoring or sampling (bounds memory, not results).
    static let chunkSize = 1024
}

extension Workspace {
    /// Lays out one row per id of each response (teacher forcing) and returns each response's rows.
    func load(prompts: ArraySlice<DigitPrompt>, responses: ArraySlice<[UInt32]>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(prompts.count)
        var total = 0
        for response in responses {
            ranges.append(total..<(total + response.count))
            total += response.count
        }
        reset(rows: total)
        for ((prompt, response), range) in zip(zip(prompts, responses), ranges) {
            let columns = features.promptColumns(prompt)
            var previous: UInt32?
            for (step, id) in response.enumerated() {
                precondition(id < UInt32(DigitVocabulary.size), "token id \(id) is outside the vocabulary")
                setRow(range.lowerBound + step, promptColumns: columns, step: step, previous: previous, target: id)
                previous = id
            }
        }
        return ranges
    }

    /// The sum of the rows' log π(target) over each range, after ``forward(_:)``.
    func sequenceSums(_ ranges: [Range<Int>]) -> [Double] {
        ranges.map { range in
            var sum = 0.0
            for row in range { sum += rowLogProbabilities.pointer[row] }
            return sum
        }
    }
}

/// Consecutive index ranges of at most `size` covering 0..<count.
func chunks(_ count: Int, size: Int) -> [Range<Int>] {
    stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
}
