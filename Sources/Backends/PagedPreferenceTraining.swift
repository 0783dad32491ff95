import Policy

/// D_t as a paged trainer reads it: ``count`` pairs at positions 0..<count, a page at a time.
public protocol TrainingPairSource: Sendable {
    /// Pairs to train on.
    var count: Int { get }

    /// About how many pairs a page holds (a trainer reads shuffled orders in pages of this size too).
    var pageSize: Int { get }

    /// Calls `body` with every pair in position order, a page at a time.
    func forEachPage(_ body: ([TrainingPair]) async throws -> Void) async throws

    /// The pairs at `positions` (each in 0..<``count``), in that order.
    func pairs(at positions: [Int]) async throws -> [TrainingPair]
}

/// A trainer that reads D_t page by page from a ``TrainingPairSource`` instead of taking it
/// whole, so its memory is bounded by a page of token ids rather than by |D_t|.
public protocol PagedPreferenceTrainingBackend: PreferenceTrainingBackend {
    /// Trains π_t = `policy` on the pairs of `source` and returns π_{t+1}.
    func train(policy: PolicyHandle, source: some TrainingPairSource, settings: PreferenceTrainingSettings) async throws
        -> TrainingResult
}

extension BuiltinPreferenceTrainer: PagedPreferenceTrainingBackend {
    /// Trains exactly as ``train(policy:pairs:settings:)`` on the same pairs in position order
    /// (bit-identical weights and loss curve), holding about two pages of pairs at a time.
    public func train(policy: PolicyHandle, source: some TrainingPairSource, settings: PreferenceTrainingSettings) async throws
        -> TrainingResult
    {
        let reference = try BuiltinModels.model(policy)
        let result = try await PreferenceTrainer.train(
            reference, from: DigitPairSource(pairs: source), options: PreferenceOptions(settings))
        return TrainingResult(weights: result.model.serialized(), lossCurve: result.stepLosses, pairsUsed: result.pairs)
    }
}

extension PreferenceOptions {
    /// The built-in trainer's options for `settings`: RMSProp with a 10% warm-up.
    init(_ settings: PreferenceTrainingSettings) {
        self.init(
            loss: settings.weighted ? .wdpo : .dpo, beta: settings.beta1, epochs: settings.epochs, batchSize: settings.batchSize,
            optimizer: OptimizerSettings(kind: .rmsProp, learningRate: settings.learningRate, warmupFraction: 0.1),
            seed: settings.seed)
    }
}

/// A ``TrainingPairSource`` seen as built-in digit-task pairs.
struct DigitPairSource<Pairs: TrainingPairSource>: PreferencePairSource {
    let pairs: Pairs

    var count: Int { pairs.count }
    var pageSize: Int { pairs.pageSize }

    func forEachPage(_ body: ([PreferencePair]) async throws -> Void) async throws {
        try await pairs.forEachPage { page in try await body(try page.map(Self.digitPair)) }
    }

    func pairs(at positions: [Int]) async throws -> [PreferencePair] {
        try await pairs.pairs(at: positions).map(Self.digitPair)
    }

    static func digitPair(_ pair: TrainingPair) throws -> PreferencePair {
        PreferencePair(
            prompt: try BuiltinModels.digitPrompt(pair.prompt), chosen: pair.chosen, rejected: pair.rejected, weight: pair.weight)
    }
}
