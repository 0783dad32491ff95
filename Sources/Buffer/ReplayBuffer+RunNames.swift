import Postgres

extension ReplayBuffer {
    /// The names of the runs that start with `prefix` (compared as text, no pattern syntax), sorted.
    public func runNames(prefix: String) async throws -> [String] {
        try await connection.query(
            "SELECT name FROM optune.runs WHERE left(name, char_length($1)) = $1 ORDER BY name", [prefix]
        ).map { try $0.decode(0, as: String.self) }
    }
}
