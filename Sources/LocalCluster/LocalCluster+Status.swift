extension LocalCluster {
    /// Reports the cluster's state without changing anything (no lock, no files written).
    public func status() async throws -> ClusterStatus {
        let running = runningServer()
        let binaries = try? await locateBinaries()
        return ClusterStatus(
            isInitialized: dataVersion != nil,
            isRunning: running != nil,
            pid: running?.pid,
            dataDirectory: layout.dataDirectory,
            socketDirectory: layout.socketDirectory,
            port: configuration.port,
            logFile: layout.logFile,
            serverVersion: await binaries?.version(),
            dataVersion: dataVersion,
            connectionURL: connectionURL)
    }
}
