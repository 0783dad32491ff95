/// The shape of a ``PolicyModel``.
///
/// The network is
///
///     e  = prompt features · W_p + E_pos[t] + E_prev[y_{t−1}]   (embeddingWidth; one-hot inputs, one GEMM)
///     h1 = ReLU(e · W_1 + b_1)           (firstHidden units)
///     h2 = ReLU(h1 · W_2 + b_2)          (secondHidden units)
///     π(· | x, y_<t) = softmax(h2 · W_o + b_o)   over ``DigitVocabulary/size`` ids
///
/// where the prompt features are the task (one-hot), the length (one-hot) and the digits in
/// slots aligned both left (slot i = digit i) and right (slot i = digit n−1−i), each one-hot.
public struct PolicyConfig: Sendable, Hashable, Codable {
    /// Width of the input embedding: the sum of the prompt projection, the position embedding
    /// and the previous-token embedding (linear, no activation).
    public var embeddingWidth: Int
    /// Units of the first ReLU layer.
    public var firstHidden: Int
    /// Units of the second ReLU layer.
    public var secondHidden: Int
    /// Rows of the position embedding; steps at or beyond the last row share it.
    public var maxPositions: Int

    /// DESIGN §7's shape: a 128-wide input embedding, two ReLU layers of 256, and 12 positions
    /// (enough for 8 digits + EOS and the default 10-token limit). About 126k parameters.
    public init(embeddingWidth: Int = 128, firstHidden: Int = 256, secondHidden: Int = 256, maxPositions: Int = 12) {
        precondition(
            embeddingWidth > 0 && firstHidden > 0 && secondHidden > 0 && maxPositions > 0, "layer sizes must be positive")
        self.embeddingWidth = embeddingWidth
        self.firstHidden = firstHidden
        self.secondHidden = secondHidden
        self.maxPositions = maxPositions
    }

    private enum CodingKeys: String, CodingKey { case embeddingWidth, firstHidden, secondHidden, maxPositions }

    /// Decodes a config, rejecting sizes ``init(embeddingWidth:firstHidden:secondHidden:maxPositions:)``
    /// would not accept (non-positive, or over 65536).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let sizes = try [CodingKeys.embeddingWidth, .firstHidden, .secondHidden, .maxPositions].map { key in
            let value = try container.decode(Int.self, forKey: key)
            guard (1...(1 << 16)).contains(value) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be in 1...65536")
            }
            return value
        }
        self.init(embeddingWidth: sizes[0], firstHidden: sizes[1], secondHidden: sizes[2], maxPositions: sizes[3])
    }

    /// Where each tensor sits in ``PolicyModel/parameters``.
    public var layout: PolicyLayout { PolicyLayout(config: self) }
}

/// Offsets of the tensors in a model's single contiguous `[Float]` of parameters.
///
/// Matrices are row-major with the input dimension first (`inputWidth × embeddingWidth`, …), so
/// a batch of input rows times a matrix is one row-major GEMM. Order: W_in, W_1, b_1, W_2, b_2,
/// W_o, b_o. W_in stacks the prompt projection, the position embedding and the previous-token
/// embedding.
public struct PolicyLayout: Sendable, Hashable {
    /// Features of one input row: prompt features, then position one-hot, then previous-token one-hot.
    public let inputWidth: Int
    /// See ``PolicyConfig/embeddingWidth``.
    public let embeddingWidth: Int
    /// See ``PolicyConfig/firstHidden``.
    public let firstHidden: Int
    /// See ``PolicyConfig/secondHidden``.
    public let secondHidden: Int
    /// ``DigitVocabulary/size``.
    public let outputs: Int

    /// W_in, `inputWidth × embeddingWidth`: prompt projection, position and previous-token embeddings.
    public let inputWeights: Range<Int>
    /// W_1, `embeddingWidth × firstHidden`.
    public let firstWeights: Range<Int>
    /// b_1, `firstHidden`.
    public let firstBias: Range<Int>
    /// W_2, `firstHidden × secondHidden`.
    public let secondWeights: Range<Int>
    /// b_2, `secondHidden`.
    public let secondBias: Range<Int>
    /// W_o, `secondHidden × outputs`.
    public let outputWeights: Range<Int>
    /// b_o, `outputs`.
    public let outputBias: Range<Int>

    /// All parameters.
    public var count: Int { outputBias.upperBound }

    init(config: PolicyConfig) {
        let features = InputFeatures(maxPositions: config.maxPositions)
        inputWidth = features.width
        embeddingWidth = config.embeddingWidth
        firstHidden = config.firstHidden
        secondHidden = config.secondHidden
        outputs = DigitVocabulary.size
        var offset = 0
        func take(_ n: Int) -> Range<Int> {
            defer { offset += n }
            return offset..<(offset + n)
        }
        inputWeights = take(inputWidth * embeddingWidth)
        firstWeights = take(embeddingWidth * firstHidden)
        firstBias = take(firstHidden)
        secondWeights = take(firstHidden * secondHidden)
        secondBias = take(secondHidden)
        outputWeights = take(secondHidden * outputs)
        outputBias = take(outputs)
    }
}

/// Column offsets of the one-hot input row.
struct InputFeatures: Sendable {
    static let kinds = DigitTaskKind.allCases.count
    static let lengths = DigitPrompt.maxDigits - DigitPrompt.minDigits + 1
    static let slots = DigitPrompt.maxDigits * 10
    /// Previous token: the 11 vocabulary ids plus beginning-of-sequence.
    static let previousTokens = DigitVocabulary.size + 1

    let maxPositions: Int

    var kindOffset: Int { 0 }
    var lengthOffset: Int { Self.kinds }
    var leftSlotOffset: Int { lengthOffset + Self.lengths }
    var rightSlotOffset: Int { leftSlotOffset + Self.slots }
    var positionOffset: Int { rightSlotOffset + Self.slots }
    var previousOffset: Int { positionOffset + maxPositions }
    var width: Int { previousOffset + Self.previousTokens }

    /// The columns set to 1 by the prompt (task, length, both digit alignments).
    func promptColumns(_ prompt: DigitPrompt) -> [Int32] {
        let kind = DigitTaskKind.allCases.firstIndex(of: prompt.kind)!
        let n = prompt.digits.count
        var columns: [Int32] = [Int32(kindOffset + kind), Int32(lengthOffset + n - DigitPrompt.minDigits)]
        columns.reserveCapacity(2 + 2 * n)
        for (i, digit) in prompt.digits.enumerated() {
            columns.append(Int32(leftSlotOffset + 10 * i + Int(digit)))
            columns.append(Int32(rightSlotOffset + 10 * (n - 1 - i) + Int(digit)))
        }
        return columns
    }

    /// The position column of output step `step`.
    func positionColumn(_ step: Int) -> Int32 { Int32(positionOffset + min(step, maxPositions - 1)) }

    /// The previous-token column: beginning-of-sequence at step 0, else the previous id.
    func previousColumn(_ previous: UInt32?) -> Int32 {
        Int32(previousOffset + (previous.map { Int(min($0, UInt32(DigitVocabulary.size - 1))) } ?? DigitVocabulary.size))
    }
}
