import ArgumentParser
import Buffer
import CStdio
import Foundation
import Logging

/// How log lines look: human-readable text, or one JSON object per line for log collectors.
enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text, json
}

/// Sends swift-log output to standard error at `level` in `format` (once per process).
func bootstrapLogging(level: Logger.Level, format: LogFormat = .text) {
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Makes standard output line-buffered and standard error unbuffered, whatever they are
/// connected to (a pipe under nohup, a Slurm log file, `| tee`), so every line shows at once.
func lineBufferStandardStreams() {
    optune_line_buffer_standard_streams()
}

/// One JSON object per line on standard error: `timestamp` (ISO 8601, UTC, milliseconds),
/// `level`, `label`, `message`, `metadata` (an object of strings), and `source` / `file:line`
/// for warnings and worse.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        FileHandle.standardError.write(
            Data(
                Self.line(
                    level: event.level, label: label, message: "\(event.message)", metadata: merged, source: event.source,
                    file: event.file, line: event.line, date: Date()
                ).utf8))
    }

    /// The JSON line (newline included) of one log event.
    static func line(
        level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, source: String, file: String, line: UInt, date: Date
    ) -> String {
        var fields = [
            "\"timestamp\":\(quoted(timestamp(date)))", "\"level\":\(quoted(level.rawValue))", "\"label\":\(quoted(label))",
            "\"message\":\(quoted(message))",
        ]
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\(quoted($0.key)):\(quoted("\($0.value)"))" }
        fields.append("\"metadata\":{\(pairs.joined(separator: ","))}")
        if level >= .warning {
            fields.append("\"source\":\(quoted(source))")
            fields.append("\"location\":\(quoted("\((file as NSString).lastPathComponent):\(line)"))")
        }
        return "{" + fields.joined(separator: ",") + "}\n"
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    /// `text` as a JSON string literal.
    static func quoted(_ text: String) -> String { JSONText.quoted(text) }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
