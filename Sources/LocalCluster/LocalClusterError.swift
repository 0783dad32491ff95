/// A failure to create, start, stop or inspect the private cluster.
///
/// When a command or the server failed, the error keeps the command line, its exit status, the
/// tail of its output and the tail of the server log, so the message says what went wrong.
public struct LocalClusterError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        public var description: String { raw }
        /// `initdb`, `pg_ctl` or `postgres` could not be found.
        public static let binariesNotFound = Code(raw: "binariesNotFound")
        /// Running as root, but there is no unprivileged account to run the server as.
        public static let serviceAccountUnavailable = Code(raw: "serviceAccountUnavailable")
        /// A folder or file of the cluster could not be created, read or changed.
        public static let fileSystem = Code(raw: "fileSystem")
        /// The data directory exists but cannot be used (not a cluster, wrong version).
        public static let dataDirectoryUnusable = Code(raw: "dataDirectoryUnusable")
        /// The socket directory is owned by someone else or is not a plain directory.
        public static let socketDirectoryUnsafe = Code(raw: "socketDirectoryUnsafe")
        /// Another process held the cluster's lock for too long.
        public static let lockTimedOut = Code(raw: "lockTimedOut")
        /// Processes of an earlier server on this data directory did not go away.
        public static let leftoverServerProcesses = Code(raw: "leftoverServerProcesses")
        /// `initdb` failed.
        public static let initializationFailed = Code(raw: "initializationFailed")
        /// The server did not start.
        public static let startFailed = Code(raw: "startFailed")
        /// The server did not stop.
        public static let stopFailed = Code(raw: "stopFailed")
        /// The database could not be looked up or created.
        public static let databaseCreationFailed = Code(raw: "databaseCreationFailed")
        /// A running server does not match the configuration (another port or socket directory).
        public static let configurationMismatch = Code(raw: "configurationMismatch")
    }

    public var code: Code
    public var message: String
    /// The command that failed, as its arguments.
    public var command: [String]?
    public var exitStatus: Int32?
    /// The last lines the command printed.
    public var output: String?
    /// The last lines of the server log.
    public var serverLog: String?

    public init(
        code: Code, message: String, command: [String]? = nil, exitStatus: Int32? = nil,
        output: String? = nil, serverLog: String? = nil
    ) {
        self.code = code
        self.message = message
        self.command = command
        self.exitStatus = exitStatus
        self.output = output
        self.serverLog = serverLog
    }

    public var description: String {
        var text = message
        if let command {
            text += "\ncommand: " + command.joined(separator: " ")
            if let exitStatus { text += " (exit status \(exitStatus))" }
        }
        if let output, !output.isEmpty { text += "\noutput:\n" + Self.indented(output) }
        if let serverLog, !serverLog.isEmpty { text += "\nserver log (last lines):\n" + Self.indented(serverLog) }
        return text
    }

    private static func indented(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
    }
}

extension LocalClusterError {
    static func fileSystem(_ what: String, path: String, errno code: Int32) -> LocalClusterError {
        LocalClusterError(code: .fileSystem, message: "\(what) \(path): \(SystemError.describe(code))")
    }
}
