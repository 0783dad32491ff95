import ArgumentParser
import Buffer
import Daemons
import Foundation
import Synchronization

extension Run {
    /// Drives the run in this process; on SIGINT/SIGTERM prints where it stopped and how to
    /// resume, and exits 130/143.
    func drive(runID: Int64, name: String, url: String) async throws {
        let started = ContinuousClock.now
        let progress = RunProgress(databaseURL: url) { _ in runID }
        let share = Mutex(BufferShare())
        let outcome: RunDriver.Outcome
        do {
            outcome = try await RunDriver(databaseURL: url, run: runID, generators: generators).drive { summary in
                progress.printData(IterationLine.format(summary))
                progress.printNote(share.withLock { $0.line(t: summary.t) })
            }
        } catch {
            await progress.stop()
            throw error
        }
        await progress.stop()
        let seconds = String(format: "%.1f", (ContinuousClock.now - started).seconds)
        switch outcome {
        case .finished:
            note("run \(name) finished in \(seconds) s")
        case .interrupted(let signal):
            let buffer = try await ReplayBuffer.connect(to: url, applicationName: "optune-run")
            let latest = try? await buffer.latestIteration(run: runID)
            await buffer.close()
            let place = latest.map { "at iteration \($0.t) (\($0.state.rawValue))" } ?? "before its first iteration"
            note("run \(name) stopped \(place) by \(signal == 15 ? "SIGTERM" : "SIGINT") after \(seconds) s; leases returned")
            note("resume with: optune run --resume \(name)")
            throw ExitCode(128 + signal)
        }
    }

    /// `optune run --resume NAME`: continues an existing run of the built-in task in this process.
    func resumeRun(named name: String, url: String) async throws {
        let buffer = try await ReplayBuffer.connect(to: url, applicationName: "optune-run")
        try await buffer.migrate()
        guard let runID = try await buffer.runID(named: name) else {
            await buffer.close()
            throw RunLookupError("no run named \(name) (optune status lists the runs)")
        }
        let record = try await buffer.runRecord(runID)
        let latest = try await buffer.latestIteration(run: runID)
        let external = try await buffer.usesExternalPolicy(run: runID)
        await buffer.close()
        switch record.status {
        case .done:
            note("run \(name) is already done")
            return
        case .failed:
            let reason = latest?.failureReason.map { ": \($0)" } ?? ""
            throw RunLookupError(
                "run \(name) failed\(reason)\nfix the cause, then `optune tasks retry --run \(name)` reopens it for --resume")
        default:
            break
        }
        guard !external else {
            throw RunLookupError(
                "run \(name) samples an external model: resume it with its daemons (optune coordinate --run \(name), generate --backend openai, score, train)"
            )
        }
        note("resuming run \(name) " + (latest.map { "at iteration \($0.t) (\($0.state.rawValue))" } ?? "from its start"))
        try await drive(runID: runID, name: name, url: url)
    }
}

/// A run named on the command line cannot be used as asked.
struct RunLookupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
