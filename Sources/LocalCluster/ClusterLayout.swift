/// The paths of one cluster, all derived from its root folder and port.
struct ClusterLayout: Sendable, Equatable {
    /// A Unix socket path must fit `sun_path` (108 bytes on Linux, 104 on macOS, with the NUL).
    static let maximumSocketPathLength = 100

    let root: String
    let port: Int
    /// `<root>/run`, or a short folder under /tmp when that would make the socket path too long.
    let socketDirectory: String

    init(root: String, port: Int) {
        self.root = root
        self.port = port
        let preferred = root + "/run"
        if (preferred + "/" + Self.socketFileName(port: port)).utf8.count <= Self.maximumSocketPathLength {
            socketDirectory = preferred
        } else {
            socketDirectory = "/tmp/optune-" + Self.fnv1a64Hex(root)
        }
    }

    var dataDirectory: String { root + "/pgdata" }
    var runDirectory: String { root + "/run" }
    var logDirectory: String { root + "/log" }
    var logFile: String { logDirectory + "/postgres.log" }
    var lockFile: String { root + "/lock" }
    var versionFile: String { dataDirectory + "/PG_VERSION" }
    var pidFile: String { dataDirectory + "/postmaster.pid" }
    var mainSettingsFile: String { dataDirectory + "/postgresql.conf" }
    /// The include file holding optune's settings, next to `postgresql.conf`.
    var settingsFile: String { dataDirectory + "/optune.conf" }
    var socketFile: String { socketDirectory + "/" + Self.socketFileName(port: port) }
    var socketLockFile: String { socketFile + ".lock" }
    var usesFallbackSocketDirectory: Bool { socketDirectory != runDirectory }

    static func socketFileName(port: Int) -> String { ".s.PGSQL.\(port)" }

    /// A stable hash (unlike `Hasher`, which is seeded per process) of the root path.
    static func fnv1a64Hex(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
