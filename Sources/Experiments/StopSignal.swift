import Synchronization
import UnixSignals

/// Catches SIGINT and SIGTERM for the whole grid, also between runs (while a run is driven its
/// own watcher stops it; this one makes the grid stop after it rather than start the next).
final class StopSignal: Sendable {
    private final class Flag: Sendable {
        let caught = Mutex(false)
    }

    private let flag: Flag
    private let watcher: Task<Void, Never>

    init() {
        let flag = Flag()
        self.flag = flag
        watcher = Task {
            let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
            for await _ in signals {
                flag.caught.withLock { $0 = true }
            }
        }
    }

    /// Whether a signal arrived.
    var isSet: Bool { flag.caught.withLock { $0 } }

    /// Stops watching.
    func cancel() { watcher.cancel() }
}
