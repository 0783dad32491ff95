import ArgumentParser
import Buffer
import Foundation

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show iterations (and what each unfinished one waits for), task counts, workers, dead tasks and unpaired prompts.",
        discussion: """
            A worker is live when its last heartbeat is at most \(Int(StatusSnapshot.liveThresholdSeconds)) s old, stale \
            when older (killed, hung or cut off from the database), stopped when it exited cleanly. With --run, \
            the workers started for that run and the live or stale ones serving any run are listed; without, \
            every worker not stopped; --all lists every worker ever registered.

            --watch prints a snapshot every --interval seconds until interrupted: redrawn on a terminal, \
            appended (text, or one JSON object per line with --json) when standard output is a pipe or file.
            """)

    @Option(help: "One run (by name); default: the latest iteration of every run.")
    var run: String?

    @Flag(help: "List every worker, stopped ones and those of other runs included.")
    var all = false

    @Flag(help: "Print the snapshot as JSON (snake_case keys) for scripts.")
    var json = false

    @Flag(help: "Print a snapshot every --interval seconds until interrupted.")
    var watch = false

    @Option(help: "Seconds between snapshots of --watch.")
    var interval = 2.0

    func validate() throws {
        guard interval.isFinite, interval >= 0.1, interval <= 86_400 else {
            throw ValidationError("--interval must be in [0.1, 86400] seconds")
        }
    }

    func run() async throws {
        let buffer = try await DatabaseTarget().connect(applicationName: "optune-status")
        let terminal = isatty(STDOUT_FILENO) != 0
        repeat {
            let snapshot: StatusSnapshot
            do {
                snapshot = try await buffer.status(run: run, allWorkers: all)
            } catch let error as BufferError where error.message.hasPrefix("no run named") {
                throw CLIError.noRun(run ?? "")
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting =
                    watch ? [.sortedKeys, .withoutEscapingSlashes] : [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(snapshot), as: UTF8.self))
            } else {
                if watch && terminal { print("\u{1B}[2J\u{1B}[H", terminator: "") }
                if watch && !terminal { print("--- \(Date().formatted(.iso8601))") }
                print(StatusFormatter.format(snapshot))
            }
            if watch { try await Task.sleep(for: .milliseconds(Int64(interval * 1000))) }
        } while watch
    }
}

enum StatusFormatter {
    static func format(_ s: StatusSnapshot) -> String {
        var lines = ["ITERATIONS"]
        if s.iterations.isEmpty { lines.append("  (none)") }
        for i in s.iterations {
            let eval = i.evalReward.map { String(format: "  eval %.4f", $0) } ?? ""
            var line = "  \(i.run)  t=\(i.t)  \(i.state)  selected \(i.selected)\(eval)"
            if let waiting = i.waitingFor { line += "  since \(duration(i.secondsInState)) — \(waiting)" }
            if let reason = i.failureReason { line += "  — \(reason)" }
            lines.append(line)
        }
        lines.append("TASKS (latest iteration)")
        if s.queues.isEmpty { lines.append("  (none)") }
        for q in s.queues {
            lines.append("  \(q.run)  t=\(q.t)  \(q.queue): pending \(q.pending), leased \(q.leased), done \(q.done), dead \(q.dead)")
        }
        lines.append("WORKERS (live: heartbeat within \(Int(s.liveThresholdSeconds)) s)")
        if s.workers.isEmpty { lines.append("  (none)") }
        for w in s.workers {
            lines.append(
                "  \(w.role)  \(w.id)  \(w.liveness), last heartbeat \(duration(w.secondsSinceHeartbeat)) ago  (\(w.host), pid \(w.pid))"
                    + (w.run.map { "  run \($0)" } ?? "  any run"))
        }
        if !s.unpairedPrompts.isEmpty {
            lines.append("UNPAIRED PROMPTS (no new pair)")
            for u in s.unpairedPrompts {
                lines.append("  \(u.run)  t=\(u.t)  prompt \(u.prompt)  \(u.keptPair ? "kept its D_{t-1} pair" : "no pair"): \(u.reason)")
            }
        }
        if !s.deadTasks.isEmpty {
            lines.append("DEAD TASKS")
            for d in s.deadTasks {
                lines.append("  \(d.run)  t=\(d.t)  \(d.queue)  prompt \(d.prompt)  after \(d.attempts) attempt(s): \(d.error)")
            }
            lines.append("  (retry them with `optune tasks retry --run RUN` once the cause is fixed)")
        }
        return lines.joined(separator: "\n")
    }

    /// "42 s", "3 min 5 s", "2 h 10 min".
    static func duration(_ seconds: Double) -> String {
        let s = Int(max(0, seconds.rounded()))
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        return "\(s / 3600) h \(s % 3600 / 60) min"
    }
}
