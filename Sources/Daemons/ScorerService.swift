import Backends
import Buffer
import Foundation
import Logging
import ServiceLifecycle

/// The scorer daemon: leases scoring tasks, scores every response of each task's prompt with
/// the reward backend, and submits the rewards with the lease's fencing token.
public struct ScorerService: Service, CustomStringConvertible {
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
        let buffer = try await ReplayBuffer.connect(to: databaseURL, applicationName: "optune-score")
        let wakeUp = await WakeUp(databaseURL: databaseURL, pollInterval: settings.pollInterval)
        let cache = RunCache()
        try await identity.heartbeat(buffer)
        logger.info("scorer started")
        var outage = OutageLog(logger: logger, what: "reward backend")
        while !Task.shouldStop {
            try await buffer.reclaimExpiredLeases(.scoring)
            // An HTTP reward endpoint that is down (circuit open): lease nothing meanwhile.
            guard await backend.isAvailable() else {
                try await outage.unavailable(heartbeat: { try await identity.heartbeat(buffer) })
                try? await Task.sleep(for: settings.unavailablePause)
                continue
            }
            outage.available()
            let tasks = try await buffer.lease(.scoring, owner: identity.id, limit: settings.batchSize, leaseSeconds: settings.leaseSeconds, run: settings.run)
            if tasks.isEmpty {
                await wakeUp.wait()
                try await identity.heartbeat(buffer)
                continue
            }
            do {
                try await process(tasks, buffer: buffer, cache: cache)
            } catch let error as BackendError {
                // Unavailable: back to the queue uncounted; otherwise pending again or dead with the error.
                try await settleFailures(tasks.map { ($0, error) }, queue: .scoring, buffer: buffer, owner: identity.id, logger: logger)
            }
        }
        try await buffer.releaseLeases(.scoring, owner: identity.id)
        try await buffer.workerStopped(identity.id)
        await wakeUp.close()
        await buffer.connection.close()
        logger.info("scorer stopped")
    }

    func process(_ tasks: [LeasedTask], buffer: ReplayBuffer, cache: RunCache) async throws {
        try await withLeaseExtension(.scoring, tasks, buffer: buffer, leaseSeconds: settings.leaseSeconds) {
            try await scoreAndSubmit(tasks, buffer: buffer, cache: cache)
        }
    }

    private func scoreAndSubmit(_ tasks: [LeasedTask], buffer: ReplayBuffer, cache: RunCache) async throws {
        let prompts = try await buffer.prompts(tasks.map(\.prompt))
        var rewards: [NewReward] = []
        var promptOfResponse: [Int64: Int64] = [:]
        for (key, group) in Dictionary(grouping: tasks, by: { TaskKey(run: $0.run, t: $0.t, prompt: 0) }) {
            let run = try await cache.run(key.run, buffer: buffer)
            let responses = try await buffer.responses(run: key.run, t: key.t, prompts: group.map(\.prompt))
            let items = try responses.map { response in
                guard let prompt = prompts[response.prompt] else { throw BackendError("prompt \(response.prompt) is missing", retryable: false) }
                return ScoringItem(prompt: PromptContent(id: prompt.id, text: prompt.text, messagesJSON: prompt.messagesJSON),
                                   tokens: response.tokens, text: response.text)
            }
            let scores = try await backend.score(items)
            guard scores.count == items.count else {
                throw BackendError("reward backend returned \(scores.count) scores for \(items.count) responses", retryable: false)
            }
            for (response, score) in zip(responses, scores) {
                guard score.isFinite else {
                    throw BackendError("reward backend returned a non-finite score (\(score)) for response \(response.id)", retryable: false)
                }
                rewards.append(NewReward(response: response.id, rewardModel: run.rewardModelID, score: score))
                promptOfResponse[response.id] = response.prompt
            }
        }
        let outcome = try await buffer.submitScores(tasks, rewards: rewards, promptOfResponse: promptOfResponse)
        if outcome.refused > 0 { logger.warning("lease lost before submitting; rewards dropped", metadata: ["refused": "\(outcome.refused)"]) }
    }
}
