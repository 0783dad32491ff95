import Foundation

extension LocalCluster {
    /// Starts the server, creating the cluster on first use, and makes sure the database exists.
    ///
    /// Returns ``StartOutcome/alreadyRunning`` without restarting anything if a server already
    /// runs on the data directory. A `postmaster.pid` left by a killed server is dealt with first.
    public func start() async throws -> StartOutcome {
        try FileSystem.makeDirectory(layout.root, mode: 0o700)
        return try await FileLock.withLock(layout.lockFile, timeout: lockTimeout) {
            let binaries = try await locateBinaries()
            let account = try ServiceAccount.resolve(dataDirectory: layout.dataDirectory)
            if let running = runningServer() {
                try checkMatchesConfiguration(running)
                try await ensureDatabase(binaries)
                return .alreadyRunning
            }
            try await prepareFolders(for: account)
            if let dataVersion {
                try await checkVersion(of: binaries, against: dataVersion)
            } else {
                try await initialize(binaries: binaries, account: account)
            }
            try writeSettings(account: account)
            try await clearStaleServer()
            try await startServer(binaries: binaries, account: account)
            try await ensureDatabase(binaries)
            return .started
        }
    }

    private func startServer(binaries: PostgresBinaries, account: ServiceAccount) async throws {
        logger.info(
            "starting the private PostgreSQL server",
            metadata: [
                "data": "\(layout.dataDirectory)", "socket": "\(layout.socketFile)", "as": "\(account.displayName)",
            ])
        let result = try await account.run([
            binaries.pgCtl, "start", "-D", layout.dataDirectory, "-w", "-t", "\(configuration.timeoutSeconds)",
            "-l", layout.logFile,
        ])
        guard result.succeeded else {
            throw LocalClusterError(
                code: .startFailed,
                message: "the private PostgreSQL server in \(layout.dataDirectory) did not start",
                command: result.arguments, exitStatus: result.status, output: result.outputTail,
                serverLog: serverLogTail())
        }
    }

    private func checkMatchesConfiguration(_ running: PostmasterPIDFile) throws {
        let port = running.port ?? configuration.port
        let socket = running.socketDirectory ?? layout.socketDirectory
        guard port == configuration.port && socket == layout.socketDirectory else {
            throw LocalClusterError(
                code: .configurationMismatch,
                message: "a server (pid \(running.pid)) already runs on \(layout.dataDirectory) with port \(port) "
                    + "and socket directory \(socket), but the configuration asks for port \(configuration.port) "
                    + "and \(layout.socketDirectory); stop it first")
        }
    }

    private func checkVersion(of binaries: PostgresBinaries, against dataVersion: String) async throws {
        guard let version = await binaries.version(), let major = PostgresBinaries.major(of: version) else { return }
        guard "\(major)" == dataVersion else {
            throw LocalClusterError(
                code: .dataDirectoryUnusable,
                message: "\(layout.dataDirectory) was created by PostgreSQL \(dataVersion), but the server programs "
                    + "in \(binaries.directory) are version \(version); install postgresql-\(dataVersion) "
                    + "or move the folder away to start afresh")
        }
    }
}
