import ArgumentParser
import Buffer
import Foundation

/// `optune tasks …`: the work queues.
struct TasksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks", abstract: "Inspect and repair a run's work queues.", subcommands: [Retry.self])

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Requeue a run's dead tasks and reopen its failed iteration.",
            discussion: """
                Dead generation and scoring tasks of the iteration go back to pending with fresh attempts; \
                a failed iteration is reopened (generating, scoring or training, from what is left to do) \
                and the run is marked running again. Then continue it: `optune run --resume NAME` for a \
                built-in run, or start its daemons (`optune coordinate --run NAME`, …).
                """)

        @Option(help: "The run, by name.")
        var run: String

        @Option(help: "The iteration (default: the run's latest).")
        var iteration: Int?

        func validate() throws {
            if let iteration, iteration < 0 || iteration > Int(Int32.max) {
                throw ValidationError("--iteration must be between 0 and \(Int32.max)")
            }
        }

        func run() async throws {
            let buffer = try await DatabaseTarget().connect(applicationName: "optune-tasks", requiringSchema: false)
            try await buffer.migrate()
            guard let runID = try await buffer.runID(named: run) else {
                await buffer.close()
                throw RunLookupError("no run named \(run) (optune status lists the runs)")
            }
            let retry = try await buffer.retryDeadTasks(run: runID, t: iteration)
            await buffer.close()
            var line = "run \(run) iteration \(retry.t): \(retry.requeued) dead task(s) requeued"
            if let state = retry.reopenedAs { line += "; iteration reopened in \(state.rawValue)" }
            print(line)
            if retry.requeued == 0 && retry.reopenedAs == nil {
                note("nothing to retry: iteration \(retry.t) has no dead tasks and did not fail")
            } else {
                note("continue with: optune run --resume \(run)   (or the run's daemons)")
            }
        }
    }
}
