import Backends
import Buffer
import Foundation
import Logging
import ServiceLifecycle

/// The scorer daemon: leases scoring tasks, scores every response of each task's prompt with
/// the reward backend, and submits the rewards with the lease's fencing token.
public struct ScorerService: Service, BatchWork, CustomStringConvertible {
    /// Names the service without its database URL (which must never reach logs).
    public var description: String { "ScorerService(worker: \(identity.id))" }

    let databaseURL: String
    let backend: any RewardBackend
    let settings: DaemonSettings
    let identity = WorkerIdentity(role: "scorer")
    let logger: Logger

    public init(databaseURL: String, backend: any RewardBackend, settings: DaemonSettings, logger: Logger) {
        self.databaseURL = databaseURL
        self.backend = backend
        self.settings = settings
        self.logger = identity.tagging(logger)
    }

    public func run() async throws {
        let loop = LeaseLoop(
            databaseURL: databaseURL, applicationName: "optune-score", identity: identity, settings: settings, logger: logger)
        try await loop.run(self)
    }

    var queue: WorkQueue { .scoring }
    var backendName: String { "reward backend" }
    func isBackendAvailable() async -> Bool { await backend.isAvailable() }

    func process(_ tasks: [LeasedTask], context: BatchContext) async throws -> Int {
        try await withLeaseExtension(.scoring, tasks, buffer: context.buffer, leaseSeconds: settings.leaseSeconds) {
            try await scoreAndSubmit(tasks, context: context)
        }
    }

    /// Scores every response of the batch's prompts and submits the rewards (fenced per task).
    /// A score outside the run's reward range fails its task for good, with the value named.
    private func scoreAndSubmit(_ tasks: [LeasedTask], context: BatchContext) async throws -> Int {
        let buffer = context.buffer
        let cache = context.cache
        let prompts = try await buffer.prompts(tasks.map(\.prompt), cache: settings.promptCache)
        var rewards: [NewReward] = []
        var taskOfResponse: [Int64: TaskKey] = [:]
        var failures: [(LeasedTask, BackendError)] = []
        struct Iteration: Hashable { var run: Int64, t: Int }
        for (key, group) in Dictionary(grouping: tasks, by: { Iteration(run: $0.run, t: $0.t) }) {
            let run = try await cache.run(key.run, buffer: buffer)
            let responses = try await buffer.responses(run: key.run, t: key.t, prompts: group.map(\.prompt))
            let items = try responses.map { response in
                guard let prompt = prompts[response.prompt] else {
                    throw BackendError("prompt \(response.prompt) is missing", retryable: false)
                }
                return ScoringItem(
                    prompt: PromptContent(id: prompt.id, text: prompt.text, messagesJSON: prompt.messagesJSON),
                    tokens: response.tokens, text: response.text)
            }
            let scores = try await backend.score(items)
            guard scores.count == items.count else {
                throw BackendError("reward backend returned \(scores.count) scores for \(items.count) responses", retryable: false)
            }
            let range = run.config.rewardRange
            var rejected: [Int64: BackendError] = [:]
            for (response, score) in zip(responses, scores) {
                if !score.isFinite || !range.contains(score) {
                    let expected = range.isUnbounded ? "a finite number" : "in [\(range.lowerBound), \(range.upperBound)]"
                    rejected[response.prompt] =
                        rejected[response.prompt]
                        ?? BackendError(
                            "reward \(score) of response \(response.id) is not \(expected) (run \(run.name), t \(key.t))", retryable: false)
                    continue
                }
                rewards.append(NewReward(response: response.id, rewardModel: run.rewardModelID, score: score))
                taskOfResponse[response.id] = TaskKey(run: key.run, t: key.t, prompt: response.prompt)
            }
            for task in group {
                if let error = rejected[task.prompt] { failures.append((task, error)) }
            }
        }
        let failed = Set(failures.map { TaskKey(run: $0.0.run, t: $0.0.t, prompt: $0.0.prompt) })
        let submitted = tasks.filter { !failed.contains(TaskKey(run: $0.run, t: $0.t, prompt: $0.prompt)) }
        let kept = rewards.filter { taskOfResponse[$0.response].map { !failed.contains($0) } ?? false }
        let outcome = try await context.submit("submitting scores", queue: .scoring) {
            try await buffer.submitScores(
                submitted, rewards: kept, taskOfResponse: taskOfResponse, failures: failures.map { TaskFailure($0.0, $0.1) })
        }
        if outcome.refused > 0 {
            logger.warning("lease lost before submitting; rewards dropped", metadata: ["refused": "\(outcome.refused)"])
        }
        context.count(failures, queue: .scoring)
        return kept.count
    }
}
