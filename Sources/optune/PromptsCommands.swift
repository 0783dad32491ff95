import ArgumentParser
import Buffer
import Foundation
import Synchronization

struct Prompts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage prompts and prompt sets.",
        subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import JSONL prompt files into a named prompt set.",
            discussion: """
                Each line is a JSON object with "prompt" (a string, or a list of chat messages as in \
                TRL's conversational format) or "messages" (a chat list), and optional "id", "split" \
                ("train" or "eval") and "metadata" (an object). Preference files with \
                "prompt"/"chosen"/"rejected" import too; only the prompt is kept.

                Prompts are deduplicated by content hash: importing a file twice stores nothing \
                twice. A malformed line is reported as FILE:LINE with the reason and skipped; with \
                --strict the import is all-or-nothing. Files stream in batches, so memory stays \
                bounded for millions of prompts.
                """)

        @Argument(help: "JSONL files to import, in order.")
        var files: [String]

        @Option(name: .long, help: "The prompt set to add the prompts to (created if new).")
        var set: String

        @Option(name: .long, help: "Split for lines that do not give one: train or eval.")
        var split: PromptSplit = .train

        @Flag(name: .long, help: "Store nothing if any line is malformed.")
        var strict = false

        @Option(name: .long, parsing: .unconditional, help: "Lines per batch (one COPY and one transaction each, unless --strict).")
        var batchSize = 2_000

        @Option(name: .long, parsing: .unconditional, help: "Print at most this many malformed-line errors (all are counted).")
        var maxErrors = 50

        func validate() throws {
            guard !set.isEmpty else { throw ValidationError("--set needs a non-empty name") }
            try OptionCheck.integer(batchSize, in: 1...1_000_000, "--batch-size")
            try OptionCheck.integer(maxErrors, in: 0...Int.max, "--max-errors")
            for file in files {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
                    throw ValidationError("\(file) is a directory; give JSONL files")
                }
                guard FileManager.default.isReadableFile(atPath: file) else { throw ValidationError("cannot read \(file)") }
            }
        }

        func run() async throws {
            let buffer = ReplayBuffer(connection: try await DatabaseTarget().connect(applicationName: "optune-import"))
            var importer = PromptImporter(setName: set)
            importer.defaultSplit = split
            importer.strict = strict
            importer.batchSize = batchSize
            let printed = Mutex(0)
            let maxErrors = maxErrors
            let bar = ProgressBar(label: "importing")
            let summary = try await importer.run(
                files: files, buffer: buffer,
                rejected: { error in
                    let shown = printed.withLock { count -> Bool in
                        count += 1
                        return count <= maxErrors
                    }
                    if shown { bar.printAbove("rejected \(error)") }
                },
                progress: { progress in
                    bar.update(fraction: progress.bytesTotal.map { $0 > 0 ? Double(progress.bytesRead) / Double($0) : 1 },
                               detail: "\((progress.file as NSString).lastPathComponent): \(progress.linesRead) lines")
                })
            bar.finish()
            let hidden = summary.rejected - min(summary.rejected, maxErrors)
            if hidden > 0 { note("… and \(hidden) more malformed line(s)") }
            if summary.rolledBack {
                print("rolled back (--strict): \(summary.rejected) malformed line(s); nothing was stored")
                throw ExitCode(2)
            }
            print("""
                set \(set): imported \(summary.imported) (\(summary.stored) new, \(summary.linked) already stored elsewhere), \
                duplicates \(summary.duplicates), rejected \(summary.rejected)
                """)
        }
    }
}

extension PromptSplit: ExpressibleByArgument {}
