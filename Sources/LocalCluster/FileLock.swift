import Foundation

/// An exclusive `flock` on a file, held by start, stop and initialization so that two of them,
/// in one process or in several, never work on the same cluster at once.
final class FileLock: Sendable {
    private let descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Waits (without blocking a thread) until the lock is free, for at most `timeout`.
    static func acquire(_ path: String, timeout: Duration) async throws -> FileLock {
        // O_CLOEXEC: the postmaster started under the lock must not inherit (and keep) it.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw LocalClusterError.fileSystem("cannot open lock file", path: path, errno: errno)
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return FileLock(descriptor: descriptor) }
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(descriptor)
                throw LocalClusterError.fileSystem("cannot lock", path: path, errno: code)
            }
            if clock.now >= deadline {
                close(descriptor)
                throw LocalClusterError(
                    code: .lockTimedOut,
                    message: "another optune process has held \(path) for over \(timeout); is a start or stop stuck?")
            }
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                close(descriptor)
                throw error
            }
        }
    }

    /// Runs `body` while holding the lock on `path`.
    static func withLock<T: Sendable>(
        _ path: String, timeout: Duration, _ body: () async throws -> T
    ) async throws -> T {
        let lock = try await acquire(path, timeout: timeout)
        defer { lock.release() }
        return try await body()
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
