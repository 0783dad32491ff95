import Foundation

/// The PostgreSQL programs the cluster runs, all from one folder.
struct PostgresBinaries: Sendable, Equatable {
    static let serverPrograms = ["initdb", "pg_ctl", "postgres"]
    static let clientPrograms = ["psql", "createdb"]
    static let debianPackage = "postgresql-15"

    let directory: String

    var initdb: String { directory + "/initdb" }
    var pgCtl: String { directory + "/pg_ctl" }
    var postgres: String { directory + "/postgres" }
    var psql: String { directory + "/psql" }
    var createdb: String { directory + "/createdb" }

    /// Finds the programs: `override` if given; else the version that made the data directory
    /// (`preferredMajor`), `pg_config --bindir`, the newest `/usr/lib/postgresql/*/bin`, `PATH`.
    static func locate(override: String?, preferredMajor: Int?) async throws -> PostgresBinaries {
        if let override {
            guard isComplete(override) else {
                throw notFound(searched: [override], detail: "the configured bin directory lacks some of them")
            }
            return PostgresBinaries(directory: override)
        }
        var candidates: [String] = []
        if let preferredMajor { candidates.append("/usr/lib/postgresql/\(preferredMajor)/bin") }
        if let pgConfig = Command.find("pg_config"),
            let result = try? await Command.run([pgConfig, "--bindir"]), result.succeeded
        {
            candidates.append(result.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        candidates += debianBinDirectories()
        if let pgCtl = Command.find("pg_ctl") {
            candidates.append((FileSystem.realPath(pgCtl) as NSString).deletingLastPathComponent)
        }
        guard let found = candidates.first(where: isComplete) else {
            throw notFound(searched: candidates, detail: nil)
        }
        return PostgresBinaries(directory: found)
    }

    /// `/usr/lib/postgresql/<major>/bin`, newest first.
    static func debianBinDirectories() -> [String] {
        let base = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return
            versions
            .sorted { $0.compare($1, options: .numeric) == .orderedDescending }
            .map { "\(base)/\($0)/bin" }
    }

    private static func isComplete(_ directory: String) -> Bool {
        (serverPrograms + clientPrograms).allSatisfy { access(directory + "/" + $0, X_OK) == 0 }
    }

    private static func notFound(searched: [String], detail: String?) -> LocalClusterError {
        var message =
            "the PostgreSQL server programs (\((serverPrograms + clientPrograms).joined(separator: ", "))) "
            + "were not found"
        if let detail { message += ": " + detail }
        if !searched.isEmpty { message += " (looked in \(searched.joined(separator: ", ")))" }
        message +=
            ". Install them with `apt-get install \(debianPackage)` (Debian/Ubuntu), "
            + "or point OPTUNE_DATABASE_URL at an existing server."
        return LocalClusterError(code: .binariesNotFound, message: message)
    }

    /// The server's version, e.g. `15.18`, from `postgres --version` (which also works as root).
    func version() async -> String? {
        guard let result = try? await Command.run([postgres, "--version"]), result.succeeded else { return nil }
        // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        let words = result.output.split(whereSeparator: \.isWhitespace)
        guard let index = words.firstIndex(of: "(PostgreSQL)"), index + 1 < words.count else { return nil }
        return String(words[index + 1])
    }

    /// The major version number of a version such as `15.18` or `16beta1`.
    static func major(of version: String) -> Int? {
        Int(version.prefix { $0.isNumber })
    }
}
