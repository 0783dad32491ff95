import Postgres

extension ReplayBuffer {
    /// Takes or renews the leadership of `run` for `holder` until `leaseSeconds` from now.
    /// Returns false while another holder's lease is unexpired. Leadership is a row in
    /// `optune.run_leaders`, so only a role that may write it (the schema owner or
    /// `optune_worker`) can take it — never a read-only login.
    public func acquireRunLeadership(run: Int64, holder: String, leaseSeconds: Double) async throws -> Bool {
        try await !connection.query(
            """
            INSERT INTO optune.run_leaders AS l (run_id, holder, expires_at)
            VALUES ($1, $2, now() + make_interval(secs => $3))
            ON CONFLICT (run_id) DO UPDATE
            SET holder = excluded.holder, expires_at = excluded.expires_at, heartbeat_at = now(),
                acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE now() END
            WHERE l.holder = excluded.holder OR l.expires_at < now()
            RETURNING l.holder
            """, [run, holder, leaseSeconds]
        ).isEmpty
    }

    /// Gives up `holder`'s leadership of `run` so a standby can take over at once.
    public func releaseRunLeadership(run: Int64, holder: String) async throws {
        try await connection.execute("DELETE FROM optune.run_leaders WHERE run_id = $1 AND holder = $2", [run, holder])
    }
}
