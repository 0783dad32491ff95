import Buffer
import Foundation
import Postgres
import Selection
import TestSupport
import Testing

/// A scored iteration 0 of a run named `name`, with D_0 built. Prompt i is a message prompt when
/// `isChat(i)`, else text; its two samples score `0` and `gaps[i]`, so pair i has gap `gaps[i]`.
struct GapScenario {
    let buffer: ReplayBuffer
    let run: Int64
    let name: String
    /// Prompt ids in insertion order, and the gap of each prompt's pair.
    let gapByPrompt: [Int64: Double]
    let chatPrompts: Set<Int64>

    static func make(
        in database: TestDatabase, name: String = "gaps", gaps: [Double], skipZeroGap: Bool = false, isChat: (Int) -> Bool = { _ in false }
    ) async throws -> GapScenario {
        let buffer = ReplayBuffer(connection: try await database.connect())
        let set = try await buffer.promptSet(named: name)
        let contents = gaps.indices.map { i in isChat(i) ? "chat question \(i)" : "text prompt \(i) with \"quotes\"" }
        let records = gaps.indices.map { i in
            isChat(i)
                ? PromptRecord(messagesJSON: #"[{"content":"chat question \#(i)","role":"user"}]"#)
                : PromptRecord(text: contents[i])
        }
        _ = try await buffer.storePrompts(records, inSet: set, defaultSplit: .train, source: "test")
        // Prompt i by its content (ids need not follow insertion order).
        var idByContent: [String: Int64] = [:]
        for row in try await buffer.connection.query("SELECT id, coalesce(text, messages->0->>'content') FROM optune.prompts") {
            idByContent[try row.decode(1)] = try row.decode(0)
        }
        let prompts = try contents.map { try #require(idByContent[$0]) }
        let model = try await buffer.rewardModel(name: "m", version: "1", backend: "test")
        var config = RunConfig()
        config.skipZeroGap = skipZeroGap
        let run = try await buffer.createRun(name: name, promptSetID: set, rewardModelID: model, config: config)
        let policy = try await buffer.registerPolicy(run: run, t: 0, parent: nil, uri: "test://pi0")
        try await buffer.openIteration(run: run, t: 0, policy: policy, rho: 1, strategy: .full)
        _ = try await buffer.enqueueGeneration(run: run, t: 0, policy: policy, purpose: .train, promptIDs: prompts)
        let scenario = BufferScenario(buffer: buffer, setID: set, rewardModel: model, run: run, policy: policy, prompts: prompts)
        _ = try await buffer.insertResponses(scenario.responses())
        let stored = try await buffer.responses(run: run, t: 0)
        var gapByPrompt: [Int64: Double] = [:]
        var chat: Set<Int64> = []
        for (i, prompt) in prompts.enumerated() {
            gapByPrompt[prompt] = gaps[i]
            if isChat(i) { chat.insert(prompt) }
        }
        _ = try await buffer.recordRewards(
            stored.map { response in
                NewReward(
                    response: response.id, rewardModel: model, score: response.sampleIndex == 0 ? 0 : gapByPrompt[response.prompt] ?? 0)
            })
        _ = try await buffer.connection.run { c in
            try PairBuilder.build(run: run, t: 0, rewardModel: model, beta2: 5, previousPairsRun: nil, on: c)
        }
        return GapScenario(buffer: buffer, run: run, name: name, gapByPrompt: gapByPrompt, chatPrompts: chat)
    }

    /// Rows of `optune.exports`.
    func exportRows() async throws -> Int {
        try await buffer.connection.query("SELECT count(*) FROM optune.exports")[0].decode(0)
    }

    /// Replaces the LZ4 block of response `id`'s token blob with bytes that cannot decode; the
    /// header (and so every CHECK constraint) stays valid.
    func corruptTokens(ofResponse id: Int64) async throws {
        try await buffer.connection.execute(
            #"UPDATE optune.responses SET tokens = substring(tokens FROM 1 FOR 8) || '\xffffffffffffffffffff'::bytea WHERE id = $1"#, [id])
    }

    /// The chosen response of the pair for `prompt`.
    func chosenResponse(ofPrompt prompt: Int64) async throws -> Int64 {
        var found: Int64?
        try await buffer.forEachPairPage(run: run, t: 0) { page in
            for pair in page where pair.prompt == prompt { found = pair.chosenResponse }
        }
        return try #require(found)
    }
}

/// A fresh path in a fresh directory (so leftover temporary files can be checked).
func scratchDirectory() throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("optune-export-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
}

/// Parses a JSONL file (or bytes) into objects.
func jsonLines(_ data: Data) throws -> [[String: Any]] {
    try String(decoding: data, as: UTF8.self).split(separator: "\n").map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
}
