import ArgumentParser
import Buffer
import Foundation

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
        case let error as RunNameTaken:
            return ["error: \(error)", "hint: pick another --name, or continue it with `optune run --resume \(error.name)`"]
        case _ where DatabaseErrorReport(error) != nil:
            let report = DatabaseErrorReport(error)
            return ["error: \(report?.message ?? "\(error)")"] + (report?.hint.map { ["hint: \($0)"] } ?? [])
        case let error as CocoaError:
            let path = (error.userInfo[NSFilePathErrorKey] as? String) ?? error.filePath ?? error.url?.path
            let reason =
                (error.underlying as? POSIXError).map { String(cString: strerror($0.code.rawValue)) }
                ?? firstLine(error.localizedDescription)
            return ["error: \(path.map { "\($0): " } ?? "")\(reason)"]
        default:
            return ["error: \(firstLine("\(error)"))"]
        }
    }

    static func firstLine(_ text: String) -> String {
        String(text.split(separator: "\n", maxSplits: 1).first ?? "")
    }
}
