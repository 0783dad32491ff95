extension PreferenceTrainer {
    /// Trains π_t = `reference` on the pairs of `source` and returns π_{t+1}, holding at most two
    /// pages of pairs (about 2·`source.pageSize`) at a time, never all of D_t.
    ///
    /// Takes exactly the steps of ``train(_:on:options:)`` on the same pairs in position order
    /// (bit-identical weights and losses, whatever the page size): π_ref's log-probabilities and the
    /// loss weights come from one pass over the pages in position order (O(|D_t|) numbers
    /// kept); each epoch shuffles the positions 0..<count as before (O(|D_t|) small ints) and
    /// reads that order a page at a time, a page being a whole number of minibatches. The next
    /// page is read while the current one trains. Cancellation is checked between pages.
    public static func train(
        _ reference: PolicyModel, from source: some PreferencePairSource, options: PreferenceOptions = PreferenceOptions()
    ) async throws -> PreferenceTrainingResult {
        let count = source.count
        var run = PreferenceRun(reference: reference, count: count, options: options)
        var pending: [PreferencePair] = []
        var seen = 0
        try await source.forEachPage { page in
            try Task.checkCancellation()
            seen += page.count
            pending += page
            // π_ref's log-probabilities in the model's own chunks, as one call over all pairs.
            while pending.count >= PolicyModel.chunkSize {
                run.addReference(pending[..<PolicyModel.chunkSize])
                pending.removeFirst(PolicyModel.chunkSize)
            }
        }
        if !pending.isEmpty { run.addReference(pending[...]) }
        pending = []
        guard seen == count else { throw PreferencePairSourceError.countChanged(count: count, pages: seen) }

        // A page of the shuffled order holds whole minibatches.
        let page = max(1, source.pageSize / options.batchSize) * options.batchSize
        for _ in 0..<options.epochs where count > 0 {
            let order = run.epochOrder()
            let pages = chunks(order.count, size: page)
            let read = { (index: Int) in
                let positions = Array(order[pages[index]])
                return Task {
                    let pairs = try await source.pairs(at: positions)
                    guard pairs.count == positions.count else {
                        throw PreferencePairSourceError.wrongPageSize(expected: positions.count, got: pairs.count)
                    }
                    return pairs
                }
            }
            var next: Task<[PreferencePair], any Error>? = read(0)
            defer { next?.cancel() }
            var epoch = PreferenceRun.Epoch()
            for index in pages.indices {
                try Task.checkCancellation()
                guard let current = next else { break }
                let pairs = try await current.value
                next = index + 1 < pages.count ? read(index + 1) : nil
                let base = pages[index].lowerBound
                for batch in chunks(pages[index].count, size: options.batchSize) {
                    run.step(
                        positions: order[(base + batch.lowerBound)..<(base + batch.upperBound)], pairs: pairs[batch], epoch: &epoch)
                }
            }
            run.finish(epoch)
        }
        return run.result()
    }
}
