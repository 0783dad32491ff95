import ArgumentParser
import Foundation
import Postgres

/// A runtime failure of a command (not found, conflict, I/O): printed as one `error: …` line,
/// with a `hint: …` line when one helps, and exit status 1. Usage mistakes are
/// `ValidationError`s thrown from `validate()` (exit 64 with the subcommand's usage).
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var hint: String?

    init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    var description: String { message }

    /// "no run named X", with where to look.
    static func noRun(_ name: String) -> CLIError {
        CLIError("no run named \(name)", hint: "`optune status` lists the runs of this database")
    }
}

/// How a runtime error is reported: the lines printed to standard error.
enum RuntimeErrorReport {
    static func lines(for error: any Error) -> [String] {
        switch error {
        case let error as CLIError:
            return ["error: \(error.message)"] + (error.hint.map { ["hint: \($0)"] } ?? [])
        case let error as ValidationError:
            // Thrown from run(): a lookup that failed, not a malformed command line.
            return ["error: \(error.message)"]
        case let error as PostgresError:
            if error.sqlState == "23505", error.constraint == "runs_name_unique" {
                let name = error.detail.flatMap(Self.keyValue) ?? "?"
                return ["error: a run named \(name) already exists", "hint: pick another --name, or continue it with `optune run --resume \(name)`"]
            }
            if error.sqlState == "42P01" || error.sqlState == "3F000" {
                return ["error: the database has no optune schema (\(error.message))", "hint: run `optune db migrate`"]
            }
            var lines = ["error: \(error.sqlState.map { "\($0) " } ?? "")\(error.message)"]
            if let hint = error.hint { lines.append("hint: \(hint)") }
            return lines
        case let error as CocoaError:
            let path = (error.userInfo[NSFilePathErrorKey] as? String) ?? error.filePath ?? error.url?.path
            let reason = (error.underlying as? POSIXError).map { String(cString: strerror($0.code.rawValue)) }
                ?? firstLine(error.localizedDescription)
            return ["error: \(path.map { "\($0): " } ?? "")\(reason)"]
        default:
            return ["error: \(firstLine("\(error)"))"]
        }
    }

    /// "Key (name)=(x) already exists." → "x".
    static func keyValue(_ detail: String) -> String? {
        guard let open = detail.range(of: ")=("), let close = detail.range(of: ")", range: open.upperBound..<detail.endIndex) else { return nil }
        return String(detail[open.upperBound..<close.lowerBound])
    }

    static func firstLine(_ text: String) -> String {
        String(text.split(separator: "\n", maxSplits: 1).first ?? "")
    }
}
