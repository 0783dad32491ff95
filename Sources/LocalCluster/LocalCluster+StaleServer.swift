import Foundation

extension LocalCluster {
    /// Makes a data directory whose server died (say by `kill -9`) startable again.
    ///
    /// The server's children notice the postmaster's death and exit; until they have, the old
    /// shared memory is in use and a new server would refuse to start, so wait for them (and end
    /// them if they linger). If the dead postmaster's pid now belongs to an unrelated process (or
    /// is still an unreaped zombie), PostgreSQL would take the stale `postmaster.pid` for a live
    /// server: remove it and the socket's lock file. A stale pid file naming no process is left
    /// to PostgreSQL, which removes it itself and cleans up the old shared memory.
    func clearStaleServer() async throws {
        guard let stale = PostmasterPIDFile.read(layout.pidFile) else { return }
        logger.notice(
            "the private PostgreSQL server was not shut down cleanly; recovering",
            metadata: ["pid": "\(stale.pid)"])
        try await waitForLeftoverServerProcesses()
        // A killed postmaster is a zombie until an init process reaps it; give that a moment.
        for _ in 0..<20 where ProcessProbe.isZombie(stale.pid) {
            try await Task.sleep(for: .milliseconds(100))
        }
        guard ProcessProbe.isInUse(stale.pid) else { return }
        logger.notice(
            "removing postmaster.pid: its pid belongs to another process (or an unreaped zombie)",
            metadata: ["pid": "\(stale.pid)"])
        if let segment = stale.sharedMemoryID { removeUnusedSharedMemory(segment) }
        try FileSystem.remove(layout.pidFile)
        if let socketLock = PostmasterPIDFile.read(layout.socketLockFile),
            !ProcessProbe.isServer(socketLock.pid, dataDirectory: layout.dataDirectory)
        {
            try FileSystem.remove(layout.socketLockFile)
            try FileSystem.remove(layout.socketFile)
        }
    }

    /// Waits for processes of an earlier server on this data directory to exit: 5 s on their
    /// own, then asks them to quit (SIGQUIT, as the postmaster would), then kills them.
    private func waitForLeftoverServerProcesses() async throws {
        for signal in [nil, SIGQUIT, SIGKILL] as [Int32?] {
            let leftovers = ProcessProbe.serverProcesses(dataDirectory: layout.dataDirectory)
            if leftovers.isEmpty { return }
            if let signal {
                logger.warning(
                    "ending processes left by the earlier server",
                    metadata: ["pids": "\(leftovers)", "signal": "\(signal)"])
                for pid in leftovers { kill(pid, signal) }
            }
            for _ in 0..<50 {
                if ProcessProbe.serverProcesses(dataDirectory: layout.dataDirectory).isEmpty { return }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let leftovers = ProcessProbe.serverProcesses(dataDirectory: layout.dataDirectory)
        guard leftovers.isEmpty else {
            throw LocalClusterError(
                code: .leftoverServerProcesses,
                message: "processes of an earlier server (\(leftovers.map(String.init).joined(separator: ", "))) "
                    + "still use \(layout.dataDirectory) and would not end; stop them and start again")
        }
    }

    /// Removes the dead server's System V shared memory segment once nothing uses it; without
    /// `postmaster.pid`, the next server could not find it to clean it up.
    private func removeUnusedSharedMemory(_ segment: Int32) {
        var info = shmid_ds()
        guard shmctl(segment, IPC_STAT, &info) == 0, info.shm_nattch == 0 else { return }
        _ = shmctl(segment, IPC_RMID, nil)
    }
}
