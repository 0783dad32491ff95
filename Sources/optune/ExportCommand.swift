import ArgumentParser
import Buffer
import Export
import Foundation

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export the training pairs D_t of a run's iteration as JSONL.",
        discussion: """
            --format trl (default) writes what TRL's DPOTrainer loads with no glue code: prompt, \
            chosen and rejected as strings; if the run's prompt set holds any prompt imported as \
            messages, every line is conversational (text prompts become one user message, chosen \
            and rejected one assistant message each), so the file has one schema. --format \
            openrlhf writes prompt/chosen/rejected plus margin (train_dpo.py with --prompt_key \
            prompt; add --apply_chat_template for message lists). --format tokens writes \
            prompt_ids (when stored), chosen_ids and rejected_ids. Every line also carries weight, \
            chosen_reward, rejected_reward, gap, origin and provenance ids; TRL's stock DPOTrainer \
            ignores all of these (weight included: wDPO needs optune's TRL trainer). \
            Zero-gap pairs follow the run's skip_zero_gap unless --skip-zero-gap or \
            --keep-zero-gap says otherwise; --min-gap X also drops pairs with gap < X. \
            Streams with bounded memory; a path ending in .gz is compressed; --output - writes to \
            standard output. A file is written beside the target and renamed into place, so a \
            failed export leaves the previous file intact. Each complete export is recorded in \
            optune.exports with its rows, bytes and sha256.
            """)

    @Option(help: "The run (by name).")
    var run: String

    @Option(help: "The iteration t whose D_t to export (0 … 2147483647).")
    var iteration: Int

    @Option(help: "trl, openrlhf or tokens.")
    var format: ExportFormat = .trl

    @Option(name: .shortAndLong, help: "Output file (.gz to compress), or - for standard output.")
    var output: String

    @Flag(help: "Leave out pairs whose chosen and rejected rewards are equal (default: the run's skip_zero_gap).")
    var skipZeroGap = false

    @Flag(help: "Write zero-gap pairs even if the run skips them in training.")
    var keepZeroGap = false

    @Option(help: "Leave out pairs whose reward gap is below X (a finite number ≥ 0).")
    var minGap: Double?

    func validate() throws {
        guard Int32(exactly: iteration) != nil, iteration >= 0 else {
            throw ValidationError("--iteration must be between 0 and \(Int32.max), got \(iteration)")
        }
        if skipZeroGap && keepZeroGap { throw ValidationError("--skip-zero-gap and --keep-zero-gap contradict each other") }
        if let minGap, !minGap.isFinite || minGap < 0 {
            throw ValidationError("--min-gap must be a finite number ≥ 0, got \(minGap)")
        }
        if output.isEmpty { throw ValidationError("--output must be a path, or - for standard output") }
    }

    func run() async throws {
        // A reader that leaves must surface as EPIPE (reported), not kill the process silently;
        // a file-size limit as EFBIG.
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
        let buffer = try await DatabaseTarget().connect(applicationName: "optune-export")
        guard let runID = try await buffer.runID(named: run) else { throw CLIError.noRun(run) }
        guard let state = try await buffer.iterationState(run: runID, t: iteration) else {
            throw ValidationError("run \(run) has no iteration \(iteration)")
        }
        let options = ExportOptions(zeroGap: skipZeroGap ? .skip : keepZeroGap ? .keep : .followRun, minGap: minGap ?? 0)
        let exporter = Exporter(format: format, options: options)
        let filter = try await exporter.pairFilter(buffer: buffer, run: runID)
        let total = try await buffer.pairCount(run: runID, t: iteration, filter: filter)
        guard total > 0 else {
            let all = try await buffer.pairCount(run: runID, t: iteration)
            if all > 0 {
                throw ValidationError(
                    "all \(all) pairs of run \(run) at iteration \(iteration) are left out by the gap filter; nothing exported")
            }
            throw ValidationError("run \(run) has no pairs at iteration \(iteration) (state \(state.rawValue); D_t is built after scoring)")
        }
        let bar = ProgressBar(label: "exporting")
        let started = ContinuousClock.now
        let summary = try await exporter.export(buffer: buffer, run: runID, t: iteration, path: output) { rows in
            bar.update(fraction: Double(rows) / Double(total), detail: "\(rows)/\(total) pairs")
        }
        bar.finish()
        let elapsed = (ContinuousClock.now - started).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        let skipped = summary.skipped > 0 ? ", \(summary.skipped) left out by the gap filter" : ""
        note(
            "exported \(summary.rows) pairs\(skipped) (\(summary.bytes) bytes, sha256 \(summary.sha256)) in \(String(format: "%.2f", seconds)) s; export id \(summary.exportID)"
        )
    }
}

extension ExportFormat: ExpressibleByArgument {}

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Policies trained outside optune.", subcommands: [Register.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a checkpoint trained elsewhere as π_{t+1} of a run's iteration t.",
            discussion: """
                The workflow for an external trainer: `optune export --run R --iteration t -o dt.jsonl`, \
                train π_{t+1} with TRL on it, serve it, then `optune policy register --run R \
                --iteration t --uri MODEL` so the coordinator moves on and generators send MODEL as \
                the model name. The iteration must be waiting in state training.
                """)

        @Option(help: "The run (by name).")
        var run: String

        @Option(help: "The iteration t whose training produced the checkpoint.")
        var iteration: Int

        @Option(help: "The model name or URI a generation server knows the checkpoint by.")
        var uri: String

        @Option(help: "The checkpoint's sha256 (64 hex digits), for provenance.")
        var sha256: String?

        func validate() throws {
            guard Int32(exactly: iteration) != nil, iteration >= 0 else {
                throw ValidationError("--iteration must be between 0 and \(Int32.max), got \(iteration)")
            }
            if let sha256, sha256.count != 64 || !sha256.allSatisfy(\.isHexDigit) {
                throw ValidationError("--sha256 must be 64 hex digits")
            }
        }

        func run() async throws {
            let buffer = try await DatabaseTarget().connect(applicationName: "optune-policy")
            guard let runID = try await buffer.runID(named: run) else { throw CLIError.noRun(run) }
            let record = try await buffer.runRecord(runID)
            guard let iteration = try await buffer.latestIteration(run: runID),
                iteration.t == self.iteration, iteration.state == .training
            else {
                throw ValidationError("iteration \(self.iteration) of run \(run) is not waiting for training")
            }
            let pairs = try await buffer.pairCount(run: runID, t: self.iteration)
            guard
                let policy = try await buffer.storeTrainingResult(
                    run: runID, t: self.iteration, policyIn: iteration.policy, weightsBlob: nil, uri: uri, sha256: sha256?.lowercased(),
                    configJSON: #"{"kind": "external"}"#, loss: record.config.loss, beta1: record.config.beta1, beta2: record.config.beta2,
                    optimizerJSON: #"{"external": true}"#, pairsUsed: pairs, skippedZeroGap: 0, lossCurve: [], seconds: 0)
            else { throw ValidationError("iteration \(self.iteration) of run \(run) left the training state") }
            print("registered policy \(policy) as π_\(self.iteration + 1) of run \(run) (\(uri))")
        }
    }
}
