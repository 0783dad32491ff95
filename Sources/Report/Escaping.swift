/// Text and attribute values for HTML/SVG that also parse as XML: `&`, `<`, `>`, `"` and `'` are
/// escaped, and characters XML 1.0 forbids (control characters other than tab, newline and
/// carriage return; lone surrogates cannot occur in a Swift string; U+FFFE/U+FFFF) become
/// U+FFFD. Every piece of data the report prints — run names above all, which are user input —
/// goes through here.
func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
        default:
            let v = scalar.value
            if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0xFFFE || v == 0xFFFF {
                out += "\u{FFFD}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}

/// `text` cut to `limit` characters with an ellipsis (for legends; the full text goes in a title).
func truncated(_ text: String, to limit: Int) -> String {
    text.count <= limit ? text : String(text.prefix(max(1, limit - 1))) + "…"
}
