import Buffer
import Foundation
import Glibc

/// Per-stage progress of a run on standard error, polled from the database: on a terminal one
/// redrawn line (prompts done / total, rate, ETA); otherwise one line per finished stage.
final class RunProgress: Sendable {
    private let task: Task<Void, Never>
    private let bar = ProgressBar(label: "")
    private let interactive = isatty(STDERR_FILENO) == 1

    /// Watches the run `find` returns (asked again at every poll, so an experiment's current run
    /// is followed) until ``stop()``.
    init(databaseURL: String, find: @escaping @Sendable (ReplayBuffer) async throws -> Int64?) {
        let bar = bar, interactive = interactive
        task = Task {
            guard let buffer = try? await ReplayBuffer.connect(to: databaseURL, applicationName: "optune-progress") else { return }
            var stage: (key: String, started: ContinuousClock.Instant, last: StageProgress)?
            while !Task.isCancelled {
                if let run = try? await find(buffer), let now = try? await buffer.stageProgress(run: run) {
                    let key = "\(now.run) \(now.t) \(now.state)"
                    if let current = stage, current.key != key {
                        let line = Self.finishedLine(current.last, seconds: (ContinuousClock.now - current.started).seconds)
                        if interactive { bar.printAbove(line) } else { note(line) }
                        stage = nil
                    }
                    if stage == nil { stage = (key, .now, now) }
                    stage?.last = now
                    if interactive, let current = stage {
                        bar.update(
                            fraction: now.total > 0 ? Double(now.finished) / Double(now.total) : nil,
                            detail: Self.liveDetail(now, seconds: (ContinuousClock.now - current.started).seconds))
                    }
                }
                try? await Task.sleep(for: .milliseconds(interactive ? 200 : 500))
            }
            bar.finish()
            await buffer.close()
        }
    }

    /// Prints `line` on standard output without garbling the progress line on a terminal.
    func printData(_ line: String) {
        if interactive { bar.clear() }
        print(line)
    }

    /// Prints `line` on standard error without garbling the progress line on a terminal.
    func printNote(_ line: String) {
        if interactive { bar.printAbove(line) } else { note(line) }
    }

    func stop() async {
        task.cancel()
        await task.value
    }

    /// "run t=1 generating 120/240 prompts  40/s  ETA 3 s".
    static func liveDetail(_ p: StageProgress, seconds: Double) -> String {
        var text = "\(p.run) t=\(p.t) \(p.state)"
        guard p.total > 0 else { return text + "  \(Int(seconds)) s" }
        text += " \(p.finished)/\(p.total) prompts"
        let rate = seconds > 0 ? Double(p.finished) / seconds : 0
        if rate > 0 {
            text += String(format: "  %.0f/s  ETA %.0f s", rate, Double(p.total - p.finished) / rate)
        }
        return text
    }

    /// "run t=1 generating: 240 prompts in 3.2 s (75/s)".
    static func finishedLine(_ p: StageProgress, seconds: Double) -> String {
        var text = "\(p.run) t=\(p.t) \(p.state):"
        if p.total > 0 {
            text += " \(p.total) prompts in " + String(format: "%.1f s (%.0f/s)", seconds, seconds > 0 ? Double(p.total) / seconds : 0)
        } else {
            text += String(format: " %.1f s", seconds)
        }
        return text
    }
}
