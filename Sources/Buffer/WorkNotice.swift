/// What a notification on the `optune_work` channel announces, by its payload. The statements
/// that send them and the daemons that wake on them share these definitions. A notification is
/// only a hint (every daemon polls as well), so a daemon sleeps through those that cannot concern
/// it: every submission of every worker notifies, and a trainer or another generator woken by each
/// would look for work it cannot have.
public enum WorkNotice {
    /// The channel.
    public static let channel = "optune_work"
    /// Generation chunks were enqueued.
    public static let generation = "generation"
    /// Generation chunks were done, so their scoring chunks were enqueued.
    public static let scoring = "scoring"
    /// Scoring chunks were done.
    public static let scored = "scored"
    /// An operator queued dead work again.
    public static let retry = "retry"

    /// An iteration moved to `state`: "run:t:state".
    public static func transition(run: Int64, t: Int, to state: IterationState) -> String { "\(run):\(t):\(state.rawValue)" }

    /// Who a notification may concern.
    public enum Audience: Sendable {
        case coordinators, generators, scorers, trainers
    }

    /// Whether a notification with `payload` can mean work for `audience`. Unknown payloads do.
    public static func concerns(_ payload: String, _ audience: Audience) -> Bool {
        let known = [generation, scoring, scored, retry].contains(payload) || payload.split(separator: ":").count == 3
        guard known else { return true }
        switch audience {
        case .coordinators: return true
        case .generators: return payload == generation || payload == retry || payload.hasSuffix(":generating")
        case .scorers: return payload == scoring || payload == retry || payload.hasSuffix(":scoring")
        case .trainers: return payload == retry || payload.hasSuffix(":training")
        }
    }
}
