/// The state machine of one iteration (DESIGN §4). Transitions are guarded by the current
/// state in SQL, so two coordinators can never both advance one iteration.
public enum IterationState: String, Sendable, Codable, CaseIterable {
    case selecting, generating, scoring, building, training, evaluating, done, failed
}

/// What the buffer knows of a run.
public struct RunRecord: Sendable, Hashable {
    public var id: Int64
    public var name: String
    public var config: RunConfig
    public var promptSetID: Int64
    public var rewardModelID: Int64
    public var status: RunStatus
    public var forkedFrom: (run: Int64, t: Int)?

    public static func == (lhs: RunRecord, rhs: RunRecord) -> Bool { lhs.id == rhs.id && lhs.status == rhs.status }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}

/// One iteration's row.
public struct IterationRecord: Sendable, Hashable {
    public var run: Int64
    public var t: Int
    public var state: IterationState
    public var policy: Int64
    public var failureReason: String?
}

/// Open and dead task counts of one iteration's queue.
public struct QueueCounts: Sendable, Hashable {
    public var pending: Int
    public var leased: Int
    public var done: Int
    public var dead: Int
    public var firstError: String?

    /// Whether no task is waiting or in progress.
    public var isDrained: Bool { pending == 0 && leased == 0 }
}

/// A run's status (`runs.status`).
public enum RunStatus: String, Sendable, Codable, CaseIterable {
    case created, running, paused, done, failed, cancelled

    /// The status stored as `text`; a value the schema does not allow is an error, never a guess.
    static func decoding(_ text: String) throws -> RunStatus {
        guard let status = RunStatus(rawValue: text) else { throw BufferError("unknown run status \"\(text)\"") }
        return status
    }
}
