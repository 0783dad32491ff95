/// How `LocalCluster.stop` shuts the server down (`pg_ctl stop -m`).
public enum StopMode: String, Sendable {
    /// Ends sessions, checkpoints, exits: the default.
    case fast
    /// Exits at once without a checkpoint, like a crash: the next start replays the WAL. For
    /// failure tests.
    case immediate
}

extension LocalCluster {
    /// Stops the server (`pg_ctl stop -m fast` by default: sessions are ended, the data is kept).
    public func stop(mode: StopMode = .fast) async throws -> StopOutcome {
        guard FileSystem.isDirectory(layout.dataDirectory) else { return .notRunning }
        return try await FileLock.withLock(layout.lockFile, timeout: lockTimeout) {
            guard let running = runningServer() else { return .notRunning }
            let binaries = try await locateBinaries()
            let account = try ServiceAccount.resolve(dataDirectory: layout.dataDirectory)
            logger.info("stopping the private PostgreSQL server", metadata: ["pid": "\(running.pid)"])
            let result = try await account.run([
                binaries.pgCtl, "stop", "-D", layout.dataDirectory, "-m", mode.rawValue, "-w",
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
