import ArgumentParser
import Backends
import Buffer
import Daemons
import Export
import Foundation
import LocalCluster
import Logging
import ServiceLifecycle

/// Options every worker daemon takes.
struct DaemonOptions: ParsableArguments {
    @Option(help: "Only work on this run (by name); default: any run.")
    var run: String?

    @Option(
        parsing: .unconditional,
        help: "Prompts leased per batch: whole chunks (the run's --chunk-size), at least one, more while they fit in this number.")
    var batchSize = 256

    @Option(
        parsing: .unconditional,
        help: "Lease length in seconds; a killed worker's chunks return to the queue after it, split in 4 smaller chunks.")
    var leaseSeconds = 30.0

    @Option(parsing: .unconditional, help: "Longest wait in milliseconds between looks for work (LISTEN/NOTIFY wakes sooner).")
    var pollMilliseconds = 500

    @OptionGroup var patience: DatabasePatienceOption

    @Option(help: "Log level.")
    var logLevel: Logger.Level = .info

    @OptionGroup var observability: ObservabilityOptions

    func validate() throws {
        try OptionCheck.integer(batchSize, in: 1...100_000, "--batch-size")
        try OptionCheck.seconds(leaseSeconds, upTo: OptionCheck.week, "--lease-seconds")
        try OptionCheck.integer(pollMilliseconds, in: 1...3_600_000, "--poll-milliseconds")
    }

    /// Settings and the database URL; resolves --run to an id.
    func resolve() async throws -> (url: String, settings: DaemonSettings) {
        try observability.start(logLevel: logLevel)
        let url = try await DatabaseTarget().schemaURL()
        var settings = DaemonSettings()
        settings.batchSize = batchSize
        settings.leaseSeconds = leaseSeconds
        settings.pollInterval = .milliseconds(pollMilliseconds)
        settings.startupPatience = try patience.duration()
        // One database per process: a prompt read at t is served from memory at t + 1.
        settings.promptCache = PromptCache()
        if let run {
            let buffer = try await ReplayBuffer.connect(to: url, applicationName: "optune")
            guard let id = try await buffer.runID(named: run) else { throw CLIError.noRun(run) }
            settings.run = id
            await buffer.close()
        }
        return (url, settings)
    }
}

/// Runs one service until SIGTERM or SIGINT, then shuts it down gracefully.
func runUntilSignalled(_ service: some Service, label: String) async throws {
    let logger = Logger(label: label)
    let group = ServiceGroup(
        configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

/// Options of the HTTP backends (`generate --backend openai`, `score --backend http`).
struct HTTPBackendOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: "HTTP requests in flight at once (default: 32 for generation, 4 for scoring, 16 for --backend vllm scoring).")
    var maxConcurrency: Int?

    @Option(
        parsing: .unconditional, help: "Longest time one HTTP request may take, in seconds (default: 300 for generation, 120 for scoring).")
    var timeoutSeconds: Double?

    @Option(
        parsing: .unconditional, help: "Tries per HTTP request on 429, 5xx, timeouts and connection errors, the first included (default 4)."
    )
    var maxAttempts: Int?

    @Option(
        parsing: .unconditional,
        help: "Consecutive transport / 5xx failures that open the circuit: the daemon stops leasing and probes the server (default 5).")
    var circuitFailures: Int?

    @Option(parsing: .unconditional, help: "Seconds between probes of a server whose circuit is open (default 5).")
    var probeSeconds: Double?

    /// The flags given on the command line, for refusing them with a built-in backend.
    var given: [String] {
        [
            ("--max-concurrency", maxConcurrency != nil), ("--timeout-seconds", timeoutSeconds != nil),
            ("--max-attempts", maxAttempts != nil),
            ("--circuit-failures", circuitFailures != nil), ("--probe-seconds", probeSeconds != nil),
        ].filter(\.1).map(\.0)
    }

    func validate() throws {
        if let maxConcurrency { try OptionCheck.integer(maxConcurrency, in: 1...10_000, "--max-concurrency") }
        if let timeoutSeconds { try OptionCheck.seconds(timeoutSeconds, upTo: OptionCheck.day, "--timeout-seconds") }
        if let maxAttempts { try OptionCheck.integer(maxAttempts, in: 1...100, "--max-attempts") }
        if let circuitFailures { try OptionCheck.integer(circuitFailures, in: 1...1_000_000, "--circuit-failures") }
        if let probeSeconds { try OptionCheck.seconds(probeSeconds, upTo: OptionCheck.day, "--probe-seconds") }
    }

    func settings(apiKey: String?, defaultConcurrency: Int, defaultTimeout: Double) -> HTTPClientSettings {
        var http = HTTPClientSettings(apiKey: apiKey)
        http.maxConcurrentRequests = maxConcurrency ?? defaultConcurrency
        http.timeout = .milliseconds(Int64((timeoutSeconds ?? defaultTimeout) * 1000))
        http.maxAttempts = maxAttempts ?? 4
        http.breaker = CircuitBreaker.Settings(
            failureThreshold: circuitFailures ?? 5, probeInterval: .milliseconds(Int64((probeSeconds ?? 5) * 1000)))
        return http
    }
}

/// An http(s) URL with a host and no credentials in it (keys come from the environment).
func httpURL(_ text: String, option: String) throws -> URL {
    guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
        let host = components.host, !host.isEmpty, let url = components.url
    else {
        throw ValidationError("\(option) must be an http:// or https:// URL with a host, e.g. http://gpu1:8000")
    }
    guard components.user == nil, components.password == nil else {
        throw ValidationError("\(option) must not carry credentials; put the API key in the environment instead")
    }
    return url
}

enum GenerationBackendKind: String, ExpressibleByArgument, CaseIterable {
    case builtin, openai
}

enum RewardBackendKind: String, ExpressibleByArgument, CaseIterable {
    case builtin, http, vllm
}

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a generator daemon: lease generation tasks, sample, submit.",
        discussion: """
            Run as many as you like, here or on other machines sharing OPTUNE_DATABASE_URL. SIGTERM finishes \
            the batch in hand, returns unfinished leases and exits 0.

            --backend builtin samples built-in policies in this process. --backend openai sends every \
            sample to an OpenAI-compatible server (vLLM, SGLang, llama.cpp): one request per sample with \
            its recorded seed; /v1/completions for text prompts, /v1/chat/completions for chat prompts; \
            the model is π_t's URI (optune policy register --uri), which the server must list in \
            /v1/models. The API key comes from OPTUNE_API_KEY (else OPENAI_API_KEY), never from argv.
            """)

    @OptionGroup var daemon: DaemonOptions

    @Option(help: "builtin (the built-in policy) or openai (an OpenAI-compatible server).")
    var backend: GenerationBackendKind = .builtin

    @Option(help: "The server of --backend openai, e.g. http://gpu1:8000 (or …:8000/v1).")
    var baseURL: String?

    @OptionGroup var http: HTTPBackendOptions

    @Option(parsing: .unconditional, help: "Sampling temperature.")
    var temperature = 1.0

    @Option(parsing: .unconditional, help: "Nucleus sampling top-p.")
    var topP = 1.0

    @Option(parsing: .unconditional, help: "Maximum tokens per response (default: 12 built-in, 512 openai).")
    var maxTokens: Int?

    @Option(help: "A stop sequence (openai; repeat for several).")
    var stop: [String] = []

    @Flag(
        help:
            "openai: do not ask for token ids (vLLM's return_token_ids / return_tokens_as_token_ids), for servers that reject unknown fields; responses then store text only."
    )
    var noTokenIds = false

    @Flag(help: "openai: do not ask for logprobs (then no logprob sum is recorded).")
    var noLogprobs = false

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Wait this long before submitting each batch (fault-injection for tests).", visibility: .hidden))
    var delayBeforeSubmitMs = 0

    func validate() throws {
        guard temperature.isFinite, temperature >= 0 else { throw ValidationError("--temperature must be finite and non-negative") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        if let maxTokens { try OptionCheck.integer(maxTokens, in: 1...1_000_000, "--max-tokens") }
        try OptionCheck.integer(delayBeforeSubmitMs, in: 0...3_600_000, "--delay-before-submit-ms")
        switch backend {
        case .openai:
            guard let baseURL else { throw ValidationError("--backend openai needs --base-url, e.g. --base-url http://gpu1:8000") }
            _ = try httpURL(baseURL, option: "--base-url")
        case .builtin:
            var given = http.given
            if baseURL != nil { given.append("--base-url") }
            if !stop.isEmpty { given.append("--stop") }
            if noTokenIds { given.append("--no-token-ids") }
            if noLogprobs { given.append("--no-logprobs") }
            if !given.isEmpty {
                throw ValidationError("\(given.joined(separator: ", ")) \(given.count == 1 ? "applies" : "apply") only to --backend openai")
            }
        }
    }

    func run() async throws {
        var (url, settings) = try await daemon.resolve()
        settings.delayBeforeSubmit = .milliseconds(delayBeforeSubmitMs)
        let backend: any GenerationBackend
        var sampling = SamplingParameters(temperature: temperature, topP: topP, maxTokens: maxTokens ?? 12)
        switch self.backend {
        case .builtin:
            backend = BuiltinGenerationBackend()
        case .openai:
            sampling.maxTokens = maxTokens ?? 512
            sampling.stop = stop.isEmpty ? nil : stop
            var openAI = OpenAIGenerationSettings(
                baseURL: try httpURL(baseURL ?? "", option: "--base-url"),
                http: http.settings(apiKey: OpenAIGenerationSettings.apiKeyFromEnvironment(), defaultConcurrency: 32, defaultTimeout: 300))
            openAI.requestTokenIDs = !noTokenIds
            openAI.requestLogprobs = !noLogprobs
            backend = OpenAIGenerationBackend(settings: openAI)
        }
        try await runUntilSignalled(
            GeneratorService(
                databaseURL: url, backend: backend, sampling: sampling, settings: settings, logger: Logger(label: "optune.generate")),
            label: "optune.generate")
    }
}

struct Score: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scorer daemon: lease scoring tasks, score with the reward backend, submit.",
        discussion: """
            --backend builtin scores with the built-in digit reward. --backend http POSTs batches of \
            {"items": [{"prompt", "messages"?, "response", "response_token_ids"?}]} to --url and reads \
            one finite score per item back (a list, {"scores": [...]} or {"rewards": [...]}); see README. \
            --backend vllm scores with a reward model served by vLLM (--runner pooling) at --url: one \
            POST /pooling per response, the conversation as chat messages, the raw score read back. \
            An API key for either comes from OPTUNE_REWARD_API_KEY, never from argv.
            """)

    @OptionGroup var daemon: DaemonOptions

    @Option(help: "builtin (the built-in digit reward), http (a reward server) or vllm (a vLLM-served reward model).")
    var backend: RewardBackendKind = .builtin

    @Option(
        help:
            "The reward server's endpoint of --backend http, e.g. http://rm1:9000/reward; the vLLM server of --backend vllm, e.g. http://rm1:8000."
    )
    var url: String?

    @Option(help: "What an open circuit probes with GET (default: --url; any answer below 500 counts as up).")
    var healthUrl: String?

    @Option(parsing: .unconditional, help: "Responses per POST (default 64).")
    var itemsPerRequest: Int?

    @OptionGroup var http: HTTPBackendOptions

    @OptionGroup var vllm: VLLMRewardOptions

    func validate() throws {
        if let itemsPerRequest { try OptionCheck.integer(itemsPerRequest, in: 1...100_000, "--items-per-request") }
        if backend != .vllm, let flag = vllm.given.first { throw ValidationError("\(flag) applies only to --backend vllm") }
        switch backend {
        case .vllm:
            guard let url else { throw ValidationError("--backend vllm needs --url, e.g. --url http://rm1:8000") }
            _ = try httpURL(url, option: "--url")
            if healthUrl != nil || itemsPerRequest != nil {
                throw ValidationError("--health-url and --items-per-request apply only to --backend http")
            }
        case .http:
            guard let url else { throw ValidationError("--backend http needs --url, e.g. --url http://rm1:9000/reward") }
            _ = try httpURL(url, option: "--url")
            if let healthUrl { _ = try httpURL(healthUrl, option: "--health-url") }
        case .builtin:
            var given = http.given
            if url != nil { given.append("--url") }
            if healthUrl != nil { given.append("--health-url") }
            if itemsPerRequest != nil { given.append("--items-per-request") }
            if !given.isEmpty {
                throw ValidationError("\(given.joined(separator: ", ")) \(given.count == 1 ? "applies" : "apply") only to --backend http")
            }
        }
    }

    func run() async throws {
        let (databaseURL, settings) = try await daemon.resolve()
        let backend: any RewardBackend
        switch self.backend {
        case .builtin:
            backend = BuiltinRewardBackend()
        case .http:
            var reward = HTTPRewardSettings(
                url: try httpURL(url ?? "", option: "--url"),
                http: http.settings(apiKey: HTTPRewardSettings.apiKeyFromEnvironment(), defaultConcurrency: 4, defaultTimeout: 120))
            reward.healthURL = try healthUrl.map { try httpURL($0, option: "--health-url") }
            reward.itemsPerRequest = itemsPerRequest ?? 64
            backend = HTTPRewardBackend(settings: reward)
        case .vllm:
            // One request per response (vLLM batches them itself): more in flight than for --backend http.
            backend = vllm.backend(
                url: try httpURL(url ?? "", option: "--url"),
                http: http.settings(apiKey: HTTPRewardSettings.apiKeyFromEnvironment(), defaultConcurrency: 16, defaultTimeout: 120))
        }
        try await runUntilSignalled(
            ScorerService(databaseURL: databaseURL, backend: backend, settings: settings, logger: Logger(label: "optune.score")),
            label: "optune.score")
    }
}

enum TrainerBackendKind: String, ExpressibleByArgument, CaseIterable {
    case builtin, command
}

struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a trainer daemon: train π_t → π_{t+1} with DPO/wDPO for iterations in state training.",
        usage: """
            optune train [--backend builtin] [options]
            optune train --backend command [options] -- COMMAND [ARGUMENT …]
            """,
        discussion: """
            --backend builtin trains built-in policies in this process. --backend command trains external \
            models (π_t has a URI): for each iteration it exports D_t to a folder under --work-dir, runs \
            COMMAND (no shell) with these placeholders replaced in every argument and also set as \
            environment variables: {export} OPTUNE_EXPORT_PATH, {export_format} OPTUNE_EXPORT_FORMAT, \
            {policy_uri} OPTUNE_POLICY_URI (π_t's URI), {policy_path} OPTUNE_POLICY_PATH (π_t's checkpoint \
            folder if optune knows it, else its URI), {output_dir} OPTUNE_OUTPUT_DIR (write π_{t+1} here), \
            {work_dir} OPTUNE_WORK_DIR, {run} OPTUNE_RUN, {run_id} OPTUNE_RUN_ID, {t} OPTUNE_T, {next_t} \
            OPTUNE_NEXT_T, {loss} OPTUNE_LOSS, {beta1} OPTUNE_BETA1, {beta2} OPTUNE_BETA2, {learning_rate} \
            OPTUNE_LEARNING_RATE, {epochs} OPTUNE_EPOCHS, {seed} OPTUNE_SEED (run seed + t), \
            {next_policy_uri} OPTUNE_NEXT_POLICY_URI. On exit 0 it computes the sha256 of the files in the \
            output folder, runs --publish-command (which also gets {checkpoint_sha256} \
            OPTUNE_CHECKPOINT_SHA256), and only then registers π_{t+1}, so no generator samples it before \
            it is published. A non-zero exit fails the iteration with the command's last lines. SIGTERM \
            is forwarded to a running command. OPTUNE_DATABASE_URL is not passed to the commands.

            Each trainer skips iterations whose π_t it cannot train (built-in vs external), so one of \
            each kind can serve all runs. An iteration is held by an expiring lease: a trainer that dies \
            or hangs is replaced after --lease-seconds.
            """)

    @OptionGroup var daemon: DaemonOptions

    @Option(help: "builtin (built-in policies, in this process) or command (external models, with the command after --).")
    var backend: TrainerBackendKind = .builtin

    @Option(help: "command: the folder for exports and checkpoints (default: $OPTUNE_HOME/train, else ./.optune/train).")
    var workDir: String?

    @Option(help: "command: the format of the exported D_t (trl, openrlhf or tokens).")
    var exportFormat: ExportFormat = .trl

    @Option(help: "command: π_{t+1}'s URI (the model name generators send), with placeholders.")
    var policyUriTemplate = "{run}-pi{next_t}"

    @Option(
        help:
            "command: run after a successful training and before π_{t+1} is registered, e.g. to load it into the generation servers. Split on spaces (no shell); placeholders are replaced in each word."
    )
    var publishCommand: String?

    @Option(help: "command: seconds a command may take to exit after SIGTERM before it gets SIGKILL.")
    var killAfterSeconds = 30.0

    @Argument(parsing: .postTerminator, help: "command: the training command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        guard daemon.leaseSeconds.isFinite, daemon.leaseSeconds <= 86_400 else {
            throw ValidationError("--lease-seconds must be at most 86400")
        }
        guard killAfterSeconds.isFinite, killAfterSeconds > 0, killAfterSeconds <= 86_400 else {
            throw ValidationError("--kill-after-seconds must be in (0, 86400]")
        }
        switch backend {
        case .command:
            guard let first = command.first, !first.isEmpty else {
                throw ValidationError("--backend command needs the training command after --, e.g. -- python -m optune_trl.train")
            }
            if let publishCommand, publishCommand.split(separator: " ").isEmpty {
                throw ValidationError("--publish-command is empty")
            }
            guard !policyUriTemplate.isEmpty else { throw ValidationError("--policy-uri-template is empty") }
        case .builtin:
            var given: [String] = []
            if !command.isEmpty { given.append("a command after --") }
            if workDir != nil { given.append("--work-dir") }
            if publishCommand != nil { given.append("--publish-command") }
            if !given.isEmpty {
                throw ValidationError(
                    "\(given.joined(separator: ", ")) \(given.count == 1 ? "applies" : "apply") only to --backend command")
            }
        }
    }

    func run() async throws {
        let (url, settings) = try await daemon.resolve()
        let logger = Logger(label: "optune.train")
        switch backend {
        case .builtin:
            try await runUntilSignalled(
                TrainerService(databaseURL: url, trainer: BuiltinPreferenceTrainer(), settings: settings, logger: logger),
                label: "optune.train")
        case .command:
            let folder = workDir ?? LocalClusterConfiguration().root + "/train"
            var command = CommandTrainerSettings(argv: self.command, workDirectory: URL(fileURLWithPath: folder).standardizedFileURL.path)
            command.exportFormat = exportFormat
            command.policyURITemplate = policyUriTemplate
            command.publishArgv = publishCommand.map { $0.split(separator: " ").map(String.init) }
            command.killAfter = .milliseconds(Int64(killAfterSeconds * 1000))
            try await runUntilSignalled(
                TrainerService(databaseURL: url, command: command, settings: settings, logger: logger), label: "optune.train")
        }
    }
}

struct Coordinate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the selection service for one run: advance its iterations until it is done.",
        discussion: """
            One coordinator leads a run at a time (an expiring lease in optune.run_leaders); a second one \
            stands by and takes over when the leader dies or hangs. Survives database restarts. Prints \
            one line per finished iteration.
            """)

    @Option(help: "The run to coordinate (by name).")
    var run: String

    @OptionGroup var patience: DatabasePatienceOption

    @Option(help: "Log level.")
    var logLevel: Logger.Level = .info

    @OptionGroup var observability: ObservabilityOptions

    func run() async throws {
        try observability.start(logLevel: logLevel)
        let url = try await DatabaseTarget().schemaURL()
        let buffer = try await ReplayBuffer.connect(to: url, applicationName: "optune")
        guard let id = try await buffer.runID(named: run) else { throw CLIError.noRun(run) }
        await buffer.close()
        try await runUntilSignalled(
            CoordinatorService(
                databaseURL: url, run: id, startupPatience: try patience.duration(), logger: Logger(label: "optune.coordinate")
            ) { summary in
                print(IterationLine.format(summary))
            },
            label: "optune.coordinate")
    }
}

/// How long a starting daemon waits for an unreachable database.
struct DatabasePatienceOption: ParsableArguments {
    @Option(
        name: .customLong("wait-for-database"), parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds a starting daemon waits for a database it cannot reach before it exits (default: $OPTUNE_WAIT_FOR_DATABASE, else 300). Once connected it waits out any outage.",
            valueName: "SECONDS"))
    var seconds: Double?

    func validate() throws {
        if let seconds { try OptionCheck.seconds(seconds, upTo: OptionCheck.week, "--wait-for-database", allowZero: true) }
    }

    func duration() throws -> Duration {
        if let seconds { return .milliseconds(Int64(seconds * 1000)) }
        guard let text = ProcessInfo.processInfo.environment["OPTUNE_WAIT_FOR_DATABASE"], !text.isEmpty else { return .seconds(300) }
        guard let value = Double(text), value.isFinite, value >= 0, value <= OptionCheck.week else {
            throw ValidationError(
                "OPTUNE_WAIT_FOR_DATABASE must be a number of seconds between 0 and \(Int(OptionCheck.week)), got \(text)")
        }
        return .milliseconds(Int64(value * 1000))
    }
}
