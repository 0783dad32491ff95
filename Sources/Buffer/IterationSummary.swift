import Postgres

/// One line of `optune run`'s report: what iteration t of a run did and cost.
public struct IterationSummary: Sendable, Hashable {
    public var run: Int64
    public var t: Int
    /// Mean reward of π_t on the eval split (sampled), if evaluated.
    public var evalReward: Double?
    /// Mean chosen reward r_w over D_t, if D_t was built.
    public var meanChosenReward: Double?
    public var promptsTotal: Int
    /// Prompts regenerated at t (N, or all at t = 0).
    public var regenerated: Int
    public var reused: Int
    /// Train tokens generated at t.
    public var tokensGenerated: Int
    /// Train tokens the run's lineage generated at its fully-online iteration 0: the estimate of
    /// what ρ = 1 would have generated per iteration.
    public var fullIterationTokens: Int?
    /// The last value of the training loss curve, if π_{t+1} was trained.
    public var finalLoss: Double?
    /// Seconds per stage: select, generate, score, build, train, evaluate.
    public var stageSeconds: [String: Double]

    /// 1 − tokens / tokens at ρ = 1 (estimated from iteration 0).
    public var tokenSaving: Double? {
        guard let full = fullIterationTokens, full > 0 else { return nil }
        return 1 - Double(tokensGenerated) / Double(full)
    }
}

extension ReplayBuffer {
    /// The summary of iteration (`run`, `t`).
    public func iterationSummary(run: Int64, t: Int) async throws -> IterationSummary {
        let rootRun = try await connection.run { c in try Self.pairsOwner(run: run, t: 0, on: c) }
        let row = try await connection.query(
            """
            SELECT
                (SELECT mean_reward FROM optune.evaluations e WHERE e.run_id = i.run_id AND e.t = i.t AND e.split = 'eval' LIMIT 1),
                (SELECT avg(r_w) FROM optune.pairs p WHERE p.run_id = i.run_id AND p.t = i.t),
                i.prompts_total, i.selected, i.reused, i.tokens_generated,
                (SELECT tokens_generated FROM optune.iterations z WHERE z.run_id = $3 AND z.t = 0),
                (SELECT loss_curve[array_length(loss_curve, 1)] FROM optune.training_runs tr WHERE tr.run_id = i.run_id AND tr.t = i.t),
                i.select_seconds, i.generate_seconds, i.score_seconds, i.build_seconds, i.train_seconds, i.evaluate_seconds
            FROM optune.iterations i WHERE i.run_id = $1 AND i.t = $2
            """, [run, Int32(t), rootRun])
        guard let row = row.first else { throw BufferError("run \(run) has no iteration \(t)") }
        var stages: [String: Double] = [:]
        for (index, name) in ["select", "generate", "score", "build", "train", "evaluate"].enumerated() {
            if let seconds = try row.decode(8 + index, as: Double?.self) { stages[name] = seconds }
        }
        return IterationSummary(
            run: run, t: t, evalReward: try row.decode(0), meanChosenReward: try row.decode(1), promptsTotal: try row.decode(2),
            regenerated: try row.decode(3), reused: try row.decode(4), tokensGenerated: try row.decode(5),
            fullIterationTokens: try row.decode(6), finalLoss: try row.decode(7), stageSeconds: stages)
    }
}
