extension LocalCluster {
    /// Creates the configured database through the socket unless it exists.
    ///
    /// The client programs run as the current user: the socket lets its owner in, and root too.
    func ensureDatabase(_ binaries: PostgresBinaries) async throws {
        let connection = ["-h", layout.socketDirectory, "-p", "\(configuration.port)", "-U", configuration.superuser]
        let name = configuration.database
        let query = "SELECT 1 FROM pg_database WHERE datname = \(Self.quoted(name))"
        let lookup = try await Command.run(
            [binaries.psql, "-X", "-A", "-t", "-q"] + connection + ["-d", "postgres", "-c", query])
        guard lookup.succeeded else {
            throw LocalClusterError(
                code: .databaseCreationFailed,
                message: "cannot connect to the private PostgreSQL server through \(layout.socketFile)",
                command: lookup.arguments, exitStatus: lookup.status, output: lookup.outputTail,
                serverLog: serverLogTail())
        }
        if lookup.output.trimmingCharacters(in: .whitespacesAndNewlines) == "1" { return }
        logger.info("creating database", metadata: ["database": "\(name)"])
        let creation = try await Command.run([binaries.createdb] + connection + ["--", name])
        guard creation.succeeded else {
            throw LocalClusterError(
                code: .databaseCreationFailed,
                message: "cannot create database \(name) in the private PostgreSQL server",
                command: creation.arguments, exitStatus: creation.status, output: creation.outputTail,
                serverLog: serverLogTail())
        }
    }
}
