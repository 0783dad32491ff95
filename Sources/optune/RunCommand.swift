import ArgumentParser
import Backends
import Buffer
import Daemons
import Foundation
import Logging
import ServiceLifecycle

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a run and drive its OPTune iterations in this process.",
        discussion: """
            Uses the embedded default unless OPTUNE_DATABASE_URL is set: the built-in digit task, its \
            SFT start point π_0 (trained once per task seed and reused), the built-in policy and reward. \
            The coordinator, generator(s), scorer and trainer run in this process with the same code as \
            the separate daemons (optune coordinate / generate / score / train). Prints one line per \
            iteration: eval reward of π_t, mean chosen reward, prompts regenerated, train tokens and \
            the saving against ρ = 1 (estimated from iteration 0), final training loss and seconds per stage.

            --fork RUN@t starts the new run from iteration t of RUN, by reference: its D_t, responses \
            and π_{t+1} are shared, not copied.
            """)

    @Option(help: "The run's name (default: a timestamp).")
    var name: String?

    @OptionGroup var options: RunConfigOptions
    @OptionGroup var task: TaskOptions

    @Option(help: "Run over this imported prompt set instead of the built-in task (needs --base-uri and --create-only).")
    var promptSet: String?

    @Option(help: "π_0 as a served model name or URI (with --prompt-set): what generators send as `model`.")
    var baseUri: String?

    @Option(help: "The sha256 of π_0's checkpoint, for provenance (with --base-uri).")
    var baseSha256: String?

    @Option(help: "The reward model's name (with --prompt-set), recorded with every reward.")
    var rewardModel = "http-reward"

    @Option(help: "Fork from iteration t of another run: NAME@t.")
    var fork: String?

    @Option(parsing: .unconditional, help: "Generator workers in this process.")
    var generators = 1

    @Option(help: "Log level of the in-process daemons.")
    var logLevel: Logger.Level = .warning

    @OptionGroup var observability: ObservabilityOptions

    @Flag(help: "Only create the run; drive it with separate daemons (optune coordinate, generate, score, train).")
    var createOnly = false

    @Option(
        help: ArgumentHelp(
            "Continue the existing run NAME in this process from where the database says it is (after SIGINT, a crash, or `optune tasks retry`).",
            valueName: "NAME"))
    var resume: String?

    func validate() throws {
        if let fork, parseFork(fork) == nil {
            throw ValidationError("--fork must look like NAME@t with 0 ≤ t < \(RunConfig.maxIterations), e.g. baseline@0")
        }
        guard (1...Self.maxGenerators).contains(generators) else {
            throw ValidationError("--generators must be in 1…\(Self.maxGenerators), got \(generators)")
        }
        if promptSet == nil, options.samples > BuiltinTask.maxSamplesPerPrompt {
            throw ValidationError(
                "--samples must be at most \(BuiltinTask.maxSamplesPerPrompt) for the built-in task, got \(options.samples)")
        }
        if promptSet != nil {
            guard baseUri != nil else { throw ValidationError("--prompt-set needs --base-uri: the served model that is π_0") }
            guard createOnly else {
                throw ValidationError("--prompt-set runs are driven by separate daemons with HTTP backends: add --create-only")
            }
            guard fork == nil else {
                throw ValidationError("--prompt-set and --fork exclude each other (a fork uses its parent's prompts)")
            }
        } else if baseUri != nil {
            throw ValidationError("--base-uri goes with --prompt-set")
        } else if options.samples > BuiltinTask.maxSamplesPerPrompt {
            throw ValidationError(
                "--samples must be at most \(BuiltinTask.maxSamplesPerPrompt) for the built-in task, got \(options.samples)")
        }
        if let baseSha256, baseSha256.count != 64 || !baseSha256.allSatisfy(\.isHexDigit) {
            throw ValidationError("--base-sha256 must be 64 hex digits")
        }
    }

    func run() async throws {
        try observability.start(logLevel: logLevel)
        let url = try await DatabaseTarget().connectionURL(progress: { note($0) })
        if let resume {
            try await resumeRun(named: resume, url: url)
            return
        }
        let buffer = try await ReplayBuffer.connect(to: url, applicationName: "optune-run")
        try await buffer.migrate()
        let runName = name ?? "run-\(Int(Date().timeIntervalSince1970))"
        if try await buffer.runID(named: runName) != nil {
            throw CLIError(
                "a run named \(runName) already exists", hint: "pick another --name, or continue it with `optune run --resume \(runName)`")
        }
        let runID: Int64
        if let fork, let (parentName, t) = parseFork(fork) {
            guard let parent = try await buffer.runID(named: parentName) else { throw CLIError.noRun(parentName) }
            let record = try await buffer.runRecord(parent)
            runID = try await buffer.createRun(
                name: runName, promptSetID: record.promptSetID, rewardModelID: record.rewardModelID,
                config: options.config(basePolicy: nil), forkedFrom: (parent, t))
            note("run \(runName) (id \(runID)) forks \(parentName)@\(t)")
        } else if let promptSet, let baseUri {
            guard let set = try await buffer.existingPromptSet(named: promptSet) else {
                throw ValidationError(
                    "no prompt set named \(promptSet); import prompts with `optune prompts import FILE --set \(promptSet)`")
            }
            guard try await !buffer.promptIDs(inSet: set, split: .train).isEmpty else {
                throw ValidationError("prompt set \(promptSet) has no train prompts")
            }
            let base = try await buffer.externalBasePolicy(uri: baseUri, sha256: baseSha256)
            let model = try await buffer.rewardModel(name: rewardModel, version: "1", backend: "http")
            runID = try await buffer.createRun(
                name: runName, promptSetID: set, rewardModelID: model, config: options.config(basePolicy: base))
            note(
                "run \(runName) (id \(runID)): prompt set \(promptSet), π_0 = \(baseUri), ρ \(options.rho), \(options.strategy.rawValue), \(options.loss.rawValue), T = \(options.iterations)"
            )
        } else {
            let task = task.builtin
            let set = try await task.ensurePromptSet(buffer: buffer)
            let started = ContinuousClock.now
            let (base, trained) = try await task.ensureBasePolicy(buffer: buffer)
            if trained {
                note(
                    "trained π_0 by SFT on noisy demonstrations in \(String(format: "%.1f", (ContinuousClock.now - started).seconds)) s (stored as policy \(base))"
                )
            }
            let model = try await task.ensureRewardModel(buffer: buffer)
            let chunkSize = task.defaultChunkSize(rho: options.rho, generators: generators)
            runID = try await buffer.createRun(
                name: runName, promptSetID: set, rewardModelID: model, config: options.config(basePolicy: base, defaultChunkSize: chunkSize)
            )
            note(
                "run \(runName) (id \(runID)): \(task.setName), ρ \(options.rho), \(options.strategy.rawValue), \(options.loss.rawValue), T = \(options.iterations)"
            )
        }
        await buffer.close()
        if createOnly {
            print(runName)
            return
        }
        try await drive(runID: runID, name: runName, url: url)
    }

    /// Most in-process generator workers.
    static let maxGenerators = 256

    func parseFork(_ text: String) -> (String, Int)? {
        guard let at = text.lastIndex(of: "@"), let t = Int(text[text.index(after: at)...]), t >= 0, t < RunConfig.maxIterations,
            at != text.startIndex
        else { return nil }
        return (String(text[..<at]), t)
    }
}

/// The one-line report of an iteration.
enum IterationLine {
    static func format(_ s: IterationSummary) -> String {
        func value(_ x: Double?, _ format: String = "%.3f") -> String { x.map { String(format: format, $0) } ?? "  –  " }
        let stages = ["select", "generate", "score", "build", "train", "evaluate"].map { name in
            "\(name.prefix(3)) \(value(s.stageSeconds[name], "%.2f"))s"
        }.joined(separator: " ")
        let saving = s.tokenSaving.map { String(format: "%3.0f%%", $0 * 100) } ?? "  – "
        return "t=\(s.t)  eval \(value(s.evalReward))  chosen \(value(s.meanChosenReward))  regen \(s.regenerated)/\(s.promptsTotal)"
            + "  tokens \(s.tokensGenerated) (saving \(saving))  loss \(value(s.finalLoss))  \(stages)"
    }
}
