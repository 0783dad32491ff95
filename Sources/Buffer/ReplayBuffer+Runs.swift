import Foundation
import Postgres

extension ReplayBuffer {
    /// The id of reward model (`name`, `version`), registered if new.
    public func rewardModel(name: String, version: String, backend: String, configJSON: String = "{}") async throws -> Int64 {
        try await connection.transaction { c in
            try c.execute(
                """
                INSERT INTO optune.reward_models (name, version, backend, config) VALUES ($1, $2, $3, $4)
                ON CONFLICT (name, version) DO NOTHING
                """, [name, version, backend, JSONB(configJSON)])
            return try c.query("SELECT id FROM optune.reward_models WHERE name = $1 AND version = $2", [name, version])[0]
                .decode(0, as: Int64.self)
        }
    }

    /// Creates a run over prompt set `promptSetID`; the config is validated first.
    /// Throws ``RunConfigError`` for a bad config and a unique violation if the name is taken.
    public func createRun(
        name: String, promptSetID: Int64, rewardModelID: Int64, config: RunConfig,
        forkedFrom: (run: Int64, t: Int)? = nil
    ) async throws -> Int64 {
        try config.validate()
        let json = try JSONB(encoding: config)
        do {
            return try await insertRun(
                name: name, promptSetID: promptSetID, rewardModelID: rewardModelID, config: config, json: json, forkedFrom: forkedFrom)
        } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation && error.constraint == "runs_name_unique" {
            throw RunNameTaken(name: name)
        }
    }

    private func insertRun(
        name: String, promptSetID: Int64, rewardModelID: Int64, config: RunConfig, json: JSONB, forkedFrom: (run: Int64, t: Int)?
    ) async throws -> Int64 {
        try await connection.query(
            """
            INSERT INTO optune.runs (name, prompt_set_id, reward_model_id, config, rho, strategy, samples_per_prompt,
                                     loss, beta1, beta2, seed, iterations_planned, skip_zero_gap,
                                     forked_from_run_id, forked_from_iteration)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            RETURNING id
            """,
            [
                name, promptSetID, rewardModelID, json, config.rho, config.strategy.rawValue, Int32(config.samplesPerPrompt),
                config.loss.rawValue, config.beta1, config.beta2, config.seed, Int32(config.iterations), config.skipZeroGap,
                forkedFrom?.run, forkedFrom.map { Int32($0.t) },
            ])[0].decode(0, as: Int64.self)
    }

    /// Registers policy π_t of `run` (nil for a base policy shared by runs) and returns its id.
    /// Give either built-in `weights` (a compressed blob) or an external `uri`.
    public func registerPolicy(
        run: Int64?, t: Int, parent: Int64?, weights: [UInt8]? = nil, uri: String? = nil, sha256: String? = nil,
        configJSON: String = "{}"
    ) async throws -> Int64 {
        try await connection.query(
            """
            INSERT INTO optune.policies (run_id, t, parent_policy_id, weights, uri, sha256, config)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
            """,
            [run, Int32(t), parent, weights.map(ByteA.init), uri, sha256, JSONB(configJSON)])[0].decode(0, as: Int64.self)
    }

    /// Opens iteration t of `run`, driven by `policy`, in state `generating`.
    public func openIteration(run: Int64, t: Int, policy: Int64, rho: Double, strategy: SelectionStrategy) async throws {
        try await connection.execute(
            """
            INSERT INTO optune.iterations (run_id, t, policy_id, rho, strategy, state)
            VALUES ($1, $2, $3, $4, $5, 'generating')
            """, [run, Int32(t), policy, rho, strategy.rawValue])
    }

    /// Enqueues generation work for `promptIDs` at iteration (`run`, `t`), sampling with `policy`,
    /// in chunks of `chunkSize` prompts in the order given. Prompts already enqueued for the same
    /// purpose are left as they are. Returns the number of prompts added.
    @discardableResult
    public func enqueueGeneration(
        run: Int64, t: Int, policy: Int64, purpose: Purpose, promptIDs: [Int64], chunkSize: Int = 256
    ) async throws -> Int {
        try await connection.query(
            """
            WITH fresh AS MATERIALIZED (
                SELECT p AS prompt_id, row_number() OVER () AS position FROM unnest($5::int8[]) AS p
                WHERE NOT EXISTS (
                    SELECT 1 FROM optune.generation_tasks g
                    WHERE (g.run_id, g.t, g.purpose) = ($1, $2, $4) AND p = ANY (g.prompt_ids))
            ), chunks AS (
                INSERT INTO optune.generation_tasks (run_id, t, purpose, policy_id, prompt_ids, size)
                SELECT $1, $2, $4, $3, array_agg(prompt_id ORDER BY position), count(*)
                FROM fresh GROUP BY (position - 1) / $6 ORDER BY (position - 1) / $6
            )
            SELECT count(*) FROM fresh
            """, [run, Int32(t), policy, purpose.rawValue, promptIDs, Int64(max(1, chunkSize))])[0].decode(0, as: Int.self)
    }

    /// The prompt ids of a set's split, in id order.
    public func promptIDs(inSet setID: Int64, split: PromptSplit) async throws -> [Int64] {
        try await connection.query(
            "SELECT prompt_id FROM optune.prompt_set_members WHERE set_id = $1 AND split = $2 ORDER BY prompt_id",
            [setID, split.rawValue]
        ).map { try $0.decode(0, as: Int64.self) }
    }
}

/// Why a response was generated: for training pairs, or to evaluate a policy.
public enum Purpose: String, Sendable, Codable, CaseIterable {
    case train, eval

    /// The purpose stored as `text`; a value the schema does not allow is an error, never a guess.
    static func decoding(_ text: String) throws -> Purpose {
        guard let purpose = Purpose(rawValue: text) else { throw BufferError("unknown purpose \"\(text)\" (expected train or eval)") }
        return purpose
    }
}

/// A run of that name exists already (run names are unique).
public struct RunNameTaken: Error, CustomStringConvertible, Sendable {
    public var name: String
    public var description: String { "a run named \(name) already exists" }
}
