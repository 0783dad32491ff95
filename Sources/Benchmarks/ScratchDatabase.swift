import Foundation
import Postgres

/// A database of the bench's own on the configured server: created empty, dropped afterwards
/// (unless kept for a look), so no measurement touches the buffer's data.
public struct ScratchDatabase: Sendable {
    /// The database's name, `optune_bench_<pid>`.
    public let name: String
    /// A libpq URI for it.
    public let url: String
    let serverURL: String

    /// Creates the scratch database on the server of `serverURL`.
    public static func create(serverURL: String) async throws -> ScratchDatabase {
        let name = "optune_bench_\(ProcessInfo.processInfo.processIdentifier)"
        let admin = try await Connection.connect(to: serverURL, applicationName: "optune-bench")
        do {
            try await admin.execute("CREATE DATABASE \(try await admin.quoteIdentifier(name))")
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        return ScratchDatabase(name: name, url: ConnectionString.replacingDatabase(in: serverURL, with: name), serverURL: serverURL)
    }

    /// Drops the database (ending any session still in it).
    public func drop() async throws {
        let admin = try await Connection.connect(to: serverURL, applicationName: "optune-bench")
        do {
            try await admin.execute("DROP DATABASE IF EXISTS \(try await admin.quoteIdentifier(name)) WITH (FORCE)")
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
    }
}
