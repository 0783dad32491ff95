import Foundation
import Postgres

/// What `optune status` shows: iterations, queues, workers and dead tasks.
public struct StatusSnapshot: Sendable {
    public struct IterationLine: Sendable, Hashable {
        public var run: String
        public var t: Int
        public var state: String
        public var selected: Int
        public var evalReward: Double?
        public var failureReason: String?
    }

    public struct QueueLine: Sendable, Hashable {
        public var run: String
        public var t: Int
        public var queue: String
        public var pending: Int
        public var leased: Int
        public var done: Int
        public var dead: Int
    }

    public struct WorkerLine: Sendable, Hashable {
        public var id: String
        public var role: String
        public var host: String
        public var pid: Int
        public var secondsSinceHeartbeat: Double
        public var stopped: Bool
    }

    public struct DeadTask: Sendable, Hashable {
        public var run: String
        public var t: Int
        public var queue: String
        public var prompt: Int64
        public var attempts: Int
        public var error: String
    }

    public var iterations: [IterationLine] = []
    public var queues: [QueueLine] = []
    public var workers: [WorkerLine] = []
    public var deadTasks: [DeadTask] = []
}

extension ReplayBuffer {
    /// The state of one run (by name), or of every run's latest iteration when `run` is nil.
    public func status(run: String?, deadTaskLimit: Int = 20) async throws -> StatusSnapshot {
        var snapshot = StatusSnapshot()
        let runFilter = "($1::text IS NULL OR r.name = $1)"
        if let run, try await runID(named: run) == nil { throw BufferError("no run named \(run)") }
        snapshot.iterations = try await connection.query(
            """
            SELECT r.name, i.t, i.state, i.selected, e.mean_reward, i.failure_reason
            FROM optune.iterations i JOIN optune.runs r ON r.id = i.run_id
            LEFT JOIN optune.evaluations e ON (e.run_id, e.t, e.split) = (i.run_id, i.t, 'eval')
            WHERE \(runFilter) AND ($1::text IS NOT NULL OR i.t = (SELECT max(t) FROM optune.iterations x WHERE x.run_id = i.run_id))
            ORDER BY r.id, i.t
            """, [run]
        ).map { row in
            .init(run: try row.decode(0), t: try row.decode(1), state: try row.decode(2), selected: try row.decode(3),
                  evalReward: try row.decode(4), failureReason: try row.decode(5))
        }
        for (queue, table) in [("generation", "optune.generation_tasks"), ("scoring", "optune.scoring_tasks")] {
            snapshot.queues += try await connection.query(
                """
                SELECT r.name, q.t, count(*) FILTER (WHERE q.state = 'pending'), count(*) FILTER (WHERE q.state = 'leased'),
                       count(*) FILTER (WHERE q.state = 'done'), count(*) FILTER (WHERE q.state = 'dead')
                FROM \(table) q JOIN optune.runs r ON r.id = q.run_id
                WHERE \(runFilter) AND (q.run_id, q.t) IN (SELECT run_id, max(t) FROM optune.iterations GROUP BY run_id)
                GROUP BY r.id, r.name, q.t ORDER BY r.id
                """, [run]
            ).map { row in
                .init(run: try row.decode(0), t: try row.decode(1), queue: queue, pending: try row.decode(2), leased: try row.decode(3),
                      done: try row.decode(4), dead: try row.decode(5))
            }
            snapshot.deadTasks += try await connection.query(
                """
                SELECT r.name, q.t, q.prompt_id, q.attempts, q.last_error
                FROM \(table) q JOIN optune.runs r ON r.id = q.run_id
                WHERE \(runFilter) AND q.state = 'dead' ORDER BY q.updated_at DESC LIMIT $2
                """, [run, Int64(deadTaskLimit)]
            ).map { row in
                .init(run: try row.decode(0), t: try row.decode(1), queue: queue, prompt: try row.decode(2), attempts: try row.decode(3),
                      error: try row.decode(4, as: String?.self) ?? "")
            }
        }
        snapshot.workers = try await connection.query(
            """
            SELECT id, role, host, pid, extract(epoch FROM now() - last_heartbeat)::float8, stopped_at IS NOT NULL
            FROM optune.workers
            WHERE stopped_at IS NULL OR stopped_at > now() - interval '10 minutes'
            ORDER BY role, id
            """
        ).map { row in
            .init(id: try row.decode(0), role: try row.decode(1), host: try row.decode(2), pid: try row.decode(3),
                  secondsSinceHeartbeat: try row.decode(4), stopped: try row.decode(5))
        }
        return snapshot
    }
}
