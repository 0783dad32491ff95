import Buffer
import Daemons
import Foundation
import Postgres
import TokenCodec

/// Whole iterations at N prompts through the product's ``Coordinator`` with an instant
/// generator, scorer and trainer that call the buffer as the daemons do (lease, submit, read
/// D_t, store the policy), one batch at a time, the coordinator stepping after each submission
/// (it wakes on every `optune_work` notification). Reports the buffer's seconds per stage of
/// iteration 0 (every prompt) and iteration 1 (ρ = 0.5, ranked by D_0's rewards).
struct IterationBenchmark {
    var prompts: Int
    /// Token ids per generated response (a prefix of a fixture row).
    var tokensPerResponse = 128
    var batchSize = 256
    var tokenRows: [[UInt32]]

    /// Buffer seconds and calls of one stage.
    struct Stage {
        var seconds = 0.0
        var calls = 0
    }

    /// The stages in print order.
    static let stageNames = [
        "open: statistics, selection, enqueue", "generation: lease", "generation: submit", "coordinator steps while generating",
        "generating → scoring", "scoring: lease", "scoring: read responses", "scoring: submit", "coordinator steps while scoring",
        "build D_t", "coordinator steps while training", "training: read D_t", "training: store π_{t+1}", "evaluate and finish",
    ]

    func run(buffer: ReplayBuffer, into report: inout BenchmarkReport, progress: @Sendable (String) -> Void) async throws {
        let blobs = tokenRows.prefix(256).map { TokenCodec.encode(Array($0.prefix(tokensPerResponse))) }
        let c = buffer.connection
        let set = try await buffer.promptSet(named: "bench-iteration")
        progress("iteration: \(prompts) prompts, \(tokensPerResponse) token ids per response")
        try await c.execute(
            """
            WITH inserted AS (
                INSERT INTO optune.prompts (text, source)
                SELECT 'bench iteration prompt ' || g, 'optune bench' FROM generate_series(1, $1::int8) g RETURNING id)
            INSERT INTO optune.prompt_set_members (set_id, prompt_id, split) SELECT $2, id, 'train' FROM inserted
            """, [Int64(prompts), set])
        let model = try await buffer.rewardModel(name: "bench-iteration", version: "1", backend: "none")
        let base = try await buffer.registerPolicy(run: nil, t: 0, parent: nil, uri: "bench://base")
        var config = RunConfig()
        config.iterations = 2
        config.basePolicy = base
        let run = try await buffer.createRun(name: "bench-iteration", promptSetID: set, rewardModelID: model, config: config)
        let coordinator = Coordinator(buffer: buffer, run: run)

        var stages: [[String: Stage]] = [[:], [:]]
        var clientSeconds = [0.0, 0.0]
        var wallStarted = [ContinuousClock.now, ContinuousClock.now]
        // The CPU time of the connection, client and server backend, as `optune run` measures its
        // daemons' (ConnectionUsage).
        func connectionCPU() -> Double {
            let usage = ConnectionUsage.usage()["optune-bench"]
            return (usage?.client ?? 0) + (usage?.server ?? 0)
        }
        var cpu = [0.0, 0.0]
        var wall = [0.0, 0.0]
        func add(_ t: Int, _ name: String, _ seconds: Double) {
            stages[t][name, default: Stage()].seconds += seconds
            stages[t][name, default: Stage()].calls += 1
        }
        func timed<T>(_ t: Int, _ name: String, _ body: () async throws -> T) async throws -> T {
            let started = ContinuousClock.now
            let value = try await body()
            add(t, name, (ContinuousClock.now - started).seconds)
            return value
        }

        /// What the instant workers do while the coordinator waits: one batch (or D_t) for the
        /// iteration's state. False when there was nothing to lease.
        func work(on latest: IterationRecord) async throws -> Bool {
            let i = min(1, latest.t)
            switch latest.state {
            case .generating:
                let tasks = try await timed(i, "generation: lease") {
                    try await buffer.lease(.generation, owner: "bench-generator", limit: batchSize, leaseSeconds: 600, run: run)
                }
                guard !tasks.isEmpty else { return false }
                let made = ContinuousClock.now
                var responses: [NewResponse] = []
                responses.reserveCapacity(tasks.count * config.samplesPerPrompt)
                for task in tasks {
                    for sample in 0..<config.samplesPerPrompt {
                        let blob = blobs[Int(task.prompt &* 7 &+ Int64(sample)) % blobs.count]
                        responses.append(
                            NewResponse(
                                run: task.run, t: task.t, prompt: task.prompt, sampleIndex: sample, purpose: task.purpose,
                                policy: task.policy, tokenBlob: blob, tokenCount: tokensPerResponse, finishReason: "length"))
                    }
                }
                clientSeconds[i] += (ContinuousClock.now - made).seconds
                _ = try await timed(i, "generation: submit") { try await buffer.submitGenerations(tasks, responses: responses) }
            case .scoring:
                let tasks = try await timed(i, "scoring: lease") {
                    try await buffer.lease(.scoring, owner: "bench-scorer", limit: batchSize, leaseSeconds: 600, run: run)
                }
                guard !tasks.isEmpty else { return false }
                var rewards: [NewReward] = []
                var taskOfResponse: [Int64: TaskKey] = [:]
                for (key, group) in Dictionary(grouping: tasks, by: { TaskKey(run: $0.run, t: $0.t, prompt: 0) }) {
                    let responses = try await timed(i, "scoring: read responses") {
                        try await buffer.responses(run: key.run, t: key.t, prompts: group.map(\.prompt))
                    }
                    for response in responses {
                        let score = Double((UInt64(bitPattern: response.id) &* 0x9E37_79B9_7F4A_7C15) >> 11) / Double(UInt64(1) << 53)
                        rewards.append(NewReward(response: response.id, rewardModel: model, score: score))
                        taskOfResponse[response.id] = TaskKey(run: key.run, t: key.t, prompt: response.prompt)
                    }
                }
                _ = try await timed(i, "scoring: submit") {
                    try await buffer.submitScores(tasks, rewards: rewards, taskOfResponse: taskOfResponse)
                }
            case .training:
                let pairs = try await timed(i, "training: read D_t") { try await buffer.trainingPairs(run: run, t: latest.t) }
                _ = try await timed(i, "training: store π_{t+1}") {
                    try await buffer.storeTrainingResult(
                        run: run, t: latest.t, policyIn: latest.policy, weightsBlob: nil, uri: "bench://pi\(latest.t + 1)",
                        configJSON: "{}", loss: config.loss, beta1: config.beta1, beta2: config.beta2, optimizerJSON: "{}",
                        pairsUsed: pairs.count, skippedZeroGap: 0, lossCurve: [], seconds: 0)
                }
            default:
                try await Task.sleep(for: .milliseconds(10))
            }
            return true
        }
        var lastStep = ContinuousClock.now - .seconds(3600)
        var workersBusy = false

        loop: while true {
            let latest = try await c.run { c in try ReplayBuffer.latestIteration(run: run, on: c) }
            let state = latest?.state
            let t = latest?.t ?? 0
            let stage: String
            switch state {
            case nil, .done: stage = "open: statistics, selection, enqueue"
            case .generating: stage = "coordinator steps while generating"
            case .scoring: stage = "coordinator steps while scoring"
            case .building: stage = "build D_t"
            case .evaluating: stage = "evaluate and finish"
            case .training: stage = "coordinator steps while training"
            default: stage = "coordinator steps while generating"
            }
            let opening = state == nil || state == .done
            let index = opening ? min(1, (latest.map { $0.t + 1 }) ?? 0) : min(1, t)
            if opening {
                if let latest, latest.t >= 1 { break loop }
                wallStarted[index] = .now
                cpu[index] = -connectionCPU()
                progress("iteration: t = \(index)")
            }
            // The coordinator service steps at most once per minimumStepInterval while workers
            // are busy (every submission notifies it); so does the bench. When the queue runs dry
            // it steps at once, as the service does on the last submission's notification.
            let waitingOnBusyWorkers = (state == .generating || state == .scoring) && workersBusy
            if waitingOnBusyWorkers, ContinuousClock.now - lastStep < CoordinatorService.minimumStepInterval, let latest {
                workersBusy = try await work(on: latest)
                continue
            }
            lastStep = .now
            let stepStarted = ContinuousClock.now
            let step = try await coordinator.step()
            // A step that progressed from generating or scoring is the state change, not a poll.
            let stepName =
                step == .progressed && state == .generating
                ? "generating → scoring"
                : step == .progressed && state == .scoring ? "build D_t" : stage
            add(index, stepName, (ContinuousClock.now - stepStarted).seconds)
            switch step {
            case .progressed:
                continue
            case .iterationDone(let done):
                wall[min(1, done)] = (ContinuousClock.now - wallStarted[min(1, done)]).seconds
                cpu[min(1, done)] += connectionCPU()
                if done >= 1 { break loop }
            case .waiting:
                guard let latest else { continue }
                workersBusy = try await work(on: latest)
            case .finished:
                break loop
            case .failed(let reason):
                throw BenchmarkFailure("the bench run failed: \(reason)")
            }
        }

        for t in 0..<2 {
            let total = stages[t].values.reduce(0) { $0 + $1.seconds }
            let selected = t == 0 ? prompts : (prompts + 1) / 2
            let label = t == 0 ? "t = 0 (all \(prompts))" : "t = 1 (ρ = 0.5, \(selected))"
            for name in Self.stageNames {
                guard let stage = stages[t][name] else { continue }
                report.add(
                    BenchmarkRow(
                        section: "iteration \(t)", name: name, value: stage.seconds, unit: "s",
                        comparison: String(
                            format: "%d call%@ · %.0f%% of buffer time · %.1f µs/prompt", stage.calls, stage.calls == 1 ? "" : "s",
                            100 * stage.seconds / max(total, 1e-9), 1e6 * stage.seconds / Double(max(1, selected)))))
            }
            report.add(
                BenchmarkRow(
                    section: "iteration \(t)", name: "buffer total, \(label)", value: total, unit: "s",
                    comparison: String(
                        format: "wall %.2f s incl. %.2f s instant backends · %.1f µs/prompt · goal ≤ 5%% of an iteration at 48k",
                        wall[t], clientSeconds[t], 1e6 * total / Double(max(1, selected)))))
            report.add(
                BenchmarkRow(
                    section: "iteration \(t)", name: "CPU of the connection, \(label)", value: cpu[t], unit: "s",
                    comparison: String(
                        format: "client + server backend, as optune run reports it: %.0f%% of the buffer total",
                        100 * cpu[t] / max(total, 1e-9))))
            report.record("iteration\(t)_buffer_seconds", total)
            report.record("iteration\(t)_open_seconds", stages[t]["open: statistics, selection, enqueue"]?.seconds ?? 0)
            let polls =
                (stages[t]["coordinator steps while generating"]?.seconds ?? 0)
                + (stages[t]["coordinator steps while scoring"]?.seconds ?? 0)
            report.record("iteration\(t)_coordinator_poll_seconds", polls)
        }
    }
}

/// A benchmark that could not finish.
struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
