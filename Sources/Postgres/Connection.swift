import CLibPQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One PostgreSQL connection, owned by an actor that runs on its own serial dispatch queue.
///
/// Every libpq call blocks; running them on the connection's private queue keeps them off Swift's
/// cooperative thread pool, and the actor guarantees that no two threads ever use the same
/// `PGconn` at once (libpq's rule). Statements take parameters in binary format; SQL is never
/// built from values.
public actor Connection {
    private let executor: QueueExecutor
    private var handle: OpaquePointer?
    /// What `open` was given, kept for `reconnect()` (never logged: it may name a password).
    private var openedWith: (conninfo: String, database: String?, applicationName: String)?
    /// Channels this session listens to, subscribed again after a reconnect.
    var listeningChannels: Set<String> = []

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private init(label: String, application: String?) {
        executor = QueueExecutor(label: label, application: application)
    }

    isolated deinit {
        if let handle {
            executor.sessionChanged(backendPID: nil, local: false)
            PQfinish(handle)
        }
    }

    /// Opens a connection from a libpq conninfo string or URI (`postgresql://…`).
    ///
    /// Passwords belong in the environment (`PGPASSWORD`) or `~/.pgpass`, not in the string;
    /// the string is never logged or put into errors.
    /// `database`, when given, overrides the database named in `conninfo`. The connection's CPU
    /// time counts in ``ConnectionUsage`` under `applicationName` unless `countsAsWork` is false
    /// (a connection that blocks waiting for notifications).
    public static func connect(
        to conninfo: String, database: String? = nil, applicationName: String = "optune", countsAsWork: Bool = true
    ) async throws -> Connection {
        let connection = Connection(label: "optune.postgres.\(applicationName)", application: countsAsWork ? applicationName : nil)
        try await connection.open(conninfo: conninfo, database: database, applicationName: applicationName)
        return connection
    }

    private func open(conninfo: String, database: String?, applicationName: String) throws {
        // libpq's parse errors quote the string, password included: check it first, redacted.
        try ConnectionString.validate(conninfo)
        // Keepalives make a silently dropped server an error instead of a hang. Only the first
        // `dbname` is expanded as a conninfo; a later one is a plain database name that overrides it.
        var settings: [(String, String)] = [
            ("dbname", conninfo), ("application_name", applicationName), ("connect_timeout", "15"),
            ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
        ]
        if let database { settings.append(("dbname", database)) }
        let connection = withCStrings(settings.map(\.0)) { keywords in
            withCStrings(settings.map(\.1)) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let connection else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = ConnectionString.redacting(
                String(cString: PQerrorMessage(connection)).trimmedTrailingNewlines, conninfo: conninfo)
            PQfinish(connection)
            throw PostgresError(code: .connectionFailed, message: "could not connect to PostgreSQL: \(message)")
        }
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        handle = connection
        openedWith = (conninfo, database, applicationName)
        // A Unix-socket session's server runs on this host: its backend's CPU time can be read.
        let local = PQhost(connection).map { String(cString: $0).hasPrefix("/") } ?? false
        executor.sessionChanged(backendPID: PQbackendPID(connection), local: local)
    }

    /// Drops this session and opens a new one with the settings it was opened with, then
    /// listens again on every channel it listened to. Anything of the old session (an open
    /// transaction, session advisory locks, temporary tables) is gone.
    ///
    /// Throws (and stays closed) when the server cannot be reached; call it again later.
    public func reconnect() throws {
        guard let openedWith else {
            throw PostgresError(code: .connectionClosed, message: "the connection was never opened")
        }
        if let handle {
            executor.sessionChanged(backendPID: nil, local: false)
            PQfinish(handle)
        }
        handle = nil
        try open(conninfo: openedWith.conninfo, database: openedWith.database, applicationName: openedWith.applicationName)
        for channel in listeningChannels.sorted() {
            try simpleQuery("LISTEN \(try quoteIdentifier(channel))")
        }
    }

    /// Whether the connection is open and healthy as far as libpq knows.
    public var isOpen: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// The server's process id for this session (for `pg_terminate_backend`, logs).
    public var backendPID: Int32 { handle.map { PQbackendPID($0) } ?? 0 }

    /// Closes the connection; later calls fail with `.connectionClosed`.
    public func close() {
        if let handle {
            executor.sessionChanged(backendPID: nil, local: false)
            PQfinish(handle)
        }
        handle = nil
    }

    /// Runs one statement with binary parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) throws -> QueryResult {
        let connection = try liveHandle(for: sql)
        // The protocol carries at most 65535 parameters; a value's length is an int32.
        guard parameters.count <= Int(UInt16.max), let count = Int32(exactly: parameters.count) else {
            throw PostgresError(
                code: .invalidParameter, message: "\(parameters.count) parameters; PostgreSQL takes at most 65535", query: sql)
        }
        let result = try Self.withBoundParameters(parameters, sql: sql) { types, values, lengths, formats in
            PQexecParams(connection, sql, count, types, values, lengths, formats, 1)
        }
        defer { PQclear(result) }
        do {
            try check(result, sql: sql, expecting: [PGRES_TUPLES_OK, PGRES_COMMAND_OK])
        } catch var error as PostgresError {
            error.redact(parameters)
            throw error
        }
        return QueryResult(copying: result!)
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) throws -> Int {
        try query(sql, parameters).affectedRows
    }

    /// Runs a script of one or more statements without parameters (migrations, BEGIN/COMMIT).
    public func simpleQuery(_ sql: String) throws {
        let connection = try liveHandle(for: sql)
        var result = PQexec(connection, sql)
        var failure: PostgresError?
        if result == nil { failure = error(from: nil, sql: sql) }
        // PQexec returns the last result; earlier ones are consumed by libpq.
        while let current = result {
            let status = PQresultStatus(current)
            if status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY && failure == nil {
                failure = error(from: current, sql: sql)
            }
            PQclear(current)
            result = nil
        }
        if let failure { throw failure }
    }

    // MARK: - Internals shared by the feature files

    func liveHandle(for sql: String?) throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(code: .connectionClosed, message: "the connection is closed", query: sql)
        }
        return handle
    }

    func check(_ result: OpaquePointer?, sql: String, expecting statuses: [ExecStatusType]) throws {
        guard let result, statuses.contains(PQresultStatus(result)) else {
            throw error(from: result, sql: sql)
        }
    }

    /// Builds an error from a failed result (or from the connection when there is none).
    func error(from result: OpaquePointer?, sql: String?) -> PostgresError {
        let connectionBad = handle.map { PQstatus($0) != CONNECTION_OK } ?? true
        guard let result, PQresultStatus(result) == PGRES_FATAL_ERROR || PQresultStatus(result) == PGRES_NONFATAL_ERROR else {
            let message = handle.map { String(cString: PQerrorMessage($0)).trimmedTrailingNewlines } ?? "no connection"
            let status = result.map { String(cString: PQresStatus(PQresultStatus($0))) }
            return PostgresError(
                code: connectionBad ? .connectionClosed : .unexpectedResponse,
                message: status.map { "unexpected result \($0): \(message)" } ?? message, query: sql)
        }
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue ?? 0)).map { String(cString: $0) }
        }
        let sqlState = field("C")
        // The server always sends a SQLSTATE; an error without one was made by libpq itself
        // (the socket closed or failed), even when PQstatus has not noticed yet (a failed write
        // is reported on the next read).
        var error = PostgresError(
            code: sqlState == nil ? .connectionClosed : .server,
            message: field("M") ?? String(cString: PQresultErrorMessage(result)).trimmedTrailingNewlines,
            sqlState: sqlState, detail: field("D"), hint: field("H"), query: sql)
        error.schema = field("s")
        error.table = field("t")
        error.column = field("c")
        error.constraint = field("n")
        if connectionBad { error.code = .connectionClosed }
        return error
    }

    /// Lays parameters out in one buffer and hands libpq the arrays it wants.
    static func withBoundParameters<R>(
        _ parameters: [(any PostgresEncodable)?], sql: String? = nil,
        _ body: (UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> R
    ) throws -> R {
        var data: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int32] = []
        var types: [Oid] = []
        for parameter in parameters {
            guard let parameter else {
                offsets.append(-1)
                lengths.append(0)
                types.append(0)
                continue
            }
            let start = data.count
            parameter.encode(into: &data)
            offsets.append(start)
            guard let length = Int32(exactly: data.count - start) else {
                throw PostgresError(
                    code: .invalidParameter,
                    message: "parameter $\(offsets.count) is \(data.count - start) bytes; a value must be under 2 GiB", query: sql)
            }
            lengths.append(length)
            types.append(type(of: parameter).postgresType.oid)
        }
        data.append(0)  // so that an empty value still has a valid address
        let formats = [Int32](repeating: 1, count: parameters.count)
        return data.withUnsafeBufferPointer { base in
            let values: [UnsafePointer<CChar>?] = offsets.map { offset in
                offset < 0 ? nil : UnsafeRawPointer(base.baseAddress! + offset).assumingMemoryBound(to: CChar.self)
            }
            return body(types, values, lengths, formats)
        }
    }
}

/// Calls `body` with a C array of C strings that live for the duration of the call.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) }
    defer { pointers.forEach { free($0) } }
    let constPointers: [UnsafePointer<CChar>?] = pointers.map { UnsafePointer($0) } + [nil]
    return constPointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension String {
    var trimmedTrailingNewlines: String {
        var text = self
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }
}
