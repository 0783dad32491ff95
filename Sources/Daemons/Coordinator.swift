import Buffer
import Foundation
import Postgres
import Selection

/// The selection service's logic for one run: advances its iterations through the state
/// machine of DESIGN §4, one guarded transaction at a time.
///
/// Iterations 0 … T−1 select, generate (train prompts and the eval split), score, build D_t and
/// train π_{t+1}; iteration t's eval responses evaluate π_t. A final iteration T only evaluates
/// π_T. Every step is idempotent: a coordinator that crashes and restarts picks up where the
/// database says the run is.
public struct Coordinator: Sendable {
    public let buffer: ReplayBuffer
    public let run: Int64

    public init(buffer: ReplayBuffer, run: Int64) {
        self.buffer = buffer
        self.run = run
    }

    /// What one step did.
    public enum Step: Sendable, Equatable {
        /// Something changed; call again.
        case progressed
        /// Iteration t finished.
        case iterationDone(Int)
        /// Waiting on workers (generators, scorers, a trainer).
        case waiting
        /// The run is done.
        case finished
        /// The run failed, with the reason.
        case failed(String)
    }

    /// Advances the run by at most one transition.
    public func step() async throws -> Step {
        let record = try await buffer.runRecord(run)
        let finalT = (record.forkedFrom.map { $0.t + 1 } ?? 0) + record.config.iterations
        guard let latest = try await buffer.connection.run({ [run] c in try ReplayBuffer.latestIteration(run: run, on: c) }) else {
            let start: (t: Int, policy: Int64)
            if let fork = record.forkedFrom {
                guard let policy = try await buffer.connection.run({ c in try ReplayBuffer.trainedPolicy(run: fork.run, t: fork.t, on: c) }) else {
                    return .failed("run \(fork.run) has no trained policy at iteration \(fork.t) to fork from")
                }
                start = (fork.t + 1, policy)
            } else {
                guard let base = record.config.basePolicy else { return .failed("the run's config names no base policy π_0") }
                start = (0, base)
            }
            try await open(t: start.t, policy: start.policy, record: record, finalT: finalT)
            try await buffer.connection.run { [run] c in try ReplayBuffer.setRunStatus(run, "running", on: c) }
            return .progressed
        }
        let t = latest.t
        switch latest.state {
        case .selecting:
            return .failed("iteration \(t) is stuck in selecting")
        case .generating, .scoring:
            let queue: WorkQueue = latest.state == .generating ? .generation : .scoring
            let counts = try await buffer.connection.run { [run] c in try ReplayBuffer.queueCounts(queue, run: run, t: t, on: c) }
            if counts.dead > 0 {
                // Within the run's tolerance the iteration goes on: the dead prompts keep their
                // D_{t−1} pairs (recorded in unpaired_prompts when D_t is built). Dead tasks only
                // grow, so past the tolerance it fails at once.
                let total = counts.pending + counts.leased + counts.done + counts.dead
                let tolerance = record.config.deadFractionTolerance
                let share = Double(counts.dead) / Double(max(1, total))
                if share > tolerance {
                    let reason = "\(counts.dead) of \(total) \(queue.rawValue) task(s) dead at iteration \(t) "
                        + "(\(Self.percent(share)) > max-dead-fraction \(Self.percent(tolerance))); first error: \(counts.firstError ?? "none recorded"). "
                        + "Fix the cause, then `optune tasks retry --run \(record.name)` and resume the run"
                    try await fail(t: t, from: latest.state, reason: reason)
                    return .failed(reason)
                }
            }
            if counts.pending + counts.leased > 0 {
                _ = try await buffer.reclaimExpiredLeases(queue)
                return .waiting
            }
            if counts.dead > 0 {
                try await buffer.connection.run { [run] c in try ReplayBuffer.recordDeadTasks(run: run, t: t, on: c) }
            }
            if latest.state == .generating {
                try await buffer.connection.transaction { [run] c in
                    try ReplayBuffer.recordGenerationCounts(run: run, t: t, on: c)
                    try ReplayBuffer.transition(run: run, t: t, from: .generating, to: .scoring, on: c)
                }
            } else if t >= finalT {
                try await buffer.connection.transaction { [run] c in
                    try ReplayBuffer.transition(run: run, t: t, from: .scoring, to: .evaluating, on: c)
                }
            } else {
                try await buildPairs(t: t, record: record)
            }
            return .progressed
        case .building:
            try await buildPairs(t: t, record: record)
            return .progressed
        case .training:
            return .waiting
        case .evaluating:
            try await buffer.connection.transaction { [run] c in
                try ReplayBuffer.recordEvaluation(run: run, t: t, policy: latest.policy, rewardModel: record.rewardModelID, on: c)
                try ReplayBuffer.transition(run: run, t: t, from: .evaluating, to: .done, on: c)
            }
            return .iterationDone(t)
        case .done:
            if t >= finalT {
                if record.status != "done" {
                    try await buffer.connection.run { [run] c in try ReplayBuffer.setRunStatus(run, "done", on: c) }
                }
                return .finished
            }
            guard let next = try await buffer.connection.run({ [run] c in try ReplayBuffer.trainedPolicy(run: run, t: t, on: c) }) else {
                return .failed("iteration \(t) is done but no policy was trained")
            }
            try await open(t: t + 1, policy: next, record: record, finalT: finalT)
            return .progressed
        case .failed:
            let reason = latest.failureReason ?? "iteration \(t) failed"
            if record.status != "failed" {
                try await buffer.connection.run { [run] c in try ReplayBuffer.setRunStatus(run, "failed", reason: reason, on: c) }
            }
            return .failed(reason)
        }
    }

    /// Creates iteration t, selects its prompts and enqueues its work, in one transaction.
    func open(t: Int, policy: Int64, record: RunRecord, finalT: Int) async throws {
        let config = record.config
        // No statistics refresh here: D_{t−1}'s were taken when it was built, and the other
        // statements of the opening use index-forced plans.
        let fullyOnline = t == 0 || config.strategy == .full
        try await buffer.connection.transaction { [run] c in
            try ReplayBuffer.createIteration(
                run: run, t: t, policy: policy, rho: fullyOnline ? 1 : config.rho, strategy: fullyOnline ? .full : config.strategy, on: c)
            if t < finalT {
                let previous = t > 0 ? try ReplayBuffer.pairsOwner(run: run, t: t - 1, on: c) : run
                try Selector.select(
                    run: run, t: t, strategy: fullyOnline ? .full : config.strategy, rho: config.rho, seed: config.seed,
                    promptSetID: record.promptSetID, previousPairsRun: previous, on: c)
            }
            _ = try ReplayBuffer.enqueueIterationWork(
                run: run, t: t, policy: policy, promptSetID: record.promptSetID, train: t < finalT, eval: true, on: c)
            try ReplayBuffer.transition(run: run, t: t, from: .selecting, to: .generating, on: c)
        }
    }

    /// Builds D_t and hands the iteration to the trainers, in one transaction.
    func buildPairs(t: Int, record: RunRecord) async throws {
        // The iteration's responses and rewards were written since the last statistics.
        try await buffer.connection.run { c in try ReplayBuffer.refreshBuildStatistics(on: c) }
        try await buffer.connection.transaction { [run] c in
            if try ReplayBuffer.transition(run: run, t: t, from: .scoring, to: .building, on: c) == false {
                guard try ReplayBuffer.latestIteration(run: run, on: c)?.state == .building else { return }
            }
            let previous = t > 0 ? try ReplayBuffer.pairsOwner(run: run, t: t - 1, on: c) : nil
            let outcome = try PairBuilder.build(
                run: run, t: t, rewardModel: record.rewardModelID, beta2: record.config.beta2, previousPairsRun: previous, on: c)
            try ReplayBuffer.recordPairCounts(run: run, t: t, reused: outcome.reused, zeroGap: outcome.zeroGap, on: c)
            try ReplayBuffer.transition(run: run, t: t, from: .building, to: .training, on: c)
        }
    }

    static func percent(_ share: Double) -> String { String(format: "%.2f%%", share * 100) }

    func fail(t: Int, from state: IterationState, reason: String) async throws {
        try await buffer.connection.transaction { [run] c in
            try ReplayBuffer.transition(run: run, t: t, from: state, to: .failed, failureReason: reason, on: c)
            try ReplayBuffer.setRunStatus(run, "failed", reason: reason, on: c)
        }
    }

    /// Takes or renews the run's leadership for `holder` for `leaseSeconds`; false while another
    /// coordinator's lease is unexpired.
    public func acquireLeadership(holder: String, leaseSeconds: Double) async throws -> Bool {
        try await buffer.acquireRunLeadership(run: run, holder: holder, leaseSeconds: leaseSeconds)
    }
}
