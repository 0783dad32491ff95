import Buffer
import Postgres

/// A small, valid buffer state to write into: a prompt set, a run, π_0 and iteration 0 with one
/// generation task per prompt.
public struct BufferScenario: Sendable {
    public let buffer: ReplayBuffer
    public let setID: Int64
    public let rewardModel: Int64
    public let run: Int64
    public let policy: Int64
    public let prompts: [Int64]

    public init(buffer: ReplayBuffer, setID: Int64, rewardModel: Int64, run: Int64, policy: Int64, prompts: [Int64]) {
        self.buffer = buffer
        self.setID = setID
        self.rewardModel = rewardModel
        self.run = run
        self.policy = policy
        self.prompts = prompts
    }

    /// Builds the scenario with `promptCount` train prompts in `database`.
    public static func make(in database: TestDatabase, promptCount: Int = 10, config: RunConfig = RunConfig()) async throws
        -> BufferScenario
    {
        let buffer = ReplayBuffer(connection: try await database.connect())
        let set = try await buffer.promptSet(named: "scenario")
        let records = (0..<promptCount).map { PromptRecord(text: "scenario prompt \($0)") }
        try await buffer.storePrompts(records, inSet: set, defaultSplit: .train, source: "test")
        let prompts = try await buffer.promptIDs(inSet: set, split: .train)
        let model = try await buffer.rewardModel(name: "test-reward", version: "1", backend: "builtin")
        let run = try await buffer.createRun(name: "scenario", promptSetID: set, rewardModelID: model, config: config)
        let policy = try await buffer.registerPolicy(run: run, t: 0, parent: nil, uri: "test://pi0")
        try await buffer.openIteration(run: run, t: 0, policy: policy, rho: 1, strategy: .full)
        try await buffer.enqueueGeneration(run: run, t: 0, policy: policy, purpose: .train, promptIDs: prompts)
        return BufferScenario(buffer: buffer, setID: set, rewardModel: model, run: run, policy: policy, prompts: prompts)
    }

    /// `samples` responses per prompt of iteration 0, with token ids derived from the key.
    public func responses(samples: Int = 2, prompts: ArraySlice<Int64>? = nil) -> [NewResponse] {
        (prompts ?? self.prompts[...]).flatMap { prompt in
            (0..<samples).map { sample in
                NewResponse(
                    run: run, t: 0, prompt: prompt, sampleIndex: sample, policy: policy,
                    tokens: (0..<(8 + sample)).map { UInt32(prompt) &* 1000 &+ UInt32($0) }, text: "answer \(prompt)/\(sample)",
                    finishReason: "stop", seed: prompt * 10 + Int64(sample))
            }
        }
    }

    /// Iteration 0 generated (``responses(samples:prompts:)``) and scored, waiting in `scoring`
    /// for the coordinator to build D_0. A response's score depends on its id and sample, so
    /// pairs have gaps of different sizes.
    public func scoredAwaitingBuild() async throws {
        try await buffer.insertResponses(responses())
        let stored = try await buffer.responses(run: run, t: 0)
        try await buffer.recordRewards(
            stored.map { NewReward(response: $0.id, rewardModel: rewardModel, score: Double($0.id % 7) + Double($0.sampleIndex)) })
        try await buffer.connection.execute("UPDATE optune.iterations SET state = 'scoring' WHERE run_id = $1 AND t = 0", [run])
    }
}
