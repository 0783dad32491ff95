import ArgumentParser
import Buffer
import Daemons

struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "The built-in digit task.", subcommands: [Init.self])

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the built-in task's prompt set and train its π_0 (both reused later).")

        @OptionGroup var task: TaskOptions

        func run() async throws {
            let buffer = try await DatabaseTarget().connect(applicationName: "optune-task", requiringSchema: false)
            try await buffer.migrate()
            let task = task.builtin
            let set = try await task.ensurePromptSet(buffer: buffer)
            let (policy, trained) = try await task.ensureBasePolicy(buffer: buffer)
            _ = try await task.ensureRewardModel(buffer: buffer)
            print("prompt set \(task.setName) (id \(set)); π_0 is policy \(policy)\(trained ? " (trained now)" : " (already stored)")")
        }
    }
}
