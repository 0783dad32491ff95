import Foundation

/// The few file operations the cluster needs, with errors that name the path.
enum FileSystem {
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func owner(of path: String) -> uid_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_uid : nil
    }

    /// Creates a directory with `mode` if it is missing (parents too, with 0755); true if created.
    @discardableResult
    static func makeDirectory(_ path: String, mode: mode_t) throws -> Bool {
        if isDirectory(path) { return false }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path && !isDirectory(parent) {
            try makeDirectory(parent, mode: 0o755)
        }
        if mkdir(path, mode) != 0 {
            if errno == EEXIST && isDirectory(path) { return false }
            throw LocalClusterError.fileSystem("cannot create directory", path: path, errno: errno)
        }
        // mkdir applies the umask; set the mode we asked for.
        if chmod(path, mode) != 0 {
            throw LocalClusterError.fileSystem("cannot set the mode of", path: path, errno: errno)
        }
        return true
    }

    static func setOwner(_ path: String, to user: SystemUser) throws {
        if chown(path, user.uid, user.gid) != 0 {
            throw LocalClusterError.fileSystem("cannot give \(user.name) ownership of", path: path, errno: errno)
        }
    }

    static func setMode(_ path: String, _ mode: mode_t) throws {
        if chmod(path, mode) != 0 {
            throw LocalClusterError.fileSystem("cannot set the mode of", path: path, errno: errno)
        }
    }

    static func readText(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func writeText(_ text: String, to path: String) throws {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw LocalClusterError(code: .fileSystem, message: "cannot write \(path): \(error)")
        }
    }

    static func appendText(_ text: String, to path: String) throws {
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw LocalClusterError.fileSystem("cannot open", path: path, errno: errno)
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(text.utf8))
        } catch {
            throw LocalClusterError(code: .fileSystem, message: "cannot append to \(path): \(error)")
        }
    }

    static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT {
            throw LocalClusterError.fileSystem("cannot remove", path: path, errno: errno)
        }
    }

    /// The last `lineCount` lines of a text file, reading at most its last 64 KiB.
    static func tail(_ path: String, lines lineCount: Int = 20) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let end = try? handle.seekToEnd() else { return nil }
        let start = end > 65_536 ? end - 65_536 : 0
        guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else { return nil }
        return lastLines(String(decoding: data, as: UTF8.self), count: lineCount)
    }

    static func lastLines(_ text: String, count: Int) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        return lines.suffix(count).joined(separator: "\n")
    }

    /// The path with symbolic links resolved, or the path itself if that fails.
    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
