/// D_t as the paged preference trainer reads it: ``count`` pairs at positions 0..<count, fetched
/// a page at a time so that the token ids in memory stay bounded by a page whatever |D_t| is.
///
/// ``PreferenceTrainer/train(_:from:options:)`` reads D_t once in position order (for
/// π_ref's log-probabilities and the loss weights), then, each epoch, pages of the epoch's
/// shuffled order by position.
public protocol PreferencePairSource: Sendable {
    /// |D_t|.
    var count: Int { get }

    /// About how many pairs a page holds; the trainer reads its shuffled order in pages of this
    /// size too (rounded to whole minibatches).
    var pageSize: Int { get }

    /// Calls `body` with every pair in position order, a page at a time (pages of any size).
    func forEachPage(_ body: ([PreferencePair]) async throws -> Void) async throws

    /// The pairs at `positions` (each in 0..<``count``), in that order.
    func pairs(at positions: [Int]) async throws -> [PreferencePair]
}

/// Pairs held in memory, served in pages of `pageSize` (for tests and small sets).
public struct PreferencePairArray: PreferencePairSource {
    /// The pairs, in position order.
    public var pairs: [PreferencePair]
    /// Pairs per page of ``forEachPage(_:)``.
    public var pageSize: Int

    /// Serves `pairs` in pages of `pageSize` (> 0).
    public init(_ pairs: [PreferencePair], pageSize: Int = 4096) {
        precondition(pageSize > 0, "page size must be positive")
        self.pairs = pairs
        self.pageSize = pageSize
    }

    public var count: Int { pairs.count }

    public func forEachPage(_ body: ([PreferencePair]) async throws -> Void) async throws {
        for page in chunks(pairs.count, size: pageSize) { try await body(Array(pairs[page])) }
    }

    public func pairs(at positions: [Int]) async throws -> [PreferencePair] {
        try positions.map { position in
            guard pairs.indices.contains(position) else { throw PreferencePairSourceError.positionOutOfRange(position, count: count) }
            return pairs[position]
        }
    }
}

/// A source that handed the trainer something other than what it announced.
public enum PreferencePairSourceError: Error, CustomStringConvertible, Sendable {
    /// A position outside 0..<count was asked for.
    case positionOutOfRange(Int, count: Int)
    /// The pages held `pages` pairs where the source announced `count`.
    case countChanged(count: Int, pages: Int)
    /// A page of positions came back with `got` pairs instead of `expected`.
    case wrongPageSize(expected: Int, got: Int)

    public var description: String {
        switch self {
        case .positionOutOfRange(let position, let count): "pair position \(position) is outside 0..<\(count)"
        case .countChanged(let count, let pages): "the pair source announced \(count) pairs but its pages held \(pages)"
        case .wrongPageSize(let expected, let got): "a page of \(expected) pair positions came back with \(got) pairs"
        }
    }
}
