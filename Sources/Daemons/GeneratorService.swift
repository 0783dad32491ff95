import Backends
import Buffer
import Foundation
import Logging
import Observability
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

    public init(databaseURL: String, backend: any GenerationBackend, sampling: SamplingParameters, settings: DaemonSettings, logger: Logger)
    {
        self.databaseURL = databaseURL
        self.backend = backend
        self.sampling = sampling
        self.settings = settings
        self.logger = identity.tagging(logger)
    }

    public func run() async throws {
        let loop = LeaseLoop(
            databaseURL: databaseURL, applicationName: "optune-generate", identity: identity, settings: settings, logger: logger)
        try await loop.run(self)
    }

    var queue: WorkQueue { .generation }
    var backendName: String { "generation backend" }
    func isBackendAvailable() async -> Bool { await backend.isAvailable() }

    /// Generates and submits one leased batch; returns the responses stored. Each prompt succeeds
    /// or fails on its own: the submission stores the successes and sends a failed prompt back to
    /// the queue or to dead with its error (its chunk is split when its chunk-mates succeeded).
    func process(_ tasks: [LeasedTask], context: BatchContext) async throws -> Int {
        let buffer = context.buffer
        let cache = context.cache
        let started = ContinuousClock.now
        let prompts = try await buffer.prompts(tasks.map(\.prompt), cache: settings.promptCache)
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
                    requests.append(
                        GenerationRequest(
                            prompt: PromptContent(id: prompt.id, text: prompt.text, messagesJSON: prompt.messagesJSON), seeds: seeds))
                    requestTasks.append(task)
                }
                guard !requests.isEmpty else { continue }
                let requested = ContinuousClock.now
                let results = try await backend.generateEach(requests, policy: policy, sampling: sampling)
                guard results.count == requests.count else {
                    throw BackendError(
                        "the generation backend returned \(results.count) results for \(requests.count) prompts", retryable: false)
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
                        failures.append(
                            (
                                task,
                                BackendError(
                                    "the generation backend returned \(samples.count) samples for \(request.seeds.count) seeds of prompt \(task.prompt)",
                                    retryable: false)
                            ))
                        continue
                    }
                    succeeded.append(task)
                    for (index, (sample, seed)) in zip(samples, request.seeds).enumerated() {
                        responses.append(
                            NewResponse(
                                run: task.run, t: task.t, prompt: task.prompt, sampleIndex: index, purpose: task.purpose,
                                policy: task.policy,
                                tokenBlob: sample.tokens.map { TokenCodec.encode($0) }, tokenCount: sample.tokenCount,
                                promptTokenBlob: sample.promptTokens.map { TokenCodec.encode($0) }, text: sample.text,
                                finishReason: sample.finishReason, samplingJSON: samplingJSON, seed: Int64(bitPattern: seed),
                                worker: identity.id,
                                latencyMs: sample.latencyMs ?? latency, logprobSum: sample.logprobSum))
                    }
                }
            }
            if settings.delayBeforeSubmit > .zero { try? await Task.sleep(for: settings.delayBeforeSubmit) }
        }
        let submitting = ContinuousClock.now
        // Fenced by the lease token: repeated after an outage, it is stored once or refused.
        let outcome = try await context.submit("submitting generations", queue: .generation) {
            try await buffer.submitGenerations(succeeded, responses: responses, failures: failures.map { TaskFailure($0.0, $0.1) })
        }
        if outcome.refused > 0 {
            logger.warning("lease lost before submitting; responses dropped", metadata: ["refused": "\(outcome.refused)"])
        }
        OptuneMetrics.tokensGenerated(responses.reduce(0) { $0 + max(0, $1.tokenCount) })
        context.count(failures, queue: .generation)
        logger.debug(
            "submitted",
            metadata: [
                "tasks": "\(succeeded.count)", "failed": "\(failures.count)", "responses": "\(responses.count)",
                "generate_ms": "\(Int((submitting - started).milliseconds))",
                "submit_ms": "\(Int((ContinuousClock.now - submitting).milliseconds))",
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
