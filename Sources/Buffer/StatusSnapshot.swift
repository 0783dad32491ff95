import Foundation
import Postgres

/// What `optune status` shows: iterations (and what each unfinished one waits for), queues,
/// workers, dead tasks and prompts that got no new pair. Encodes as JSON with snake_case keys.
public struct StatusSnapshot: Sendable, Encodable {
    /// A worker whose last heartbeat is at most this old is live; older, stale (killed, hung, or
    /// cut off from the database). Daemons heartbeat at least every 10 s while they run.
    public static let liveThresholdSeconds = 30.0

    public struct IterationLine: Sendable, Hashable, Encodable {
        public var run: String
        public var t: Int
        public var state: String
        public var selected: Int
        public var evalReward: Double?
        public var failureReason: String?
        /// Seconds since the iteration entered its state.
        public var secondsInState: Double
        /// What an unfinished iteration waits for, e.g. "a trainer (`optune train`) or
        /// `optune policy register …`"; nil for done and failed ones.
        public var waitingFor: String?
    }

    public struct QueueLine: Sendable, Hashable, Encodable {
        public var run: String
        public var t: Int
        public var queue: String
        public var pending: Int
        public var leased: Int
        public var done: Int
        public var dead: Int
    }

    public struct WorkerLine: Sendable, Hashable, Encodable {
        public var id: String
        public var role: String
        public var host: String
        public var pid: Int
        /// The run the worker was started for; nil: it serves any run.
        public var run: String?
        public var secondsSinceHeartbeat: Double
        public var stopped: Bool
        /// "live", "stale" or "stopped" (see ``StatusSnapshot/liveThresholdSeconds``).
        public var liveness: String
    }

    public struct DeadTask: Sendable, Hashable, Encodable {
        public var run: String
        public var t: Int
        public var queue: String
        public var prompt: Int64
        public var attempts: Int
        public var error: String
    }

    /// A selected prompt that got no new pair, and why (from `optune.unpaired_prompts`).
    public struct UnpairedPrompt: Sendable, Hashable, Encodable {
        public var run: String
        public var t: Int
        public var prompt: Int64
        public var reason: String
        public var keptPair: Bool
    }

    public var iterations: [IterationLine] = []
    public var queues: [QueueLine] = []
    public var workers: [WorkerLine] = []
    public var deadTasks: [DeadTask] = []
    public var unpairedPrompts: [UnpairedPrompt] = []
    public var liveThresholdSeconds: Double = StatusSnapshot.liveThresholdSeconds

    enum CodingKeys: String, CodingKey {
        case iterations, queues, workers
        case deadTasks = "dead_tasks"
        case unpairedPrompts = "unpaired_prompts"
        case liveThresholdSeconds = "live_threshold_seconds"
    }
}

extension StatusSnapshot.IterationLine {
    enum CodingKeys: String, CodingKey {
        case run, t, state, selected
        case evalReward = "eval_reward"
        case failureReason = "failure_reason"
        case secondsInState = "seconds_in_state"
        case waitingFor = "waiting_for"
    }
}

extension StatusSnapshot.WorkerLine {
    enum CodingKeys: String, CodingKey {
        case id, role, host, pid, run, stopped, liveness
        case secondsSinceHeartbeat = "seconds_since_heartbeat"
    }
}

extension StatusSnapshot.UnpairedPrompt {
    enum CodingKeys: String, CodingKey {
        case run, t, prompt, reason
        case keptPair = "kept_pair"
    }
}

extension ReplayBuffer {
    /// The state of one run (by name), or of every run's latest iteration when `run` is nil.
    /// Workers: with `run`, those started for it and the live or stale ones that serve any run;
    /// without, every worker not stopped whose heartbeat is under 10 minutes old; with
    /// `allWorkers`, every worker.
    public func status(run: String?, allWorkers: Bool = false, deadTaskLimit: Int = 20) async throws -> StatusSnapshot {
        var snapshot = StatusSnapshot()
        let runFilter = "($1::text IS NULL OR r.name = $1)"
        if let run, try await runID(named: run) == nil { throw BufferError("no run named \(run)") }
        struct Facts {
            var line: StatusSnapshot.IterationLine
            var externalPolicy: Bool
            var trainer: String?
            var trainerLeaseSeconds: Double?
            var leaderLive: Bool
        }
        let facts: [Facts] = try await connection.query(
            """
            SELECT r.name, i.t, i.state, i.selected, e.mean_reward, i.failure_reason,
                   greatest(extract(epoch FROM now() - i.updated_at), 0)::float8,
                   p.weights IS NULL, tl.holder, extract(epoch FROM tl.expires_at - now())::float8,
                   coalesce((SELECT l.expires_at > now() FROM optune.run_leaders l WHERE l.run_id = i.run_id), false)
            FROM optune.iterations i JOIN optune.runs r ON r.id = i.run_id
            JOIN optune.policies p ON p.id = i.policy_id
            LEFT JOIN optune.evaluations e ON (e.run_id, e.t, e.split) = (i.run_id, i.t, 'eval')
            LEFT JOIN optune.training_leases tl ON (tl.run_id, tl.t) = (i.run_id, i.t) AND tl.expires_at > now()
            WHERE \(runFilter) AND ($1::text IS NOT NULL OR i.t = (SELECT max(t) FROM optune.iterations x WHERE x.run_id = i.run_id))
            ORDER BY r.id, i.t
            """, [run]
        ).map { row in
            Facts(
                line: .init(
                    run: try row.decode(0), t: try row.decode(1), state: try row.decode(2), selected: try row.decode(3),
                    evalReward: try row.decode(4), failureReason: try row.decode(5), secondsInState: try row.decode(6), waitingFor: nil),
                externalPolicy: try row.decode(7), trainer: try row.decode(8), trainerLeaseSeconds: try row.decode(9),
                leaderLive: try row.decode(10))
        }
        for (queue, table) in [("generation", "optune.generation_tasks"), ("scoring", "optune.scoring_tasks")] {
            snapshot.queues += try await connection.query(
                """
                SELECT r.name, q.t, coalesce(sum(q.size) FILTER (WHERE q.state = 'pending'), 0),
                       coalesce(sum(q.size) FILTER (WHERE q.state = 'leased'), 0),
                       coalesce(sum(q.size) FILTER (WHERE q.state = 'done'), 0), coalesce(sum(q.size) FILTER (WHERE q.state = 'dead'), 0)
                FROM \(table) q JOIN optune.runs r ON r.id = q.run_id
                WHERE \(runFilter) AND q.state <> 'split' AND (q.run_id, q.t) IN (SELECT run_id, max(t) FROM optune.iterations GROUP BY run_id)
                GROUP BY r.id, r.name, q.t ORDER BY r.id
                """, [run]
            ).map { row in
                .init(
                    run: try row.decode(0), t: try row.decode(1), queue: queue, pending: try row.decode(2), leased: try row.decode(3),
                    done: try row.decode(4), dead: try row.decode(5))
            }
            snapshot.deadTasks += try await connection.query(
                """
                SELECT r.name, q.t, u.prompt_id, q.attempts, q.last_error
                FROM \(table) q JOIN optune.runs r ON r.id = q.run_id
                CROSS JOIN LATERAL unnest(q.prompt_ids) AS u(prompt_id)
                WHERE \(runFilter) AND q.state = 'dead' ORDER BY q.updated_at DESC, q.chunk, u.prompt_id LIMIT $2
                """, [run, Int64(deadTaskLimit)]
            ).map { row in
                .init(
                    run: try row.decode(0), t: try row.decode(1), queue: queue, prompt: try row.decode(2), attempts: try row.decode(3),
                    error: try row.decode(4, as: String?.self) ?? "")
            }
        }
        snapshot.unpairedPrompts = try await connection.query(
            """
            SELECT r.name, u.t, u.prompt_id, u.reason, u.kept_pair
            FROM optune.unpaired_prompts u JOIN optune.runs r ON r.id = u.run_id
            WHERE \(runFilter) ORDER BY u.created_at DESC, u.prompt_id LIMIT $2
            """, [run, Int64(deadTaskLimit)]
        ).map { row in
            .init(
                run: try row.decode(0), t: try row.decode(1), prompt: try row.decode(2), reason: try row.decode(3),
                keptPair: try row.decode(4))
        }
        let threshold = StatusSnapshot.liveThresholdSeconds
        snapshot.workers = try await connection.query(
            """
            SELECT w.id, w.role, w.host, w.pid, r.name, greatest(extract(epoch FROM now() - w.last_heartbeat), 0)::float8,
                   w.stopped_at IS NOT NULL
            FROM optune.workers w LEFT JOIN optune.runs r ON r.id = w.run_id
            WHERE $2
               OR ($1::text IS NOT NULL AND r.name = $1)
               OR (($1::text IS NULL OR w.run_id IS NULL) AND w.stopped_at IS NULL AND w.last_heartbeat > now() - interval '10 minutes')
            ORDER BY w.role, w.id
            """, [run, allWorkers]
        ).map { row in
            let seconds: Double = try row.decode(5)
            let stopped: Bool = try row.decode(6)
            return .init(
                id: try row.decode(0), role: try row.decode(1), host: try row.decode(2), pid: try row.decode(3), run: try row.decode(4),
                secondsSinceHeartbeat: seconds, stopped: stopped, liveness: stopped ? "stopped" : seconds <= threshold ? "live" : "stale")
        }
        snapshot.iterations = facts.map { fact in
            var line = fact.line
            line.waitingFor = Self.waitingFor(
                fact.line, queues: snapshot.queues, workers: snapshot.workers, externalPolicy: fact.externalPolicy,
                trainer: fact.trainer, trainerLeaseSeconds: fact.trainerLeaseSeconds, leaderLive: fact.leaderLive)
            return line
        }
        return snapshot
    }

    /// What an unfinished iteration waits for, in words a user can act on.
    static func waitingFor(
        _ line: StatusSnapshot.IterationLine, queues: [StatusSnapshot.QueueLine], workers: [StatusSnapshot.WorkerLine],
        externalPolicy: Bool, trainer: String?, trainerLeaseSeconds: Double?, leaderLive: Bool
    ) -> String? {
        let noLeader =
            leaderLive
            ? "" : "; no coordinator leads this run: start `optune coordinate --run \(line.run)` (or `optune run --resume \(line.run)`)"
        func live(_ role: String) -> Bool { workers.contains { $0.role == role && $0.liveness == "live" } }
        switch line.state {
        case "generating", "scoring":
            let queue = line.state == "generating" ? "generation" : "scoring"
            let (role, command) = line.state == "generating" ? ("generator", "optune generate") : ("scorer", "optune score")
            guard let counts = queues.first(where: { $0.run == line.run && $0.t == line.t && $0.queue == queue }) else {
                return "\(queue) tasks" + noLeader
            }
            var text =
                "\(counts.pending) pending, \(counts.leased) leased, \(counts.done) done of \(counts.pending + counts.leased + counts.done + counts.dead)"
            if counts.dead > 0 { text += ", \(counts.dead) dead" }
            if counts.pending + counts.leased == 0 {
                text += "; the coordinator moves on"
            } else if !live(role) {
                text += "; no live \(role): start `\(command)`"
            } else {
                text += "; waiting for \(role)s"
            }
            return text + noLeader
        case "training":
            if let trainer {
                return "being trained by \(trainer) (lease renewed, expires in \(Int(max(0, trainerLeaseSeconds ?? 0))) s)"
            }
            let register = "`optune policy register --run \(line.run) --iteration \(line.t) --uri MODEL`"
            if externalPolicy {
                return "waiting for \(register) or a trainer of external models (`optune train --backend command`)" + noLeader
            }
            return "waiting for \(register) or a trainer (`optune train`)" + (live("trainer") ? "" : "; no live trainer") + noLeader
        case "selecting", "building", "evaluating":
            return "the coordinator (\(line.state))" + noLeader
        default:
            return nil
        }
    }
}
