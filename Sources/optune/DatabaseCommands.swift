import ArgumentParser
import Buffer
import Foundation
import LocalCluster

struct Database: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Manage the database: the embedded cluster and the schema.",
        discussion: """
            start/stop/status act on the embedded cluster (./.optune, or $OPTUNE_HOME); with \
            OPTUNE_DATABASE_URL set they report that an external server is in use. \
            `url` prints the connection string for psql: psql "$(optune db url)".
            """,
        subcommands: [Start.self, Stop.self, Status.self, URLCommand.self, Migrate.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create (on first use) and start the embedded PostgreSQL; a no-op if it runs.")

        func run() async throws {
            guard let cluster = try requireEmbedded() else { return }
            switch try await cluster.start() {
            case .started: print("started the embedded PostgreSQL (\(cluster.configuration.root))")
            case .alreadyRunning: print("the embedded PostgreSQL is already running (\(cluster.configuration.root))")
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the embedded PostgreSQL.")

        func run() async throws {
            guard let cluster = try requireEmbedded() else { return }
            switch try await cluster.stop() {
            case .stopped: print("stopped the embedded PostgreSQL")
            case .notRunning: print("the embedded PostgreSQL is not running")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the database in use, whether it runs, and its schema version.")

        func run() async throws {
            let target = DatabaseTarget()
            var reachable = true
            if let cluster = target.cluster {
                let status = try await cluster.status()
                print("database:      embedded (\(status.dataDirectory))")
                print("initialized:   \(status.isInitialized ? "yes" : "no")")
                print("running:       \(status.isRunning ? "yes, pid \(status.pid.map(String.init) ?? "?")" : "no")")
                print("socket:        \(status.socketDirectory) (port \(status.port))")
                print("log:           \(status.logFile)")
                if let version = status.serverVersion { print("server:        \(version)") }
                reachable = status.isRunning
            } else {
                print("database:      external (OPTUNE_DATABASE_URL)")
            }
            guard reachable else {
                print("schema:        unknown (start it with `optune db start`)")
                return
            }
            let buffer = try await ReplayBuffer.connect(to: try await target.connectionURL(), applicationName: "optune-status")
            if target.cluster == nil {
                print("server:        \(try await buffer.serverVersion())")
            }
            let migrations = try await buffer.migrationStatus()
            let applied = migrations.filter { $0.state == .applied }.count
            let pending = migrations.filter { $0.state == .pending }.count
            let drifted = migrations.filter { $0.state == .modified }.map(\.name)
            print(
                "schema:        \(applied) migration(s) applied, \(pending) pending"
                    + (drifted.isEmpty ? "" : ", EDITED after applying: \(drifted.joined(separator: ", "))"))
            if pending > 0 { print("               run `optune db migrate` to apply the pending ones") }
        }
    }

    struct URLCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "url", abstract: "Print the libpq connection string (starting the embedded cluster if needed).")

        func run() async throws {
            print(try await DatabaseTarget().connectionURL(progress: { note($0) }))
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply pending schema migrations, each in one transaction.",
            discussion: """
                Concurrent runs are safe (an advisory lock serialises them). A migration file edited \
                after it was applied is refused; add a new migration instead.
                """)

        @Flag(name: .long, help: "List applied and pending migrations without applying any.")
        var status = false

        func run() async throws {
            let buffer = try await DatabaseTarget().connect(applicationName: "optune-migrate", requiringSchema: false)
            if status {
                for migration in try await buffer.migrationStatus() {
                    print("\(migration.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(migration.name)")
                }
                return
            }
            let applied = try await buffer.migrate()
            if applied.isEmpty {
                print("the schema is up to date (\(try ReplayBuffer.bundledMigrationCount()) migration(s))")
            } else {
                for name in applied { print("applied \(name)") }
            }
        }
    }
}

/// The embedded cluster, or nil after explaining that an external server is configured.
private func requireEmbedded() throws -> LocalCluster? {
    guard let cluster = DatabaseTarget().cluster else {
        print("OPTUNE_DATABASE_URL is set: optune uses that server and manages no embedded cluster")
        return nil
    }
    return cluster
}
