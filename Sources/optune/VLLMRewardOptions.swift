import ArgumentParser
import Backends
import Foundation

/// Options of `score --backend vllm` (a reward model on vLLM's pooling API).
struct VLLMRewardOptions: ParsableArguments {
    @Option(help: "--backend vllm: the reward model's name as the server lists it (default: the server's only model).")
    var rewardModel: String?

    @Option(help: "--backend vllm: which value to use when the model returns several per response (0-based).")
    var scoreIndex: Int?

    @Flag(
        help:
            "--backend vllm: let the server apply its pooler activation (a sigmoid for a one-label head) instead of returning the raw reward."
    )
    var rewardActivation = false

    /// The flags given on the command line, for refusing them with another backend.
    var given: [String] {
        [("--reward-model", rewardModel != nil), ("--score-index", scoreIndex != nil), ("--reward-activation", rewardActivation)]
            .filter(\.1).map(\.0)
    }

    func validate() throws {
        if let rewardModel, rewardModel.isEmpty { throw ValidationError("--reward-model needs a model name") }
        if let scoreIndex, scoreIndex < 0 { throw ValidationError("--score-index must be 0 or more") }
    }

    func backend(url: URL, http: HTTPClientSettings) -> VLLMRewardBackend {
        var settings = VLLMRewardSettings(baseURL: url, http: http)
        settings.model = rewardModel
        settings.scoreIndex = scoreIndex
        settings.useActivation = rewardActivation
        return VLLMRewardBackend(settings: settings)
    }
}
