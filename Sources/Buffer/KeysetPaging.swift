import Postgres

extension ReplayBuffer {
    /// Keyset pagination, written once: fetches the page after `start` (`fetch` runs one
    /// `… WHERE key > $after ORDER BY key LIMIT pageSize` statement), decodes it, hands it to
    /// `body`, and goes on after the last item's key until a page comes back short. Memory stays
    /// bounded by one page; no transaction is held between pages.
    func forEachKeysetPage<Key, Item>(
        after start: Key, pageSize: Int,
        fetch: (Key) async throws -> QueryResult,
        decode: (QueryResult) throws -> [Item],
        key: (Item) -> Key,
        _ body: ([Item]) async throws -> Void
    ) async throws {
        var after = start
        while true {
            let page = try await fetch(after)
            let items = try decode(page)
            guard let last = items.last else { return }
            after = key(last)
            try await body(items)
            if page.count < pageSize { return }
        }
    }
}
