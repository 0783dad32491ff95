import Foundation

/// One schema migration shipped with optune: `Migrations/sql/NNNN_name.sql`.
public struct MigrationFile: Sendable, Hashable {
    /// The file name without `.sql`, e.g. `0001_data_model`; migrations apply in this order.
    public let name: String
    /// The SQL script, run in one transaction.
    public let sql: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }
}

/// The migrations bundled with this build, in the order they apply.
public enum MigrationFiles {
    /// Reads every `NNNN_*.sql` resource, sorted by name.
    public static func bundled() throws -> [MigrationFile] {
        guard let folder = Bundle.module.url(forResource: "sql", withExtension: nil) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "the migrations folder is missing from the bundle"])
        }
        return try load(from: folder)
    }

    /// Reads every `NNNN_*.sql` file of `folder`, sorted by name.
    public static func load(from folder: URL) throws -> [MigrationFile] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".sql") && $0.first?.isNumber == true }
            .sorted()
        return try names.map { fileName in
            let sql = try String(contentsOf: folder.appendingPathComponent(fileName), encoding: .utf8)
            return MigrationFile(name: String(fileName.dropLast(4)), sql: sql)
        }
    }
}
