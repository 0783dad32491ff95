import Postgres

/// JSON text for the configs and records the buffer stores as jsonb, for modules that do not
/// speak to PostgreSQL themselves.
public enum JSONText {
    /// `string` as a JSON string literal (quotes and escapes included).
    public static func quoted(_ string: String) -> String { JSONB.quoted(string) }
}
