/// Helpers for libpq connection strings, which come as URIs or `key=value` lists.
public enum ConnectionString {
    /// `conninfo` with its database replaced by `database`, in the same form it came in.
    ///
    /// Use it to hand another process a connection string (child processes, psql); within one
    /// process prefer `Connection.connect(to:database:)`.
    public static func replacingDatabase(in conninfo: String, with database: String) -> String {
        for scheme in ["postgresql://", "postgres://"] where conninfo.hasPrefix(scheme) {
            let rest = conninfo.dropFirst(scheme.count)
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            var tail = rest[authorityEnd...]
            if tail.first == "/" {
                tail = tail.dropFirst()
                let pathEnd = tail.firstIndex(of: "?") ?? tail.endIndex
                tail = tail[pathEnd...]
            }
            let encoded = database.addingPercentEncodingForURIPath()
            return "\(scheme)\(authority)/\(encoded)\(tail)"
        }
        let escaped = database.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        return "\(conninfo) dbname='\(escaped)'"
    }
}

extension String {
    fileprivate func addingPercentEncodingForURIPath() -> String {
        var result = ""
        for byte in utf8 {
            let scalar = Character(Unicode.Scalar(byte))
            if byte < 128 && (scalar.isLetter || scalar.isNumber || "-._~".contains(scalar)) {
                result.append(scalar)
            } else {
                result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result
    }

    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }

    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
