import Buffer
import Foundation
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
    /// Expired leases are looked for at most once a second, not on every wake-up.
    private let reclaim = PeriodicSchedule()

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
        // One round trip reads what every step needs; it is most of a step that waits on workers.
        let (record, latest, counts) = try await buffer.connection.run { [run] c in
            let record = try ReplayBuffer.runRecord(run, on: c)
            let latest = try ReplayBuffer.latestIteration(run: run, on: c)
            let queue = latest.flatMap { Self.queue(of: $0.state) }
            let counts = try latest.flatMap { latest in try queue.map { try ReplayBuffer.queueCounts($0, run: run, t: latest.t, on: c) } }
            return (record, latest, counts)
        }
        let finalT = (record.forkedFrom.map { $0.t + 1 } ?? 0) + record.config.iterations
        guard let latest else {
            let start: (t: Int, policy: Int64)
            if let fork = record.forkedFrom {
                guard let policy = try await buffer.trainedPolicy(run: fork.run, t: fork.t) else {
                    return .failed("run \(fork.run) has no trained policy at iteration \(fork.t) to fork from")
                }
                start = (fork.t + 1, policy)
            } else {
                guard let base = record.config.basePolicy else { return .failed("the run's config names no base policy π_0") }
                start = (0, base)
            }
            try await buffer.openIteration(run: record, t: start.t, policy: start.policy, finalT: finalT)
            try await buffer.setRunStatus(run, .running)
            return .progressed
        }
        let t = latest.t
        switch latest.state {
        case .selecting:
            return .failed("iteration \(t) is stuck in selecting")
        case .generating, .scoring:
            guard let queue = Self.queue(of: latest.state), let counts else { return .waiting }
            if counts.dead > 0 {
                // Within the run's tolerance the iteration goes on: the dead prompts keep their
                // D_{t−1} pairs (recorded in unpaired_prompts when D_t is built). Dead tasks only
                // grow, so past the tolerance it fails at once.
                let total = counts.pending + counts.leased + counts.done + counts.dead
                let tolerance = record.config.deadFractionTolerance
                let share = Double(counts.dead) / Double(max(1, total))
                if share > tolerance {
                    let reason =
                        "\(counts.dead) of \(total) \(queue.rawValue) task(s) dead at iteration \(t) "
                        + "(\(Self.percent(share)) > max-dead-fraction \(Self.percent(tolerance))); first error: \(counts.firstError ?? "none recorded"). "
                        + "Fix the cause, then `optune tasks retry --run \(record.name)` and resume the run"
                    try await buffer.failIteration(run: run, t: t, from: latest.state, reason: reason)
                    return .failed(reason)
                }
            }
            if counts.pending + counts.leased > 0 {
                if reclaim.isDue() { _ = try await buffer.reclaimExpiredLeases(queue) }
                return .waiting
            }
            if counts.dead > 0 {
                try await buffer.recordDeadTasks(run: run, t: t)
            }
            if latest.state == .generating {
                try await buffer.finishGeneration(run: run, t: t)
            } else if t >= finalT {
                try await buffer.startEvaluation(run: run, t: t)
            } else {
                try await buffer.buildPairs(run: record, t: t)
            }
            return .progressed
        case .building:
            try await buffer.buildPairs(run: record, t: t)
            return .progressed
        case .training:
            return .waiting
        case .evaluating:
            try await buffer.finishEvaluation(run: record, t: t, policy: latest.policy)
            return .iterationDone(t)
        case .done:
            if t >= finalT {
                if record.status != .done { try await buffer.setRunStatus(run, .done) }
                return .finished
            }
            guard let next = try await buffer.trainedPolicy(run: run, t: t) else {
                return .failed("iteration \(t) is done but no policy was trained")
            }
            try await buffer.openIteration(run: record, t: t + 1, policy: next, finalT: finalT)
            return .progressed
        case .failed:
            let reason = latest.failureReason ?? "iteration \(t) failed"
            if record.status != .failed { try await buffer.setRunStatus(run, .failed, reason: reason) }
            return .failed(reason)
        }
    }

    /// The queue an iteration in `state` waits on, if any.
    static func queue(of state: IterationState) -> WorkQueue? {
        switch state {
        case .generating: .generation
        case .scoring: .scoring
        default: nil
        }
    }

    static func percent(_ share: Double) -> String { String(format: "%.2f%%", share * 100) }

    /// Takes or renews the run's leadership for `holder` for `leaseSeconds`; false while another
    /// coordinator's lease is unexpired.
    public func acquireLeadership(holder: String, leaseSeconds: Double) async throws -> Bool {
        try await buffer.acquireRunLeadership(run: run, holder: holder, leaseSeconds: leaseSeconds)
    }
}
