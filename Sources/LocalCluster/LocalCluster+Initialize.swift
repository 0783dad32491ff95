import Foundation

extension LocalCluster {
    /// Creates the folders the server needs, private (0700) and owned by the account running it.
    /// As root, the root folder itself goes to that account if root owns it.
    func prepareFolders(for account: ServiceAccount) async throws {
        if let user = account.user, FileSystem.owner(of: layout.root) == 0 {
            try FileSystem.setOwner(layout.root, to: user)
        }
        if account.user != nil, !(await account.canWrite(layout.root)) {
            throw LocalClusterError(
                code: .fileSystem,
                message: "PostgreSQL runs as \(account.displayName) (it refuses root), but that user cannot reach "
                    + "\(layout.root); every folder above it must be searchable by others (chmod o+x), "
                    + "or set OPTUNE_HOME to a folder such as /var/lib/optune")
        }
        var folders = [layout.logDirectory]
        if !layout.usesFallbackSocketDirectory { folders.append(layout.runDirectory) }
        for folder in folders {
            try FileSystem.makeDirectory(folder, mode: 0o700)
            if !account.owns(folder) { try account.own(folder) }
        }
        if layout.usesFallbackSocketDirectory { try prepareFallbackSocketDirectory(account: account) }
    }

    /// The short socket folder under /tmp: it must be a real directory of the account's, 0700.
    private func prepareFallbackSocketDirectory(account: ServiceAccount) throws {
        let path = layout.socketDirectory
        if try FileSystem.makeDirectory(path, mode: 0o700) { try account.own(path) }
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw LocalClusterError(
                code: .socketDirectoryUnsafe, message: "\(path) (the socket directory) is not a plain directory")
        }
        guard account.owns(path) else {
            throw LocalClusterError(
                code: .socketDirectoryUnsafe,
                message: "\(path) (the socket directory for \(layout.root)) belongs to another user; "
                    + "remove it or choose a shorter OPTUNE_HOME")
        }
        if info.st_mode & 0o077 != 0 { try FileSystem.setMode(path, 0o700) }
    }

    /// Runs `initdb` into an empty data directory.
    func initialize(binaries: PostgresBinaries, account: ServiceAccount) async throws {
        let data = layout.dataDirectory
        if try FileSystem.makeDirectory(data, mode: 0o700) {
            try account.own(data)
        } else {
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: data)) ?? []
            guard contents.isEmpty else {
                throw LocalClusterError(
                    code: .dataDirectoryUnusable,
                    message: "\(data) is not empty but holds no PostgreSQL cluster (no PG_VERSION); "
                        + "move it away so a new cluster can be created")
            }
            if !account.owns(data) { try account.own(data) }
        }
        let locale = Self.initdbLocale
        logger.info(
            "creating the private PostgreSQL cluster",
            metadata: ["data": "\(data)", "locale": "\(locale)", "as": "\(account.displayName)"])
        var arguments = [
            binaries.initdb, "-D", data, "-U", configuration.superuser, "--auth=trust", "-E", "UTF8",
            "--locale=\(locale)", "--no-instructions",
        ]
        if !configuration.fsync { arguments.append("--no-sync") }
        let result = try await account.run(arguments)
        guard result.succeeded else {
            throw LocalClusterError(
                code: .initializationFailed,
                message: "initdb could not create the private PostgreSQL cluster in \(data)",
                command: result.arguments, exitStatus: result.status, output: result.outputTail)
        }
    }

    /// `C.UTF-8` where the C library has it (glibc does), else `C`.
    static var initdbLocale: String {
        #if canImport(Glibc)
            if let locale = newlocale(Int32(1) << LC_CTYPE, "C.UTF-8", nil) {
                freelocale(locale)
                return "C.UTF-8"
            }
        #endif
        return "C"
    }

    static let includeLine = "include = 'optune.conf'"

    /// Writes optune's settings into `optune.conf`, included from `postgresql.conf`.
    ///
    /// Written when the cluster is created; rewritten only if the configuration changed
    /// (another port, socket directory or setting), which takes effect at the next start.
    func writeSettings(account: ServiceAccount) throws {
        let main = FileSystem.readText(layout.mainSettingsFile) ?? ""
        let lines = main.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if !lines.contains(Self.includeLine) {
            try FileSystem.appendText(
                "\n# optune: the settings of its private cluster.\n\(Self.includeLine)\n", to: layout.mainSettingsFile)
        }
        let settings = renderedSettings
        guard FileSystem.readText(layout.settingsFile) != settings else { return }
        try FileSystem.writeText(settings, to: layout.settingsFile)
        try account.own(layout.settingsFile)
    }

    var renderedSettings: String {
        var lines = [
            "# Written by optune for its private cluster; edit the configuration, not this file.",
            "# Unix socket only, no TCP; only the owner (and root) may connect.",
            "listen_addresses = ''",
            "port = \(configuration.port)",
            "unix_socket_directories = \(Self.quoted(layout.socketDirectory))",
            "unix_socket_permissions = 0700",
        ]
        if !configuration.fsync {
            // Safe against a crash of the server (the OS keeps what was written), not of the machine.
            lines += ["fsync = off", "full_page_writes = off"]
        }
        for (name, value) in configuration.serverSettings.sorted(by: { $0.key < $1.key }) {
            lines.append("\(name) = \(value)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func quoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
