import Buffer
import Daemons
import Foundation
import Selection

/// A grid run that cannot go on.
public struct ExperimentError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

extension ExperimentGrid {
    /// Runs the grid, seed by seed; `progress` gets one line per run.
    ///
    /// Resumable: a run already in the buffer under the grid's name for a cell is reused (when
    /// done) or continued (when stopped), provided its configuration is the one this grid
    /// asks for. A signal (SIGINT, SIGTERM) while a run is driven stops the whole grid: the
    /// result is returned with ``ExperimentResult/interrupted`` set and the stopped cell unfinished.
    /// A run that fails is reported (its cell stays unfinished) and the grid goes on.
    public func run(databaseURL: String, progress: @Sendable (String) -> Void) async throws -> ExperimentResult {
        if let problem { throw ExperimentError(problem) }
        let started = ContinuousClock.now
        let stop = StopSignal()
        defer { stop.cancel() }
        let buffer = try await ReplayBuffer.connect(to: databaseURL, applicationName: "optune-experiment")
        do {
            try await Migrator(connection: buffer.connection).migrate()
            var result = ExperimentResult(cells: cells, seeds: seeds, iterations: iterations)
            try await runSeeds(buffer: buffer, databaseURL: databaseURL, stop: stop, into: &result, progress: progress)
            result.wallSeconds = (ContinuousClock.now - started).seconds
            await buffer.close()
            return result
        } catch {
            await buffer.close()
            throw error
        }
    }

    private func runSeeds(
        buffer: ReplayBuffer, databaseURL: String, stop: StopSignal, into result: inout ExperimentResult,
        progress: @Sendable (String) -> Void
    ) async throws {
        func stopped() -> Bool {
            guard stop.isSet else { return false }
            result.interrupted = true
            progress("stopped by a signal; the grid stops (run the same command again to go on)")
            return true
        }
        for seed in seeds {
            if stopped() { return }
            var task = BuiltinTask()
            task.family = family
            task.trainPrompts = trainPrompts
            task.evalPrompts = evalPrompts
            task.seed = UInt64(bitPattern: seed)
            let set = try await task.ensurePromptSet(buffer: buffer)
            let sftStarted = ContinuousClock.now
            let (base, trained) = try await task.ensureBasePolicy(buffer: buffer)
            if trained { progress("seed \(seed): trained π_0 in \(Self.seconds(since: sftStarted))") }
            let model = try await task.ensureRewardModel(buffer: buffer)

            for loss in losses {
                if stopped() { return }
                var shared = baseConfig
                shared.rho = 1
                shared.strategy = .full
                shared.loss = loss
                shared.iterations = 1
                shared.seed = seed
                shared.basePolicy = base
                let sharedName = sharedRunName(seed: seed, loss: loss)
                let sharedRun = try await ensureRun(
                    buffer: buffer, name: sharedName, promptSetID: set, rewardModelID: model, config: shared, forkedFrom: nil)
                let sharedStarted = ContinuousClock.now
                switch try await drive(buffer: buffer, databaseURL: databaseURL, run: sharedRun) {
                case .interrupted:
                    result.interrupted = true
                    progress("seed \(seed) \(loss.rawValue): stopped in the shared iteration 0")
                    return
                case .failed(let reason):
                    progress("seed \(seed) \(loss.rawValue): the shared iteration 0 failed (\(reason)); its cells are skipped")
                    continue
                case .finished(let now):
                    let key = ExperimentResult.SharedKey(seed: seed, loss: loss)
                    let pi0 = try await buffer.evalReward(run: sharedRun, t: 0)
                    let pi1 = try await buffer.evalReward(run: sharedRun, t: 1)
                    if let pi0 { result.initialEval[seed] = pi0 }
                    if let pi1 { result.sharedEval[key] = pi1 }
                    result.sharedTokens[key] = try await buffer.trainTokensGenerated(run: sharedRun)
                    progress(
                        "seed \(seed) \(loss.rawValue): shared iteration 0 \(now ? "done in \(Self.seconds(since: sharedStarted))" : "reused")"
                            + " (π_0 eval \(Self.format(pi0)), π_1 eval \(Self.format(pi1)))")
                }
                for cell in cells where cell.loss == loss {
                    if stopped() { return }
                    let interrupted = try await runCell(
                        cell, seed: seed, sharedRun: sharedRun, set: set, model: model, buffer: buffer, databaseURL: databaseURL,
                        into: &result, progress: progress)
                    if interrupted {
                        result.interrupted = true
                        return
                    }
                }
            }
        }
    }

    /// Runs one cell at one seed; returns true when a signal stopped it.
    private func runCell(
        _ cell: Cell, seed: Int64, sharedRun: Int64, set: Int64, model: Int64, buffer: ReplayBuffer, databaseURL: String,
        into result: inout ExperimentResult, progress: @Sendable (String) -> Void
    ) async throws -> Bool {
        var rho = cell.rho
        if cell.strategy == .randomMatched {
            let reward = result.finished(Cell(rho: cell.rho, strategy: .reward, loss: cell.loss), seed)
            let random = result.finished(Cell(rho: cell.rho, strategy: .random, loss: cell.loss), seed)
            guard let reward, let random,
                let matched = Self.matchedRatio(
                    rho: cell.rho, rewardTokens: reward.tokensAfterShared, randomTokens: random.tokensAfterShared)
            else {
                progress("seed \(seed): \(cell.name) skipped (reward and random at ρ = \(cell.rho) must finish first)")
                return false
            }
            rho = matched
        }
        var config = baseConfig
        config.rho = rho.doubleValue
        config.strategy = cell.strategy.selection
        config.loss = cell.loss
        config.iterations = max(1, iterations - 1)
        config.seed = seed
        config.basePolicy = nil
        let name = runName(cell, seed: seed)
        let run = try await ensureRun(
            buffer: buffer, name: name, promptSetID: set, rewardModelID: model, config: config, forkedFrom: (sharedRun, 0))
        let started = ContinuousClock.now
        let outcome = try await drive(buffer: buffer, databaseURL: databaseURL, run: run)
        let measured = try await measure(run: name, rho: rho, buffer: buffer)
        result.outcomes[ExperimentResult.Key(cell: cell, seed: seed)] = measured
        let matchedNote = cell.strategy == .randomMatched ? " at ρ = \(rho)" : ""
        switch outcome {
        case .interrupted:
            progress("seed \(seed): \(cell.name) stopped unfinished; the grid stops (run the same command again to go on)")
            return true
        case .failed(let reason):
            progress("seed \(seed): \(cell.name) failed: \(reason)")
        case .finished(let now):
            progress(
                "seed \(seed): \(cell.name)\(matchedNote) final eval \(Self.format(measured.finalEval)) tokens \(measured.tokensAfterShared)"
                    + (now ? " (\(Self.seconds(since: started)))" : " (reused)"))
        }
        return false
    }

    /// How driving a run ended.
    enum Drive {
        /// Done; `now` when this invocation drove it (false: it was done already).
        case finished(now: Bool)
        case interrupted
        case failed(String)
    }

    private func drive(buffer: ReplayBuffer, databaseURL: String, run: Int64) async throws -> Drive {
        let record = try await buffer.runRecord(run)
        switch record.status {
        case .done: return .finished(now: false)
        case .failed:
            let latest = try await buffer.latestIteration(run: run)
            return .failed(latest?.failureReason ?? "the run failed")
        default: break
        }
        do {
            switch try await RunDriver(databaseURL: databaseURL, run: run).drive(onIteration: { _ in }) {
            case .finished: return .finished(now: true)
            case .interrupted: return .interrupted
            }
        } catch {
            return .failed("\(error)")
        }
    }

    /// The run called `name` if it exists with exactly `config` (else an error), or a new one.
    private func ensureRun(
        buffer: ReplayBuffer, name: String, promptSetID: Int64, rewardModelID: Int64, config: RunConfig, forkedFrom: (run: Int64, t: Int)?
    ) async throws -> Int64 {
        if let existing = try await buffer.runID(named: name) {
            let record = try await buffer.runRecord(existing)
            guard record.config == config, record.promptSetID == promptSetID, record.forkedFrom?.run == forkedFrom?.run else {
                throw ExperimentError(
                    "run \(name) exists with another configuration; give another --label (or the arguments of the grid that made it)")
            }
            return existing
        }
        return try await buffer.createRun(
            name: name, promptSetID: promptSetID, rewardModelID: rewardModelID, config: config, forkedFrom: forkedFrom)
    }

    /// The outcome of the cell run `name` as the buffer has it.
    func measure(run name: String, rho: DecimalRatio, buffer: ReplayBuffer) async throws -> ExperimentResult.Outcome {
        guard let data = try await buffer.reportData(runNames: [name]).first else {
            throw ExperimentError("run \(name) vanished")
        }
        let sharedTokens = data.points.filter(\.inherited).reduce(0) { $0 + $1.trainTokens }
        var outcome = ExperimentResult.Outcome(
            finished: data.status == "done", finalEval: data.finalEvaluation?.reward ?? .nan, tokensAfterShared: data.ownTrainTokens,
            rho: rho)
        for point in data.points where point.t >= 1 {
            if let reward = point.evalReward { outcome.evalByIteration[point.t] = reward }
            outcome.tokensByIteration[point.t] = max(0, point.cumulativeTokens - sharedTokens)
        }
        outcome.gainSplit = data.gainSplit
        return outcome
    }

    static func format(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.4f", value)
    }

    static func seconds(since start: ContinuousClock.Instant) -> String {
        String(format: "%.1f s", (ContinuousClock.now - start).seconds)
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
