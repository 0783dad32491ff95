import Backends
import Buffer
import Foundation
import Policy
import TokenCodec

/// The embedded default's task (DESIGN §7): a digit-task prompt set and its SFT start point π_0,
/// both created once per (family, sizes, seed) and reused by every run that asks for the same.
public struct BuiltinTask: Sendable {
    /// Which family: `digits` (the original, noise per kind) or `graded` (noise by kind and length).
    public var family: BuiltinTaskFamily = .digits
    public var trainPrompts = 1000
    public var evalPrompts = 1000
    /// Seeds the prompts and π_0 (initial weights, demo noise, SFT order).
    public var seed: UInt64 = 1

    public init() {}

    /// The most samples per prompt the built-in task allows.
    public static let maxSamplesPerPrompt = 8

    /// Prompts per task chunk for a run of this task when none is given: enough chunks for 4 per
    /// generator in every iteration (ρ of the train prompts after iteration 0), within 256…2048.
    ///
    /// The built-in policy samples thousands of prompts a second, so a chunk of 256 is about 40 ms
    /// of its work, and what a chunk costs the buffer whatever its size (a lease, reads of its
    /// prompts and responses, two fenced submissions, their commits, the wake-ups) was a quarter
    /// of the buffer's CPU in an iteration at 48k prompts. An LLM spends seconds on 256 prompts,
    /// so runs over imported prompts keep 256.
    public func defaultChunkSize(rho: Double, generators: Int) -> Int {
        let smallestIteration = Double(trainPrompts) * min(max(rho, 0), 1)
        let perGenerator = smallestIteration / Double(4 * max(1, generators))
        guard perGenerator.isFinite else { return Self.chunkSizes.lowerBound }
        return Int(min(max(perGenerator, Double(Self.chunkSizes.lowerBound)), Double(Self.chunkSizes.upperBound)))
    }

    /// The range ``defaultChunkSize(rho:generators:)`` chooses in.
    public static let chunkSizes = 256...2048

    /// The prompt set's name, e.g. `digits-1000-1000-s1` or `graded-1000-1000-s1`.
    public var setName: String { "\(family.rawValue)-\(trainPrompts)-\(evalPrompts)-s\(seed)" }

    /// `optune task init`: ensures the prompt set exists; returns its id.
    public func ensurePromptSet(buffer: ReplayBuffer) async throws -> Int64 {
        let set = try await buffer.promptSet(named: setName)
        let existing = try await buffer.promptIDs(inSet: set, split: .train).count
        if existing >= trainPrompts { return set }
        let (train, eval) = DigitTaskFamily.split(trainCount: trainPrompts, evalCount: evalPrompts, seed: seed)
        // Each prompt's metadata records its kind, length and difficulty level, so SQL can show
        // which prompts a selection takes (`metadata->>'difficulty'`).
        _ = try await buffer.storePrompts(
            train.map { PromptRecord(text: $0.text, split: .train, metadataJSON: $0.metadataJSON) }, inSet: set, defaultSplit: .train,
            source: "optune task init")
        _ = try await buffer.storePrompts(
            eval.map { PromptRecord(text: $0.text, split: .eval, metadataJSON: $0.metadataJSON) }, inSet: set, defaultSplit: .eval,
            source: "optune task init")
        return set
    }

    /// π_0 for this task: found in the buffer, or trained by SFT on noisy demonstrations and
    /// stored (compressed) as a shared base policy. Returns its id and whether it was trained now.
    /// Concurrent first uses (two `optune run` on a new home) train and store it once: see
    /// ``ReplayBuffer/ensureBasePolicy(configJSON:make:)``, which needs `buffer`'s connection to itself.
    public func ensureBasePolicy(buffer: ReplayBuffer) async throws -> (policy: Int64, trained: Bool) {
        // The digits family keeps its original key, so π_0s stored before families existed are reused.
        let config =
            family == .digits
            ? #"{"kind": "builtin-sft", "set": "\#(setName)", "seed": \#(seed)}"#
            : #"{"kind": "builtin-sft", "family": "\#(family.rawValue)", "set": "\#(setName)", "seed": \#(seed)}"#
        let (trainPrompts, evalPrompts, seed, family) = (trainPrompts, evalPrompts, seed, family)
        let (policy, created) = try await buffer.ensureBasePolicy(configJSON: config) {
            let (_, eval) = DigitTaskFamily.split(trainCount: trainPrompts, evalCount: evalPrompts, seed: seed)
            let result = await Task.detached { SFTTrainer.initialPolicy(noise: family.noise, excluding: eval, seed: seed) }.value
            return CompressedBytes.compress(result.model.serialized())
        }
        return (policy, created)
    }

    /// The reward model of the built-in task.
    public func ensureRewardModel(buffer: ReplayBuffer) async throws -> Int64 {
        try await buffer.rewardModel(
            name: "digits", version: "1", backend: "builtin",
            configJSON: #"{"reward": "fraction right minus length penalty, clipped to [0, 1]"}"#)
    }
}
