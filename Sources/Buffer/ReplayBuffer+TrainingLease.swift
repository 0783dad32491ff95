import Foundation
import Postgres

/// A trainer's hold on one iteration (`optune.training_leases`): valid while `token` is the
/// row's token. Registering π_{t+1} or failing the iteration checks the token (fencing).
public struct TrainingLease: Sendable, Hashable {
    public var run: Int64
    public var t: Int
    public var holder: String
    public var token: Int64

    public init(run: Int64, t: Int, holder: String, token: Int64) {
        self.run = run
        self.t = t
        self.holder = holder
        self.token = token
    }
}

/// The trainer's lease on the iteration was taken over (it expired) before it finished: its
/// result is refused.
public struct TrainingLeaseLost: Error, CustomStringConvertible, Sendable {
    public var lease: TrainingLease

    public init(lease: TrainingLease) {
        self.lease = lease
    }

    public var description: String {
        "the training lease on iteration \(lease.t) of run \(lease.run) (token \(lease.token)) was lost: another trainer took it over"
    }
}

/// An iteration waiting for a trainer, with whether its π_t is an external model (a URI, no
/// built-in weights).
public struct TrainingCandidate: Sendable, Hashable {
    public var iteration: IterationRecord
    public var policyIsExternal: Bool
}

extension ReplayBuffer {
    /// Iterations in state `training` with no training run yet and no live lease, oldest first;
    /// only those of `run` when given.
    public func trainingCandidates(run: Int64? = nil) async throws -> [TrainingCandidate] {
        try await connection.query(
            """
            SELECT i.run_id, i.t, i.policy_id, p.weights IS NULL
            FROM optune.iterations i JOIN optune.policies p ON p.id = i.policy_id
            WHERE i.state = 'training' AND ($1::int8 IS NULL OR i.run_id = $1)
              AND NOT EXISTS (SELECT 1 FROM optune.training_runs tr WHERE (tr.run_id, tr.t) = (i.run_id, i.t))
              AND NOT EXISTS (SELECT 1 FROM optune.training_leases l
                              WHERE (l.run_id, l.t) = (i.run_id, i.t) AND l.expires_at > clock_timestamp())
            ORDER BY i.updated_at
            """, [run]
        ).map { row in
            TrainingCandidate(
                iteration: IterationRecord(
                    run: try row.decode(0), t: try row.decode(1), state: .training, policy: try row.decode(2), failureReason: nil),
                policyIsExternal: try row.decode(3))
        }
    }

    /// Takes the training lease of iteration (`run`, `t`) for `holder` for `seconds`, if the
    /// iteration is in state `training` and nobody holds a live lease on it. Returns nil otherwise.
    public func acquireTrainingLease(run: Int64, t: Int, holder: String, seconds: Double) async throws -> TrainingLease? {
        let rows = try await connection.query(
            """
            INSERT INTO optune.training_leases (run_id, t, holder, token, acquired_at, heartbeat_at, expires_at)
            SELECT i.run_id, i.t, $3, nextval('optune.lease_token_seq'), clock_timestamp(), clock_timestamp(),
                   clock_timestamp() + make_interval(secs => $4)
            FROM optune.iterations i WHERE i.run_id = $1 AND i.t = $2 AND i.state = 'training'
            ON CONFLICT (run_id, t) DO UPDATE
            SET holder = excluded.holder, token = excluded.token, acquired_at = excluded.acquired_at,
                heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
                takeovers = optune.training_leases.takeovers + 1
            WHERE optune.training_leases.expires_at <= clock_timestamp()
            RETURNING token
            """, [run, Int32(t), holder, seconds])
        guard let row = rows.first else { return nil }
        return TrainingLease(run: run, t: t, holder: holder, token: try row.decode(0))
    }

    /// Extends `lease` by `seconds` from now. Returns false when the lease was lost (another
    /// trainer holds the iteration now).
    public func extendTrainingLease(_ lease: TrainingLease, seconds: Double) async throws -> Bool {
        try await connection.execute(
            """
            UPDATE optune.training_leases
            SET heartbeat_at = clock_timestamp(), expires_at = clock_timestamp() + make_interval(secs => $4)
            WHERE run_id = $1 AND t = $2 AND token = $3
            """, [lease.run, Int32(lease.t), lease.token, seconds]) == 1
    }

    /// Gives `lease` up at once (it expires now), so another trainer may take the iteration.
    public func releaseTrainingLease(_ lease: TrainingLease) async throws {
        try await connection.execute(
            "UPDATE optune.training_leases SET expires_at = clock_timestamp() WHERE run_id = $1 AND t = $2 AND token = $3",
            [lease.run, Int32(lease.t), lease.token])
    }

    /// Whether `lease` is still the iteration's current lease; locks the lease row until the
    /// end of the transaction, so no takeover can slip in before it commits.
    public static func holdsTrainingLease(_ lease: TrainingLease, on c: isolated Connection) throws -> Bool {
        try c.query(
            "SELECT 1 FROM optune.training_leases WHERE run_id = $1 AND t = $2 AND token = $3 FOR UPDATE",
            [lease.run, Int32(lease.t), lease.token]
        ).count == 1
    }

    /// Marks the iteration of `lease` failed with `reason`, if the lease is still held and the
    /// iteration still in `training`. Throws ``TrainingLeaseLost`` when the lease was taken over.
    /// Returns whether the iteration changed.
    @discardableResult
    public func failTraining(_ lease: TrainingLease, reason: String) async throws -> Bool {
        try await connection.transaction { c in
            guard try Self.holdsTrainingLease(lease, on: c) else { throw TrainingLeaseLost(lease: lease) }
            return try Self.transition(run: lease.run, t: lease.t, from: .training, to: .failed, failureReason: reason, on: c)
        }
    }

    /// Where π's checkpoint lies on disk, if known: the `path` a command trainer recorded in the
    /// policy's config, else its URI when that is a local path (`/…` or `file://…`).
    public func policyCheckpointPath(_ policy: Int64) async throws -> String? {
        guard
            let row = try await connection.query(
                "SELECT config->>'path', uri FROM optune.policies WHERE id = $1", [policy]
            ).first
        else { throw BufferError("no policy with id \(policy)") }
        if let path = try row.decode(0, as: String?.self), !path.isEmpty { return path }
        guard let uri = try row.decode(1, as: String?.self) else { return nil }
        if uri.hasPrefix("/") { return uri }
        if uri.hasPrefix("file://") { return URL(string: uri)?.path }
        return nil
    }
}
