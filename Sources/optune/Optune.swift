import ArgumentParser

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
        subcommands: [Database.self, Prompts.self, TaskCommand.self, TasksCommand.self, Run.self, Experiment.self, Coordinate.self, Generate.self, Score.self, Train.self, Status.self, ExportCommand.self, PolicyCommand.self, ReportCommand.self, Bench.self]
    )
}
