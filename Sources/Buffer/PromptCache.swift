import Synchronization

/// The contents of prompts already read from one database, by id, shared by the daemons of a
/// process.
///
/// A prompt's text and messages never change once stored (migration 0014 refuses the update), so
/// a prompt read once can be served again without the database: in `optune run` the scorer and
/// the trainer find the prompts the generator read, and every daemon finds at t + 1 the prompts it
/// read at t. Use one cache per database: prompt ids of different databases are unrelated. When
/// the cached contents reach `byteLimit`, the cache starts over empty.
public final class PromptCache: Sendable {
    /// The most bytes of text and messages kept.
    public let byteLimit: Int
    private let state = Mutex(State())

    private struct State {
        var prompts: [Int64: StoredPrompt] = [:]
        var bytes = 0
    }

    /// An empty cache that keeps at most `byteLimit` bytes of prompt contents (128 MiB unless
    /// told).
    public init(byteLimit: Int = 128 << 20) {
        self.byteLimit = byteLimit
    }

    /// The cached prompts among `ids`, and the ids that are not cached, in the order given.
    func lookup(_ ids: [Int64]) -> (found: [Int64: StoredPrompt], missing: [Int64]) {
        state.withLock { state in
            var found: [Int64: StoredPrompt] = [:]
            found.reserveCapacity(ids.count)
            var missing: [Int64] = []
            for id in ids {
                if let prompt = state.prompts[id] { found[id] = prompt } else { missing.append(id) }
            }
            return (found, missing)
        }
    }

    /// Keeps `prompts`, read from the database.
    func store(_ prompts: some Collection<StoredPrompt>) {
        state.withLock { state in
            for prompt in prompts where state.prompts[prompt.id] == nil {
                let size = Self.size(of: prompt)
                guard size <= byteLimit else { continue }
                if state.bytes + size > byteLimit {
                    state.prompts.removeAll()
                    state.bytes = 0
                }
                state.prompts[prompt.id] = prompt
                state.bytes += size
            }
        }
    }

    /// Prompts held now.
    public var count: Int { state.withLock { $0.prompts.count } }

    /// A prompt's share of the limit: its text and messages, and the entry's own memory (the
    /// table slot, the record, the strings' headers; about 128 bytes, measured at 100k prompts).
    static func size(of prompt: StoredPrompt) -> Int {
        128 + (prompt.text?.utf8.count ?? 0) + (prompt.messagesJSON?.utf8.count ?? 0)
    }
}
