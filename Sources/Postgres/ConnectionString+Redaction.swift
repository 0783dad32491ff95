import CLibPQ

extension ConnectionString {
    /// Checks that libpq can parse `conninfo` (a URI or a `key=value` list) without connecting.
    ///
    /// Throws a ``PostgresError`` (`.connectionFailed`) whose message says what libpq found wrong,
    /// with every password in `conninfo` replaced by `***` — libpq's own message quotes the
    /// malformed URI or token, password included.
    public static func validate(_ conninfo: String) throws(PostgresError) {
        var failure: UnsafeMutablePointer<CChar>?
        if let options = PQconninfoParse(conninfo, &failure) {
            PQconninfoFree(options)
            return
        }
        let reason = failure.map { String(cString: $0).trimmingTrailingNewlines() } ?? "libpq could not parse it"
        if let failure { PQfreemem(failure) }
        let kind = isURI(conninfo) ? "invalid URI" : "invalid connection string"
        throw PostgresError(code: .connectionFailed, message: "\(kind): \(redacting(reason, conninfo: conninfo))")
    }

    /// `text` with every password written in `conninfo` replaced by `***`: the whole string where
    /// it is quoted, then each password as written and percent-decoded.
    ///
    /// Passwords are the user-info part of a URI (`postgresql://user:PASSWORD@host`, read as
    /// libpq reads it and, for a malformed URI, up to the last `@`), `password=` and
    /// `sslpassword=` in a URI's query or a `key=value` list. Use it on any message that may
    /// quote a connection string.
    public static func redacting(_ text: String, conninfo: String) -> String {
        var result = text.replacingEvery(conninfo, with: redacted(conninfo))
        for secret in secrets(in: conninfo).sorted(by: { $0.count > $1.count }) {
            result = result.replacingEvery(secret, with: "***")
        }
        return result
    }

    /// `conninfo` with its passwords replaced by `***`.
    public static func redacted(_ conninfo: String) -> String {
        var result = conninfo
        for secret in secrets(in: conninfo).sorted(by: { $0.count > $1.count }) {
            result = result.replacingEvery(secret, with: "***")
        }
        return result
    }

    /// The passwords of `conninfo` as written, and percent-decoded where that differs.
    static func secrets(in conninfo: String) -> [String] {
        var found: [String] = []
        if let scheme = ["postgresql://", "postgres://"].first(where: { conninfo.hasPrefix($0) }) {
            let rest = Substring(conninfo.dropFirst(scheme.count))
            // libpq: user info ends at the first '@' unless a '/' comes first.
            if let end = rest.firstIndex(where: { $0 == "@" || $0 == "/" }), rest[end] == "@",
                let colon = rest[..<end].firstIndex(of: ":")
            {
                found.append(String(rest[rest.index(after: colon)..<end]))
            }
            // A malformed URI may put the password anywhere before the last '@'.
            if let end = rest.lastIndex(of: "@"), let colon = rest[..<end].firstIndex(of: ":") {
                found.append(String(rest[rest.index(after: colon)..<end]))
            }
            if let query = rest.firstIndex(of: "?") {
                for parameter in rest[rest.index(after: query)...].split(separator: "&") {
                    let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    if parts.count == 2, parts[0].lowercased().hasSuffix("password") { found.append(String(parts[1])) }
                }
            }
        } else {
            found += keywordPasswords(in: conninfo)
        }
        let decoded = found.compactMap { $0.removingPercentEncodingLeniently() }
        return Array(Set((found + decoded).filter { !$0.isEmpty }))
    }

    static func isURI(_ conninfo: String) -> Bool {
        conninfo.hasPrefix("postgresql://") || conninfo.hasPrefix("postgres://")
    }

    /// Values of `password` / `sslpassword` keys of a `key=value` list, quoted or not, raw and unescaped.
    private static func keywordPasswords(in conninfo: String) -> [String] {
        var found: [String] = []
        let characters = Array(conninfo)
        var index = 0
        while index < characters.count {
            // A key: letters and underscores, then optional spaces and '='.
            guard characters[index].isLetter else {
                index += 1
                continue
            }
            let keyStart = index
            while index < characters.count, characters[index].isLetter || characters[index] == "_" { index += 1 }
            let key = String(characters[keyStart..<index]).lowercased()
            var cursor = index
            while cursor < characters.count, characters[cursor].isWhitespace { cursor += 1 }
            guard cursor < characters.count, characters[cursor] == "=" else { continue }
            cursor += 1
            while cursor < characters.count, characters[cursor].isWhitespace { cursor += 1 }
            var raw = ""
            var value = ""
            if cursor < characters.count, characters[cursor] == "'" {
                cursor += 1
                while cursor < characters.count, characters[cursor] != "'" {
                    if characters[cursor] == "\\", cursor + 1 < characters.count {
                        raw.append(characters[cursor])
                        cursor += 1
                    }
                    raw.append(characters[cursor])
                    value.append(characters[cursor])
                    cursor += 1
                }
                cursor += 1
            } else {
                while cursor < characters.count, !characters[cursor].isWhitespace {
                    raw.append(characters[cursor])
                    value.append(characters[cursor])
                    cursor += 1
                }
            }
            if key.hasSuffix("password") { found += [raw, value] }
            index = cursor
        }
        return found
    }
}

extension String {
    fileprivate func replacingEvery(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }

    fileprivate func trimmingTrailingNewlines() -> String {
        var text = self
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }

    /// Percent-decoding that keeps malformed escapes (`%zz`) as they are; nil when nothing changes.
    fileprivate func removingPercentEncodingLeniently() -> String? {
        var bytes: [UInt8] = []
        let utf8 = Array(self.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "%"), index + 2 < utf8.count,
                let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2])
            {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        let decoded = String(decoding: bytes, as: UTF8.self)
        return decoded == self ? nil : decoded
    }

    private func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
