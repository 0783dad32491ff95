import Foundation

/// The account that runs `initdb`, `pg_ctl` and `postgres`.
///
/// They refuse to run as root. An ordinary user runs them directly; root runs them through
/// `runuser -u <account> --` as the owner of an existing data directory, or else as the
/// unprivileged `postgres` system user that Debian's package creates, and gives it the folders.
struct ServiceAccount: Sendable {
    static let systemUserName = "postgres"

    /// The account to switch to; nil when the current user runs the programs itself.
    let user: SystemUser?
    private let runuser: String?

    static func resolve(dataDirectory: String) throws -> ServiceAccount {
        guard SystemUser.effectiveUID == 0 else { return ServiceAccount(user: nil, runuser: nil) }
        let target: SystemUser
        if let owner = FileSystem.owner(of: dataDirectory), owner != 0, let user = SystemUser.withID(owner) {
            target = user
        } else if let user = SystemUser.named(systemUserName) {
            target = user
        } else {
            throw LocalClusterError(
                code: .serviceAccountUnavailable,
                message: "running as root, but PostgreSQL refuses to run as root and there is no "
                    + "`\(systemUserName)` system user to run it as; install \(PostgresBinaries.debianPackage) "
                    + "(which creates it) or run optune as an ordinary user")
        }
        guard let runuser = Command.find("runuser") else {
            throw LocalClusterError(
                code: .serviceAccountUnavailable,
                message: "running as root, but `runuser` (util-linux) is missing, so PostgreSQL cannot be run "
                    + "as \(target.name); install util-linux or run optune as an ordinary user")
        }
        return ServiceAccount(user: target, runuser: runuser)
    }

    /// A description for messages: `postgres` or `the current user`.
    var displayName: String { user?.name ?? "the current user" }

    /// `arguments`, prefixed to run as the account when that is another user.
    func command(_ arguments: [String]) -> [String] {
        guard let user, let runuser else { return arguments }
        return [runuser, "-u", user.name, "--"] + arguments
    }

    func run(_ arguments: [String]) async throws -> CommandResult {
        try await Command.run(command(arguments))
    }

    /// Gives the account ownership of `path` when it is another user.
    func own(_ path: String) throws {
        if let user { try FileSystem.setOwner(path, to: user) }
    }

    /// Whether `path` is owned by the account.
    func owns(_ path: String) -> Bool {
        FileSystem.owner(of: path) == (user?.uid ?? geteuid())
    }

    /// Whether the account can write `directory`, i.e. reach it through all its parents.
    func canWrite(_ directory: String) async -> Bool {
        guard user != nil else { return access(directory, W_OK | X_OK) == 0 }
        guard let test = Command.find("test"),
            let result = try? await run([test, "-w", directory, "-a", "-x", directory])
        else { return false }
        return result.succeeded
    }
}
