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
                Inputs are JSONL files, plain or gzip-compressed (.jsonl.gz, detected by content), \
                or - for standard input. Each line is a JSON object. The prompt is read from the \
                first of these that the line has:

                1. "prompt": a string, or a list of chat messages (TRL's conversational format). \
                Preference lines ("prompt"/"chosen"/"rejected", e.g. UltraFeedback-binarized with \
                its extra "messages") keep only the prompt.
                2. "messages": a conversation; a last assistant turn is dropped, the rest is the prompt.
                3. "chosen" (else "rejected"): an Anthropic HH-RLHF transcript \
                ("\\n\\nHuman: … \\n\\nAssistant: …") or a TRL implicit-prompt conversation; \
                the turns before the last assistant turn become chat messages.

                --prompt-key / --messages-key read other fields instead (and then only those). \
                Optional "id", "split" ("train" or "eval") and "metadata" (an object) are kept. \
                --as-chat stores string prompts as one user message, so chat servers apply their \
                chat template.

                Prompts are deduplicated by content hash: importing a file twice stores nothing \
                twice. A line that is malformed, has a null prompt, holds a NUL character (\\u0000) \
                or is longer than --max-line-bytes (16 MiB by default) is reported as FILE:LINE \
                with the reason and skipped; the rest is imported. The exit status is 1 when more \
                lines were rejected than --allow-errors allows, when nothing was imported (then no \
                prompt set is created) and when an input cannot be read. With --strict the import \
                is all-or-nothing (exit status 2 when rolled back).

                Parquet (how Hugging Face stores datasets) is not read; convert it to JSONL first:

                python -c "import datasets; datasets.load_dataset('HuggingFaceH4/ultrafeedback_binarized', split='train_prefs').to_json('uf.jsonl')"
                """)

        @Argument(help: "JSONL or JSONL.gz files to import, in order; - reads standard input.")
        var files: [String]

        @Option(name: .long, help: "The prompt set to add the prompts to (created with its first prompt).")
        var set: String

        @Option(name: .long, help: "Split for lines that do not give one: train or eval.")
        var split: PromptSplit = .train

        @Option(name: .long, help: "Read the prompt (a string or a list of messages) from this field instead of \"prompt\".")
        var promptKey: String?

        @Option(name: .long, help: "Read a conversation from this field instead of \"messages\" (a last assistant turn is dropped).")
        var messagesKey: String?

        @Flag(name: .long, help: "Store string prompts as one user message, so chat servers apply their chat template.")
        var asChat = false

        @Option(name: .long, parsing: .unconditional, help: "Rejected lines tolerated before the exit status says failure.")
        var allowErrors = 0

        @Option(
            name: .long, parsing: .unconditional,
            help: "Longest line read, in bytes (default 16 MiB); longer lines are reported and skipped.")
        var maxLineBytes = LineReader.defaultMaxLineBytes

        @Flag(name: .long, help: "Store nothing if any line is rejected.")
        var strict = false

        @Option(name: .long, parsing: .unconditional, help: "Lines per batch (one COPY and one transaction each, unless --strict).")
        var batchSize = 2_000

        @Option(name: .long, parsing: .unconditional, help: "Print at most this many rejected-line errors (all are counted).")
        var maxErrors = 50

        func validate() throws {
            guard !set.isEmpty else { throw ValidationError("--set needs a non-empty name") }
            try OptionCheck.integer(batchSize, in: 1...1_000_000, "--batch-size")
            try OptionCheck.integer(allowErrors, in: 0...Int.max, "--allow-errors")
            try OptionCheck.integer(maxErrors, in: 0...Int.max, "--max-errors")
            try OptionCheck.integer(maxLineBytes, in: 1...(1 << 30), "--max-line-bytes")
            if let promptKey, promptKey.isEmpty { throw ValidationError("--prompt-key needs a field name") }
            if let messagesKey, messagesKey.isEmpty { throw ValidationError("--messages-key needs a field name") }
            if strict && allowErrors > 0 {
                throw ValidationError("--strict stores nothing when a line is rejected; it cannot be combined with --allow-errors")
            }
            guard files.filter({ $0 == "-" }).count <= 1 else { throw ValidationError("- (standard input) can be given only once") }
        }

        func run() async throws {
            // Unreadable inputs fail before anything is stored, with one line each.
            for file in files {
                do {
                    try LineReader(path: file).validate()
                } catch {
                    throw ImportFailure(error.description)
                }
            }
            let buffer = try await DatabaseTarget().connect(applicationName: "optune-import")
            var importer = PromptImporter(setName: set)
            importer.defaultSplit = split
            importer.strict = strict
            importer.batchSize = batchSize
            importer.options = PromptLineOptions(promptKey: promptKey, messagesKey: messagesKey, asChat: asChat)
            importer.maxLineBytes = maxLineBytes
            let printed = Mutex(0)
            let maxErrors = maxErrors
            let bar = ProgressBar(label: "importing")
            let summary: PromptImporter.Summary
            do {
                summary = try await importer.run(
                    files: files, buffer: buffer,
                    rejected: { error in
                        let shown = printed.withLock { count -> Bool in
                            count += 1
                            return count <= maxErrors
                        }
                        if shown { bar.printAbove("rejected \(error)") }
                    },
                    progress: { progress in
                        bar.update(
                            fraction: progress.bytesTotal.map { $0 > 0 ? Double(progress.bytesRead) / Double($0) : 1 },
                            detail: "\((progress.file as NSString).lastPathComponent): \(progress.linesRead) lines")
                    })
            } catch let error as LineReaderError {
                bar.finish()
                throw ImportFailure(error.description)
            }
            bar.finish()
            let hidden = summary.rejected - min(summary.rejected, maxErrors)
            if hidden > 0 { note("… and \(hidden) more rejected line(s)") }
            if summary.rolledBack {
                print("rolled back (--strict): \(summary.rejected) rejected line(s); nothing was stored")
                throw ExitCode(2)
            }
            print(
                """
                set \(set): imported \(summary.imported) (\(summary.stored) new, \(summary.linked) already stored elsewhere), \
                duplicates \(summary.duplicates), rejected \(summary.rejected)
                """)
            if summary.accepted == 0 {
                throw ImportFailure(
                    "nothing imported: no line held a prompt (\(summary.rejected) rejected, \(summary.blank) blank); set \(set) was not created or changed"
                )
            }
            if summary.rejected > allowErrors {
                throw ImportFailure(
                    "\(summary.rejected) line(s) rejected, more than --allow-errors \(allowErrors) allows; the other lines were imported")
            }
        }
    }

    /// A failed import, printed as one line ("Error: …") with exit status 1.
    struct ImportFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

extension PromptSplit: ExpressibleByArgument {}
