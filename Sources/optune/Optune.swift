import ArgumentParser
import Foundation
import Migrations

@main
struct Optune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optune",
        abstract: "A PostgreSQL replay buffer for online preference tuning (OPTune).",
        discussion: """
            With no configuration optune uses a private PostgreSQL cluster that it creates and starts \
            itself under ./.optune (or $OPTUNE_HOME). Set OPTUNE_DATABASE_URL to any libpq conninfo \
            or URI to use another server; keep passwords in PGPASSWORD or ~/.pgpass, never in argv.
            """,
        version: versionText,
        subcommands: [
            Database.self, Prompts.self, TaskCommand.self, TasksCommand.self, Run.self, Experiment.self, Coordinate.self, Generate.self,
            Score.self, Train.self, Status.self, ExportCommand.self, PolicyCommand.self, ReportCommand.self, Bench.self,
        ]
    )

    /// The optune version (also recorded with workers).
    static let version = "0.1.0"

    /// `optune --version`: the version and the schema (last migration) this build expects.
    static var versionText: String {
        let schema = (try? MigrationFiles.bundled().last?.name) ?? "unknown"
        return "optune \(version) (schema \(schema))"
    }

    /// Parses the command line and runs the command. Usage errors (from parsing and
    /// `validate()`) exit 64 with the subcommand's usage; errors of a running command exit 1
    /// with one `error: …` line (and a `hint: …` where one helps).
    static func main() async {
        lineBufferStandardStreams()
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(joiningNegativeNumbers(Array(CommandLine.arguments.dropFirst())))
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error where error is ExitCode || error is CleanExit || Self.isParserError(error) {
            exit(withError: error)
        } catch {
            for line in RuntimeErrorReport.lines(for: error) { note(line) }
            exit(withError: ExitCode.failure)
        }
    }

    /// `--opt -1` as `--opt=-1`, so a negative number reaches the option (and its check: "must
    /// be ≥ 1") instead of being taken for a flag ("Missing value"). Nothing after `--` changes.
    static func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var terminated = false
        for argument in arguments {
            if argument == "--" { terminated = true }
            if !terminated, let previous = result.last, previous.hasPrefix("--"), previous.count > 2, !previous.contains("="),
                argument.count > 1, argument.hasPrefix("-"), Double(argument) != nil
            {
                result[result.count - 1] = previous + "=" + argument
            } else {
                result.append(argument)
            }
        }
        return result
    }

    /// ArgumentParser's own errors (help and version requests surface when the parsed command
    /// runs), which `exit(withError:)` prints the way ArgumentParser does.
    static func isParserError(_ error: any Error) -> Bool {
        !(error is ValidationError) && String(reflecting: type(of: error)).hasPrefix("ArgumentParser.")
    }
}
