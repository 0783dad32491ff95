import Backends
import Buffer

/// D_t of one iteration read from the buffer a page at a time: keyset pages of `pairs_pkey` for
/// the pass in position (prompt) order, and pages of prompt ids for a shuffled order. Holds the
/// prompt ids of the pairs to train on (positions are indexes into them), no token data.
///
/// The pass in position order also writes the pairs to a local scratch file (``PairSpill``), and
/// once it is complete the shuffled pages come from that file: the database serves D_t once per
/// training instead of once per epoch. Without the file, every page is read from the buffer.
struct BufferTrainingPairSource: TrainingPairSource {
    let buffer: ReplayBuffer
    let run: Int64
    let t: Int
    /// The prompt ids of the pairs trained on, ascending; position i is `prompts[i]`.
    let prompts: [Int64]
    /// Whether zero-gap pairs are left out (they are not in `prompts`).
    let skipZeroGap: Bool
    let pageSize: Int
    /// Prompts already read by this process's daemons, if they share them.
    var promptCache: PromptCache?
    /// The first pass's pairs on local disk, for the epochs.
    var spill = PairSpill()

    var count: Int { prompts.count }

    func forEachPage(_ body: ([TrainingPair]) async throws -> Void) async throws {
        var position = 0
        try await buffer.forEachTrainingPairPage(run: run, t: t, pageSize: pageSize, promptCache: promptCache) { records in
            let usable = skipZeroGap ? records.filter { !$0.zeroGap } : records
            for record in usable {
                guard position < prompts.count, prompts[position] == record.prompt.id else {
                    throw BufferError(
                        "D_\(t) of run \(run) changed while training read it (prompt \(record.prompt.id) at position \(position))")
                }
                position += 1
            }
            let pairs = usable.map(Self.trainingPair)
            spill.append(pairs, from: position - pairs.count)
            try await body(pairs)
        }
        guard position == prompts.count else {
            throw BufferError("D_\(t) of run \(run) changed while training read it (\(position) of \(prompts.count) pairs found)")
        }
        spill.finish(count: prompts.count)
    }

    func pairs(at positions: [Int]) async throws -> [TrainingPair] {
        if let spilled = try spill.pairs(at: positions) { return spilled }
        let ids = try positions.map { position in
            guard prompts.indices.contains(position) else {
                throw BufferError("pair position \(position) is outside D_\(t) of run \(run) (\(prompts.count) pairs)")
            }
            return prompts[position]
        }
        return try await buffer.trainingPairs(run: run, t: t, prompts: ids).map(Self.trainingPair)
    }

    static func trainingPair(_ record: TrainingPairRecord) -> TrainingPair {
        TrainingPair(
            prompt: PromptContent(id: record.prompt.id, text: record.prompt.text, messagesJSON: record.prompt.messagesJSON),
            chosen: record.chosen, rejected: record.rejected, weight: record.weight)
    }
}
