import Postgres

extension ReplayBuffer {
    /// The shared base policy (π_0, no run) stored under `configJSON`; if there is none, the
    /// weights `make` builds, stored now. Returns its id and whether this call stored it.
    ///
    /// Concurrent callers, in any process, store one policy. A caller that finds none takes a
    /// `SHARE UPDATE EXCLUSIVE` lock on `optune.policies` — it conflicts only with itself (and
    /// VACUUM/DDL), so reads and the trainers' inserts go on, and a read-only role cannot take it
    /// — looks again and only then builds. The others wait for its commit and find its policy.
    ///
    /// The transaction stays open while `make` runs (SFT of π_0 takes seconds), so call this on a
    /// connection no other task uses meanwhile. If `make` throws, nothing is stored.
    public func ensureBasePolicy(
        configJSON: String, make: @Sendable () async throws -> [UInt8]
    ) async throws -> (policy: Int64, created: Bool) {
        if let existing = try await basePolicy(configJSON: configJSON) { return (existing, false) }
        try await connection.simpleQuery("BEGIN")
        do {
            try await connection.simpleQuery("LOCK TABLE optune.policies IN SHARE UPDATE EXCLUSIVE MODE")
            if let existing = try await basePolicy(configJSON: configJSON) {
                try await connection.simpleQuery("COMMIT")
                return (existing, false)
            }
            let weights = try await make()
            let id = try await registerPolicy(run: nil, t: 0, parent: nil, weights: weights, configJSON: configJSON)
            try await connection.simpleQuery("COMMIT")
            return (id, true)
        } catch {
            if await connection.isOpen { try? await connection.simpleQuery("ROLLBACK") }
            throw error
        }
    }
}

extension ReplayBuffer {
    /// The shared π_0 that is the served model `uri` (an external base policy), registered on
    /// first use with `sha256` for provenance; later runs over the same model reuse it.
    public func externalBasePolicy(uri: String, sha256: String?) async throws -> Int64 {
        let config = #"{"kind": "external-base", "uri": \#(JSONText.quoted(uri))}"#
        if let existing = try await basePolicy(configJSON: config) { return existing }
        return try await registerPolicy(run: nil, t: 0, parent: nil, uri: uri, sha256: sha256?.lowercased(), configJSON: config)
    }
}
