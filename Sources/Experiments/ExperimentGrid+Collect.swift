import Buffer
import Selection

extension ExperimentGrid {
    /// The grid whose runs are called `label-…` in the buffer, read back from their names
    /// (`label-s7-rho0.5-reward-wdpo`, `label-s7-wdpo-shared`) and configurations; nil when
    /// there are none.
    public static func discover(label: String, buffer: ReplayBuffer) async throws -> ExperimentGrid? {
        var grid = ExperimentGrid(label: label)
        var rhos = Set<DecimalRatio>()
        var strategies = Set<ExperimentStrategy>()
        var losses = Set<LossKind>()
        var seeds = Set<Int64>()
        var found = Set<Cell>()
        var iterations: Int?
        for name in try await buffer.runNames(prefix: label + "-s") {
            guard let parsed = parse(runName: name, label: label) else { continue }
            seeds.insert(parsed.seed)
            losses.insert(parsed.loss)
            guard let cell = parsed.cell else { continue }
            found.insert(cell)
            rhos.insert(cell.rho)
            if cell.strategy != .full { strategies.insert(cell.strategy) }
            if iterations == nil, let id = try await buffer.runID(named: name) {
                iterations = try await buffer.runRecord(id).config.iterations + 1
            }
        }
        guard !seeds.isEmpty else { return nil }
        grid.rhos = rhos.sorted { $0.doubleValue < $1.doubleValue }
        grid.strategies = ExperimentStrategy.allCases.filter(strategies.contains)
        grid.losses = LossKind.allCases.filter(losses.contains)
        grid.seeds = seeds.sorted()
        grid.iterations = iterations ?? 2
        grid.cellFilter = found
        return grid
    }

    /// Seed, loss and (for a cell run) the cell of a run named by ``runName(_:seed:)`` or
    /// ``sharedRunName(seed:loss:)``.
    static func parse(runName name: String, label: String) -> (seed: Int64, loss: LossKind, cell: Cell?)? {
        guard name.hasPrefix(label + "-s") else { return nil }
        let parts = name.dropFirst(label.count + 2).split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 3, let seed = Int64(parts[0]) else { return nil }
        if parts.count == 3, parts[2] == "shared", let loss = LossKind(rawValue: parts[1]) { return (seed, loss, nil) }
        guard parts[1].hasPrefix("rho"), let rho = DecimalRatio(String(parts[1].dropFirst(3))),
            let loss = LossKind(rawValue: parts[parts.count - 1]),
            let strategy = ExperimentStrategy(rawValue: parts[2..<(parts.count - 1)].joined(separator: "-"))
        else { return nil }
        return (seed, loss, Cell(rho: rho, strategy: strategy, loss: loss))
    }

    /// The grid's outcomes as the buffer has them now, without driving anything: runs that do
    /// not exist yet are missing, runs that did not finish are unfinished.
    public func collect(databaseURL: String) async throws -> ExperimentResult {
        let buffer = try await ReplayBuffer.connect(to: databaseURL, applicationName: "optune-report")
        do {
            var result = ExperimentResult(cells: cells, seeds: seeds, iterations: iterations)
            for seed in seeds {
                for loss in losses {
                    guard let shared = try await buffer.runID(named: sharedRunName(seed: seed, loss: loss)) else { continue }
                    let key = ExperimentResult.SharedKey(seed: seed, loss: loss)
                    if let pi0 = try await buffer.evalReward(run: shared, t: 0) { result.initialEval[seed] = pi0 }
                    if let pi1 = try await buffer.evalReward(run: shared, t: 1) { result.sharedEval[key] = pi1 }
                    result.sharedTokens[key] = try await buffer.trainTokensGenerated(run: shared)
                    for cell in cells where cell.loss == loss {
                        let name = runName(cell, seed: seed)
                        guard let run = try await buffer.runID(named: name) else { continue }
                        let rho = DecimalRatio(try await buffer.runRecord(run).config.rho) ?? cell.rho
                        result.outcomes[ExperimentResult.Key(cell: cell, seed: seed)] = try await measure(
                            run: name, rho: rho, buffer: buffer)
                    }
                }
            }
            await buffer.close()
            return result
        } catch {
            await buffer.close()
            throw error
        }
    }
}

extension ExperimentResult {
    /// One cell's π_1 … π_T: mean tokens after iteration 0 and mean eval reward with its 95%
    /// interval, over the seeds where the cell finished.
    public func curve(_ cell: ExperimentGrid.Cell) -> [(t: Int, tokens: Double, eval: Estimate)] {
        (1...max(1, iterations)).compactMap { t in
            let finishedSeeds = seeds.compactMap { finished(cell, $0) }
            let rewards = finishedSeeds.compactMap { $0.evalByIteration[t] }
            let tokens = finishedSeeds.compactMap { $0.tokensByIteration[t] }
            guard !rewards.isEmpty, !tokens.isEmpty else { return nil }
            return (t, Double(tokens.reduce(0, +)) / Double(tokens.count), Estimate(rewards))
        }
    }
}
