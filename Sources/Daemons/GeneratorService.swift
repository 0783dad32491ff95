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
public struct GeneratorService: Service, CustomStringConvertible {
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
        let buffer = try await ReplayBuffer.connect(to: databaseURL, applicationName: "optune-generate")
        let wakeUp = await WakeUp(databaseURL: databaseURL, pollInterval: settings.pollInterval)
        let cache = RunCache()
        try await identity.heartbeat(buffer)
        logger.info("generator started")
        var generated = 0
        while !Task.shouldStop {
            try await buffer.reclaimExpiredLeases(.generation)
            let tasks = try await buffer.lease(.generation, owner: identity.id, limit: settings.batchSize, leaseSeconds: settings.leaseSeconds, run: settings.run)
            if tasks.isEmpty {
                await wakeUp.wait()
                try await identity.heartbeat(buffer)
                continue
            }
            do {
                generated += try await process(tasks, buffer: buffer, cache: cache)
            } catch let error as BackendError {
                logger.warning("generation failed: \(error.message)", metadata: ["tasks": "\(tasks.count)"])
                try await buffer.failTasks(.generation, tasks, error: error.message, retryable: error.retryable)
            }
        }
        let released = try await buffer.releaseLeases(.generation, owner: identity.id)
        try await buffer.workerStopped(identity.id)
        await wakeUp.close()
        await buffer.connection.close()
        logger.info("generator stopped", metadata: ["responses": "\(generated)", "released": "\(released)"])
    }

    /// Generates and submits one leased batch; returns the responses stored.
    func process(_ tasks: [LeasedTask], buffer: ReplayBuffer, cache: RunCache) async throws -> Int {
        let started = ContinuousClock.now
        let prompts = try await buffer.prompts(tasks.map(\.prompt))
        var responses: [NewResponse] = []
        for (policyID, group) in Dictionary(grouping: tasks, by: \.policy) {
            let policy = try await cache.policy(policyID, buffer: buffer)
            var requests: [GenerationRequest] = []
            for task in group {
                let run = try await cache.run(task.run, buffer: buffer)
                guard let prompt = prompts[task.prompt] else { throw BackendError("prompt \(task.prompt) is missing", retryable: false) }
                let samples = task.purpose == .eval ? 1 : run.config.samplesPerPrompt
                let seeds = (0..<samples).map { Self.seed(run: run.config.seed, t: task.t, prompt: task.prompt, sample: $0) }
                requests.append(GenerationRequest(prompt: PromptContent(id: prompt.id, text: prompt.text, messagesJSON: prompt.messagesJSON), seeds: seeds))
            }
            let requested = ContinuousClock.now
            let results = try await backend.generate(requests, policy: policy, sampling: sampling)
            let latency = (ContinuousClock.now - requested).milliseconds / Double(max(1, requests.count))
            let samplingJSON = String(decoding: try JSONEncoder().encode(sampling), as: UTF8.self)
            for (task, (request, samples)) in zip(group, zip(requests, results)) {
                for (index, (sample, seed)) in zip(samples, request.seeds).enumerated() {
                    let blob = sample.tokens.map { TokenCodec.encode($0) }
                    responses.append(NewResponse(
                        run: task.run, t: task.t, prompt: task.prompt, sampleIndex: index, purpose: task.purpose, policy: task.policy,
                        tokenBlob: blob, tokenCount: sample.tokens?.count ?? 0, text: sample.text, finishReason: sample.finishReason,
                        samplingJSON: samplingJSON, seed: Int64(bitPattern: seed), worker: identity.id, latencyMs: latency,
                        logprobSum: sample.logprobSum))
                }
            }
        }
        if settings.delayBeforeSubmit > .zero { try? await Task.sleep(for: settings.delayBeforeSubmit) }
        let submitting = ContinuousClock.now
        let outcome = try await buffer.submitGenerations(tasks, responses: responses)
        logger.debug("submitted", metadata: [
            "tasks": "\(tasks.count)", "responses": "\(responses.count)",
            "generate_ms": "\(Int((submitting - started).milliseconds))", "submit_ms": "\(Int((ContinuousClock.now - submitting).milliseconds))",
        ])
        if outcome.refused > 0 {
            logger.warning("lease lost before submitting; responses dropped", metadata: ["refused": "\(outcome.refused)"])
        }
        return responses.count
    }

    /// The recorded seed of one sample: a mix of the run's seed, t, prompt and sample index.
    static func seed(run: Int64, t: Int, prompt: Int64, sample: Int) -> UInt64 {
        var x = UInt64(bitPattern: run) &* 0x9E37_79B9_7F4A_7C15
        for part in [UInt64(t), UInt64(bitPattern: prompt), UInt64(sample)] {
            x ^= part &+ 0x9E37_79B9_7F4A_7C15 &+ (x << 6) &+ (x >> 2)
            x = (x ^ (x >> 31)) &* 0xBF58_476D_1CE4_E5B9
        }
        return x
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

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
