import Buffer
import Postgres

/// The transitions of an iteration's life (DESIGN §4), each one transaction guarded by the
/// iteration's current state, so two coordinators can never both take one step. The
/// coordinator daemon calls these; the SQL stays here and in Buffer.
extension ReplayBuffer {
    /// Creates iteration `t` of `run` with π_t = `policy`, selects its prompts (unless `t` is
    /// the final, evaluation-only iteration) and enqueues its generation work, in one transaction.
    /// A selection that ranks D_{t−1} is preceded by ``settlePairs(on:)``.
    public func openIteration(run record: RunRecord, t: Int, policy: Int64, finalT: Int) async throws {
        let config = record.config
        let run = record.id
        // No statistics refresh here: D_{t−1}'s were taken when it was built, and the other
        // statements of the opening use index-forced plans.
        let fullyOnline = t == 0 || config.strategy == .full
        if t < finalT && !fullyOnline && config.strategy != .random {
            // The ranking reads D_{t−1} from pairs_selection_idx: mark its pages all-visible
            // first. Best effort: a failing VACUUM (a statement timeout, a cancel) only makes the
            // ranking slower; a lost connection still goes to the caller's recovery.
            do {
                try await connection.run { c in try Self.settlePairs(on: c) }
            } catch  where !Self.isConnectionLoss(error) {}
        }
        try await connection.transaction { c in
            try Self.createIteration(
                run: run, t: t, policy: policy, rho: fullyOnline ? 1 : config.rho, strategy: fullyOnline ? .full : config.strategy, on: c)
            var selection: Selector.Outcome?
            if t < finalT {
                let previous = t > 0 ? try Self.pairsOwner(run: run, t: t - 1, on: c) : run
                selection = try Selector.select(
                    Selector.Request(
                        run: run, t: t, strategy: fullyOnline ? .full : config.strategy, rho: config.rho, seed: config.seed,
                        promptSetID: record.promptSetID, previousPairsRun: previous, policy: policy, chunkSize: config.taskChunkSize),
                    on: c)
            }
            _ = try Self.enqueueEvaluationWork(
                run: run, t: t, policy: policy, promptSetID: record.promptSetID, chunkSize: config.taskChunkSize,
                selected: selection?.selected ?? 0, promptsTotal: selection?.promptCount, on: c)
            try Self.transition(run: run, t: t, from: .selecting, to: .generating, on: c)
        }
    }

    /// Generation is drained: records the iteration's generation counts and moves it to scoring.
    public func finishGeneration(run: Int64, t: Int) async throws {
        try await connection.transaction { c in
            try Self.recordGenerationCounts(run: run, t: t, on: c)
            try Self.transition(run: run, t: t, from: .generating, to: .scoring, on: c)
        }
    }

    /// Scoring of the final, evaluation-only iteration is drained: moves it to evaluating.
    public func startEvaluation(run: Int64, t: Int) async throws {
        try await connection.transaction { c in
            try Self.transition(run: run, t: t, from: .scoring, to: .evaluating, on: c)
        }
    }

    /// Builds D_t (scoring → building → training) in one transaction; a repeat after a crash in
    /// `building` finishes the job, and one after another coordinator did it changes nothing.
    public func buildPairs(run record: RunRecord, t: Int) async throws {
        let run = record.id
        try await connection.transaction { c in
            if try Self.transition(run: run, t: t, from: .scoring, to: .building, on: c) == false {
                guard try Self.latestIteration(run: run, on: c)?.state == .building else { return }
            }
            let previous = t > 0 ? try Self.pairsOwner(run: run, t: t - 1, on: c) : nil
            let outcome = try PairBuilder.build(
                run: run, t: t, rewardModel: record.rewardModelID, beta2: record.config.beta2, previousPairsRun: previous, on: c)
            try Self.recordPairCounts(run: run, t: t, pairs: outcome.pairs, reused: outcome.reused, zeroGap: outcome.zeroGap, on: c)
            try Self.transition(run: run, t: t, from: .building, to: .training, on: c)
        }
    }

    /// Evaluates π_t from the iteration's scored eval responses and moves it to done.
    public func finishEvaluation(run record: RunRecord, t: Int, policy: Int64) async throws {
        let run = record.id
        try await connection.transaction { c in
            try Self.recordEvaluation(run: run, t: t, policy: policy, rewardModel: record.rewardModelID, on: c)
            try Self.transition(run: run, t: t, from: .evaluating, to: .done, on: c)
        }
    }

    /// Marks iteration t failed (from `state`) and the run with it, with `reason`.
    public func failIteration(run: Int64, t: Int, from state: IterationState, reason: String) async throws {
        try await connection.transaction { c in
            try Self.transition(run: run, t: t, from: state, to: .failed, failureReason: reason, on: c)
            try Self.setRunStatus(run, .failed, reason: reason, on: c)
        }
    }
}
