import Foundation
import Postgres

/// What storing one batch of prompts did.
public struct PromptBatchOutcome: Sendable, Hashable {
    /// Prompts new to the buffer.
    public var stored = 0
    /// Prompts already in the buffer (from another set or import) that joined this set.
    public var linked = 0
    /// Lines whose prompt was already in this set, or repeated earlier in the batch.
    public var duplicates = 0

    public static func += (lhs: inout PromptBatchOutcome, rhs: PromptBatchOutcome) {
        lhs.stored += rhs.stored
        lhs.linked += rhs.linked
        lhs.duplicates += rhs.duplicates
    }
}

extension ReplayBuffer {
    /// The id of the existing prompt set called `name`, or nil.
    public func existingPromptSet(named name: String) async throws -> Int64? {
        try await connection.query("SELECT id FROM optune.prompt_sets WHERE name = $1", [name]).first?.decode(0, as: Int64.self)
    }

    /// The id of the prompt set called `name`, created if it does not exist.
    public func promptSet(named name: String) async throws -> Int64 {
        try await connection.transaction { c in
            try Self.promptSet(named: name, on: c)
        }
    }

    static func promptSet(named name: String, on c: isolated Connection) throws -> Int64 {
        try c.execute("INSERT INTO optune.prompt_sets (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", [name])
        return try c.query("SELECT id FROM optune.prompt_sets WHERE name = $1", [name])[0].decode(0, as: Int64.self)
    }

    /// Stores prompts and adds them to set `setID`, deduplicating by content hash.
    ///
    /// Runs in the caller's transaction when called inside one (see ``storePrompts(_:inSet:defaultSplit:source:on:)``),
    /// else in its own. Prompts whose record gives no split get `defaultSplit`.
    @discardableResult
    public func storePrompts(_ records: [PromptRecord], inSet setID: Int64, defaultSplit: PromptSplit, source: String) async throws
        -> PromptBatchOutcome
    {
        try await connection.transaction { c in
            try Self.storePrompts(records, inSet: setID, defaultSplit: defaultSplit, source: source, on: c)
        }
    }

    /// Stores prompts into the set called `setName`, creating the set in the same transaction
    /// (so a set only ever appears together with its first prompts).
    public func storePrompts(
        _ records: [PromptRecord], inSetNamed setName: String, defaultSplit: PromptSplit, source: String
    ) async throws -> PromptBatchOutcome {
        try await connection.transaction { c in
            let setID = try Self.promptSet(named: setName, on: c)
            return try Self.storePrompts(records, inSet: setID, defaultSplit: defaultSplit, source: source, on: c)
        }
    }

    /// The same as ``storePrompts(_:inSet:defaultSplit:source:)`` inside an open transaction.
    public static func storePrompts(
        _ records: [PromptRecord], inSet setID: Int64, defaultSplit: PromptSplit, source: String, on c: isolated Connection
    ) throws -> PromptBatchOutcome {
        guard !records.isEmpty else { return PromptBatchOutcome() }
        try c.simpleQuery(
            """
            CREATE TEMP TABLE IF NOT EXISTS prompt_staging (
                position int NOT NULL, text text, messages jsonb, metadata jsonb, split text NOT NULL
            ) ON COMMIT DELETE ROWS
            """)
        try c.copyFromBinary("COPY prompt_staging (position, text, messages, metadata, split) FROM STDIN (FORMAT binary)") { writer in
            for (position, record) in records.enumerated() {
                try writer.beginRow(fieldCount: 5)
                writer.write(Int32(position))
                writer.write(record.text)
                writer.write(record.messagesJSON.map(JSONB.init))
                writer.write(Self.metadata(of: record).map(JSONB.init))
                writer.write((record.split ?? defaultSplit).rawValue)
            }
        }
        let stored = try c.execute(
            """
            INSERT INTO optune.prompts (text, messages, source, metadata)
            SELECT DISTINCT ON (optune.prompt_content_hash(text, messages)) text, messages, $1, coalesce(metadata, '{}')
            FROM prompt_staging
            ORDER BY optune.prompt_content_hash(text, messages), position
            ON CONFLICT (content_hash) DO NOTHING
            """, [source])
        let joined = try c.execute(
            """
            INSERT INTO optune.prompt_set_members (set_id, prompt_id, split)
            SELECT DISTINCT ON (p.id) $1::int8, p.id, s.split
            FROM prompt_staging s
            JOIN optune.prompts p ON p.content_hash = optune.prompt_content_hash(s.text, s.messages)
            ORDER BY p.id, s.position
            ON CONFLICT (set_id, prompt_id) DO NOTHING
            """, [setID])
        try c.simpleQuery("TRUNCATE prompt_staging")
        return PromptBatchOutcome(stored: stored, linked: joined - stored, duplicates: records.count - joined)
    }

    private static func metadata(of record: PromptRecord) -> String? {
        guard let id = record.externalID else { return record.metadataJSON }
        let idJSON = JSONB.quoted(id)
        guard let metadata = record.metadataJSON, metadata != "{}" else { return "{\"source_id\":\(idJSON)}" }
        // Both are canonical JSON objects: splice source_id in front.
        return "{\"source_id\":\(idJSON)," + metadata.dropFirst()
    }
}
