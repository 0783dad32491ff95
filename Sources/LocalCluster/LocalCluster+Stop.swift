extension LocalCluster {
    /// Stops the server (`pg_ctl stop -m fast`: sessions are ended, the data is kept).
    public func stop() async throws -> StopOutcome {
        guard FileSystem.isDirectory(layout.dataDirectory) else { return .notRunning }
        return try await FileLock.withLock(layout.lockFile, timeout: lockTimeout) {
            guard let running = runningServer() else { return .notRunning }
            let binaries = try await locateBinaries()
            let account = try ServiceAccount.resolve(dataDirectory: layout.dataDirectory)
            logger.info("stopping the private PostgreSQL server", metadata: ["pid": "\(running.pid)"])
            let result = try await account.run([
                binaries.pgCtl, "stop", "-D", layout.dataDirectory, "-m", "fast", "-w",
                "-t", "\(configuration.timeoutSeconds)",
            ])
            guard result.succeeded else {
                throw LocalClusterError(
                    code: .stopFailed,
                    message: "the private PostgreSQL server in \(layout.dataDirectory) did not stop",
                    command: result.arguments, exitStatus: result.status, output: result.outputTail,
                    serverLog: serverLogTail())
            }
            return .stopped
        }
    }
}
