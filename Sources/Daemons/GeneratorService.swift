import Backends
import Buffer
import Foundation
import Logging
import ServiceLifecycle
import TokenCodec

/// The generator daemon: leases generation tasks, samples responses with the policy of each
/// task, and submits them with the lease's fencing token (DESIGN §4).
///
/// Run as many as you like, on any machine that reaches the database. SIGTERM stops leasing,
/// finishes the batch in hand and returns unfinished leases; SIGKILL leaves leases that expire.
public struct GeneratorService: Service, BatchWork, CustomStringConvertible {
    /// Names the service without its database URL (which must never reach logs).
    public var description: String { "GeneratorService(worker: \(identity.id))" }

    let databaseURL: String
    let backend: any GenerationBackend
    let sampling: SamplingParameters
    let settings: DaemonSettings
    let identity = WorkerIdentity(role: "generator")
    let logger: Logger

    public init(databaseURL: String, backend: any GenerationBackend, sampling: SamplingParameters, settings: DaemonSettings, logger: Logger) {
        self.databaseURL = databaseURL
        self.backend = backend
        self.sampling = sampling
        self.settings = settings
        self.logger = identity.tagging(logger)
    }

    public func run() async throws {
        let loop = LeaseLoop(databaseURL: databaseURL, applicationName: "optune-generate", identity: identity, settings: settings, logger: logger)
        try await loop.run(self)
    }

    var queue: WorkQueue { .generation }
    var backendName: String { "generation backend" }
    func isBackendAvailable() async -> Bool { await backend.isAvailable() }

    /// Generates and submits one leased batch; returns the responses stored. Each task succeeds
    /// or fails on its own: a failed task goes back to the queue or dies with its error (see
    /// `BatchContext.settle`), the others are submitted.
    func process(_ tasks: [LeasedTask], context: BatchContext) async throws -> Int {
        let buffer = context.buffer
        let cache = context.cache
        let started = ContinuousClock.now
        let prompts = try await buffer.prompts(tasks.map(\.prompt))
        let samplingJSON = String(decoding: try JSONEncoder().encode(sampling), as: UTF8.self)
        var responses: [NewResponse] = []
        var succeeded: [LeasedTask] = []
        var failures: [(LeasedTask, BackendError)] = []
        try await withLeaseExtension(.generation, tasks, buffer: buffer, leaseSeconds: settings.leaseSeconds) {
            for (policyID, group) in Dictionary(grouping: tasks, by: \.policy) {
                let policy: PolicyHandle
                do {
                    policy = try await cache.policy(policyID, buffer: buffer)
                } catch let error as BackendError {
                    failures += group.map { ($0, error) }
                    continue
                }
                var requests: [GenerationRequest] = []
                var requestTasks: [LeasedTask] = []
                for task in group {
                    let run = try await cache.run(task.run, buffer: buffer)
                    guard let prompt = prompts[task.prompt] else {
                        failures.append((task, BackendError("prompt \(task.prompt) is missing", retryable: false)))
                        continue
                    }
                    let samples = task.purpose == .eval ? run.config.evalSamplesPerPrompt : run.config.samplesPerPrompt
                    let seeds = (0..<samples).map { Self.seed(run: run.config.seed, t: task.t, prompt: task.prompt, sample: $0) }
                    requests.append(GenerationRequest(prompt: PromptContent(id: prompt.id, text: prompt.text, messagesJSON: prompt.messagesJSON), seeds: seeds))
                    requestTasks.append(task)
                }
                guard !requests.isEmpty else { continue }
                let requested = ContinuousClock.now
                let results = try await backend.generateEach(requests, policy: policy, sampling: sampling)
                guard results.count == requests.count else {
                    throw BackendError("the generation backend returned \(results.count) results for \(requests.count) prompts", retryable: false)
                }
                let latency = (ContinuousClock.now - requested).milliseconds / Double(max(1, requests.count))
                for (task, (request, result)) in zip(requestTasks, zip(requests, results)) {
                    let samples: [GeneratedSample]
                    switch result {
                    case .failure(let error):
                        failures.append((task, error))
                        continue
                    case .success(let value):
                        samples = value
                    }
                    guard samples.count == request.seeds.count else {
                        failures.append((task, BackendError(
                            "the generation backend returned \(samples.count) samples for \(request.seeds.count) seeds of prompt \(task.prompt)",
                            retryable: false)))
                        continue
                    }
                    succeeded.append(task)
                    for (index, (sample, seed)) in zip(samples, request.seeds).enumerated() {
                        responses.append(NewResponse(
                            run: task.run, t: task.t, prompt: task.prompt, sampleIndex: index, purpose: task.purpose, policy: task.policy,
                            tokenBlob: sample.tokens.map { TokenCodec.encode($0) }, tokenCount: sample.tokenCount,
                            promptTokenBlob: sample.promptTokens.map { TokenCodec.encode($0) }, text: sample.text,
                            finishReason: sample.finishReason, samplingJSON: samplingJSON, seed: Int64(bitPattern: seed), worker: identity.id,
                            latencyMs: sample.latencyMs ?? latency, logprobSum: sample.logprobSum))
                    }
                }
            }
            if settings.delayBeforeSubmit > .zero { try? await Task.sleep(for: settings.delayBeforeSubmit) }
        }
        let submitting = ContinuousClock.now
        if !succeeded.isEmpty {
            // Fenced by the lease token: repeated after an outage, it is stored once or refused.
            let outcome = try await context.supervisor.perform("submitting generations") {
                try await buffer.submitGenerations(succeeded, responses: responses)
            }
            if outcome.refused > 0 {
                logger.warning("lease lost before submitting; responses dropped", metadata: ["refused": "\(outcome.refused)"])
            }
        }
        try await context.settle(failures, queue: .generation)
        logger.debug("submitted", metadata: [
            "tasks": "\(succeeded.count)", "failed": "\(failures.count)", "responses": "\(responses.count)",
            "generate_ms": "\(Int((submitting - started).milliseconds))", "submit_ms": "\(Int((ContinuousClock.now - submitting).milliseconds))",
        ])
        return responses.count
    }

    /// The seed of one sample, in 0..<2^63 (a non-negative int64 every server accepts, so the
    /// request carries exactly the recorded value): a mix of the run's seed, t, prompt and
    /// sample index.
    static func seed(run: Int64, t: Int, prompt: Int64, sample: Int) -> UInt64 {
        var x = UInt64(bitPattern: run) &* 0x9E37_79B9_7F4A_7C15
        for part in [UInt64(t), UInt64(bitPattern: prompt), UInt64(sample)] {
            x ^= part &+ 0x9E37_79B9_7F4A_7C15 &+ (x << 6) &+ (x >> 2)
            x = (x ^ (x >> 31)) &* 0xBF58_476D_1CE4_E5B9
        }
        return x & 0x7FFF_FFFF_FFFF_FFFF
    }
}

/// Runs and policies a daemon has already read; both are immutable once written.
actor RunCache {
    private var runs: [Int64: RunRecord] = [:]
    private var policies: [Int64: PolicyHandle] = [:]

    func run(_ id: Int64, buffer: ReplayBuffer) async throws -> RunRecord {
        if let run = runs[id] { return run }
        let run = try await buffer.runRecord(id)
        runs[id] = run
        return run
    }

    func policy(_ id: Int64, buffer: ReplayBuffer) async throws -> PolicyHandle {
        if let policy = policies[id] { return policy }
        let stored = try await buffer.policy(id)
        var weights: [UInt8]?
        if let blob = stored.weightsBlob {
            guard let bytes = CompressedBytes.decompress(blob) else {
                throw BackendError("policy \(id): stored weights are corrupt", retryable: false)
            }
            weights = bytes
        }
        let handle = PolicyHandle(id: id, weights: weights, uri: stored.uri)
        if policies.count > 16 { policies.removeAll() }
        policies[id] = handle
        return handle
    }
}

/// Records failed tasks of `owner` (see `GeneratorService.settle`). Call after every success of
/// the batch was submitted: the unavailable ones are returned with `releaseLeases`, which
/// returns everything `owner` still holds.
func settleFailures(_ failures: [(LeasedTask, BackendError)], queue: WorkQueue, buffer: ReplayBuffer, owner: String, logger: Logger) async throws {
    guard !failures.isEmpty else { return }
    struct Key: Hashable {
        var message: String
        var retryable: Bool
    }
    let counted = failures.filter { !$0.1.unavailable }
    for (key, group) in Dictionary(grouping: counted, by: { Key(message: $0.1.message, retryable: $0.1.retryable) }) {
        try await buffer.failTasks(queue, group.map(\.0), error: key.message, retryable: key.retryable)
    }
    if let first = counted.first {
        logger.warning("\(counted.count) task(s) failed: \(first.1.message)", metadata: [
            "queue": "\(queue.rawValue)", "retryable": "\(first.1.retryable)", "distinct_errors": "\(Set(counted.map(\.1.message)).count)",
        ])
    }
    if let first = failures.first(where: { $0.1.unavailable }) {
        let returned = try await buffer.releaseLeases(queue, owner: owner)
        logger.warning("backend unavailable; task(s) returned to the queue uncounted: \(first.1.message)", metadata: [
            "queue": "\(queue.rawValue)", "returned": "\(returned)",
        ])
    }
}

/// Runs `body` while a background task keeps the leases on `tasks` alive (every third of the
/// lease), so work that outlasts a lease — a slow HTTP backend — is not redone by another
/// worker meanwhile. A killed worker stops extending, so its leases still expire.
func withLeaseExtension<T>(
    _ queue: WorkQueue, _ tasks: [LeasedTask], buffer: ReplayBuffer, leaseSeconds: Double, _ body: () async throws -> T
) async throws -> T {
    let extender = Task {
        let interval = Duration.milliseconds(Int64(max(200, leaseSeconds * 1000 / 3)))
        while true {
            do { try await Task.sleep(for: interval) } catch { return }
            try? await buffer.extendLeases(queue, tasks, leaseSeconds: leaseSeconds)
        }
    }
    defer { extender.cancel() }
    return try await body()
}

/// Logs an outage of a daemon's backend once when it starts and once when it ends, and keeps
/// the worker's heartbeat fresh meanwhile.
struct OutageLog {
    let logger: Logger
    let what: String
    private var since: ContinuousClock.Instant?
    private var lastHeartbeat: ContinuousClock.Instant = .now

    init(logger: Logger, what: String) {
        self.logger = logger
        self.what = what
    }

    mutating func unavailable(heartbeat: () async throws -> Void) async throws {
        if since == nil {
            since = .now
            logger.warning("\(what) unavailable: leasing nothing until it answers again")
        }
        if ContinuousClock.now - lastHeartbeat > .seconds(10) {
            try await heartbeat()
            lastHeartbeat = .now
        }
    }

    mutating func available() {
        guard let since else { return }
        logger.info("\(what) available again; leasing", metadata: ["down_s": "\(Int((ContinuousClock.now - since).seconds))"])
        self.since = nil
    }
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
