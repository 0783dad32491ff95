import Postgres

/// Where a run is: its latest iteration, its state, and how far the iteration's queue of that
/// state has got (for progress displays).
public struct StageProgress: Sendable, Hashable {
    public var run: String
    public var t: Int
    public var state: String
    /// Prompts of the state's queue whose chunk is done or dead (generating, scoring); 0 otherwise.
    public var finished: Int
    /// Prompts of the state's queue; 0 for states without one.
    public var total: Int
}

extension ReplayBuffer {
    /// The progress of run `run`'s latest iteration; nil before its first iteration.
    public func stageProgress(run: Int64) async throws -> StageProgress? {
        try await connection.query(
            """
            SELECT r.name, i.t, i.state,
                   CASE i.state
                       WHEN 'generating' THEN (SELECT coalesce(sum(q.size) FILTER (WHERE q.state IN ('done', 'dead')), 0)
                                               FROM optune.generation_tasks q WHERE q.run_id = i.run_id AND q.t = i.t AND q.state <> 'split')
                       WHEN 'scoring' THEN (SELECT coalesce(sum(q.size) FILTER (WHERE q.state IN ('done', 'dead')), 0)
                                            FROM optune.scoring_tasks q WHERE q.run_id = i.run_id AND q.t = i.t AND q.state <> 'split')
                       ELSE 0 END,
                   CASE i.state
                       WHEN 'generating' THEN (SELECT coalesce(sum(q.size), 0) FROM optune.generation_tasks q
                                               WHERE q.run_id = i.run_id AND q.t = i.t AND q.state <> 'split')
                       WHEN 'scoring' THEN (SELECT coalesce(sum(q.size), 0) FROM optune.scoring_tasks q
                                            WHERE q.run_id = i.run_id AND q.t = i.t AND q.state <> 'split')
                       ELSE 0 END
            FROM optune.iterations i JOIN optune.runs r ON r.id = i.run_id
            WHERE i.run_id = $1 ORDER BY i.t DESC LIMIT 1
            """, [run]
        ).first.map { row in
            StageProgress(
                run: try row.decode(0), t: try row.decode(1), state: try row.decode(2), finished: try row.decode(3),
                total: try row.decode(4))
        }
    }

    /// The newest run whose name starts with `prefix` followed by "-" (the runs of an experiment).
    public func newestRun(namePrefix prefix: String) async throws -> Int64? {
        try await connection.query(
            "SELECT id FROM optune.runs WHERE left(name, length($1) + 1) = $1 || '-' ORDER BY id DESC LIMIT 1", [prefix]
        ).first.map { try $0.decode(0, as: Int64.self) }
    }
}
