import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A one-line progress bar on standard error, drawn only when standard error is a terminal.
final class ProgressBar: Sendable {
    private let label: String
    private let interactive = isatty(STDERR_FILENO) == 1
    private let lastDraw = Mutex<ContinuousClock.Instant?>(nil)

    init(label: String) {
        self.label = label
    }

    /// Redraws the bar (at most ten times a second). `fraction` nil draws no bar, only the detail.
    func update(fraction: Double?, detail: String) {
        guard interactive else { return }
        let now = ContinuousClock.now
        let due = lastDraw.withLock { last -> Bool in
            if let last, now - last < .milliseconds(100) { return false }
            last = now
            return true
        }
        guard due else { return }
        var line = "\r\u{1B}[2K\(label) "
        if let fraction, fraction.isFinite {
            let width = 30
            let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded())
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            line += String(format: "%3.0f%% ", fraction * 100)
        }
        line += detail
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Prints a message on its own line without garbling the bar.
    func printAbove(_ message: String) {
        FileHandle.standardError.write(Data(((interactive ? "\r\u{1B}[2K" : "") + message + "\n").utf8))
    }

    /// Clears the bar's line (it is drawn again at the next update).
    func clear() {
        guard interactive else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }

    /// Clears the bar.
    func finish() {
        guard interactive else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}
