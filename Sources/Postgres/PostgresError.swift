/// An error from the database or from this layer.
///
/// It carries what the server said (SQLSTATE, message, detail, hint, the constraint broken) and
/// the statement that failed, but never the statement's parameter values: they may hold secrets
/// or user data, and errors end up in logs.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        public var description: String { raw }
        /// The connection could not be opened.
        public static let connectionFailed = Code(raw: "connectionFailed")
        /// The connection was lost or closed while in use.
        public static let connectionClosed = Code(raw: "connectionClosed")
        /// The server rejected a statement; see ``PostgresError/sqlState``.
        public static let server = Code(raw: "server")
        /// A `COPY` could not be sent.
        public static let copyFailed = Code(raw: "copyFailed")
        /// The server answered something this layer did not expect.
        public static let unexpectedResponse = Code(raw: "unexpectedResponse")
        /// A parameter cannot be sent: too many of them, or a value too large for the protocol.
        public static let invalidParameter = Code(raw: "invalidParameter")
    }

    public var code: Code
    /// The five-character SQLSTATE, e.g. `23505` for a unique violation.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    public var schema: String?
    public var table: String?
    public var column: String?
    /// The name of the constraint a row broke, e.g. `rewards_score_finite`.
    public var constraint: String?
    /// The SQL text that failed (never its parameter values).
    public var query: String?

    public init(
        code: Code, message: String, sqlState: String? = nil, detail: String? = nil,
        hint: String? = nil, query: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.query = query
    }

    public var description: String {
        var text = sqlState.map { "\($0): \(message)" } ?? message
        if let detail { text += "\nDETAIL: \(detail)" }
        if let hint { text += "\nHINT: \(hint)" }
        if let query { text += "\nQUERY: \(Self.abbreviated(query))" }
        return text
    }

    /// True for `40001 serialization_failure` and `40P01 deadlock_detected`, which a retry fixes.
    public var isTransient: Bool { sqlState == SQLState.serializationFailure || sqlState == SQLState.deadlockDetected }

    /// True when the session is gone or the server cannot serve it: the connection was lost
    /// or refused, the server is shutting down or starting (57P01–57P03), or a connection
    /// exception (class 08). Reconnecting — later — fixes these; the statement may or may not
    /// have taken effect, so only repeat work that is idempotent or fenced.
    public var isConnectionLoss: Bool {
        if code == .connectionClosed || code == .connectionFailed { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || SQLState.serverUnavailable.contains(sqlState)
    }

    /// Removes the text of string parameters that the server echoed into its message (e.g.
    /// `invalid input syntax for type integer: "…"`), so values never reach logs.
    mutating func redact(_ parameters: [(any PostgresEncodable)?]) {
        for (index, parameter) in parameters.enumerated() {
            let text: String
            switch parameter {
            case let string as String: text = string
            case let json as JSONB: text = json.text
            default: continue
            }
            guard text.count >= 4 else { continue }
            let placeholder = "<parameter $\(index + 1)>"
            message = message.replacing(text, with: placeholder)
            detail = detail?.replacing(text, with: placeholder)
            hint = hint?.replacing(text, with: placeholder)
        }
    }

    private static func abbreviated(_ query: String) -> String {
        let oneLine = query.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: " \t") }
            .joined(separator: " ")
        return oneLine.count > 400 ? String(oneLine.prefix(400)) + "…" : oneLine
    }
}

/// SQLSTATE codes this project reacts to.
public enum SQLState {
    public static let uniqueViolation = "23505"
    public static let foreignKeyViolation = "23503"
    public static let checkViolation = "23514"
    public static let notNullViolation = "23502"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let undefinedTable = "42P01"
    public static let duplicateDatabase = "42P04"
    public static let adminShutdown = "57P01"
    /// `57P01 admin_shutdown`, `57P02 crash_shutdown`, `57P03 cannot_connect_now`.
    public static let serverUnavailable: Set<String> = ["57P01", "57P02", "57P03"]
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
