import Postgres
import TestSupport
import Testing

@testable import Buffer

@Suite("Prompts read once are served from the cache; their content never changes")
struct PromptCacheTests {
    @Test func aPromptsContentCannotBeUpdatedButItsOtherColumnsCan() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 2)
            let c = scenario.buffer.connection
            let prompt = scenario.prompts[0]
            for update in [
                "UPDATE optune.prompts SET text = 'something else' WHERE id = $1",
                #"UPDATE optune.prompts SET messages = '[{"role": "user", "content": "hi"}]' WHERE id = $1"#,
            ] {
                let error = try await postgresError(running: update, [prompt], on: c)
                #expect(error?.constraint == "prompts_content_fixed", "\(update)")
                #expect(error?.message.contains("prompt \(prompt) ") == true)
            }
            // The same content, metadata and token ids may be written.
            #expect(try await postgresError(running: "UPDATE optune.prompts SET text = text WHERE id = $1", [prompt], on: c) == nil)
            #expect(
                try await postgresError(running: #"UPDATE optune.prompts SET metadata = '{"k": 1}' WHERE id = $1"#, [prompt], on: c) == nil)
            let text = try await c.query("SELECT text FROM optune.prompts WHERE id = $1", [prompt])[0].decode(0, as: String?.self)
            #expect(text == "scenario prompt 0")
        }
    }

    @Test func cachedAndReadPromptsAreTheSameAndOnlyMissingOnesAreRead() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 12)
            let buffer = scenario.buffer
            let ids = scenario.prompts
            let expected = try await buffer.prompts(ids)
            let cache = PromptCache()
            #expect(try await buffer.prompts(Array(ids[0..<5]), cache: cache) == expected.filter { ids[0..<5].contains($0.key) })
            #expect(cache.count == 5)
            // Five from the cache, seven read (dense, so as one range) and kept.
            #expect(try await buffer.prompts(ids, cache: cache) == expected)
            #expect(cache.count == 12)
            #expect(try await buffer.prompts(ids.reversed(), cache: cache) == expected)
            // An id that is not a prompt is simply absent, and not cached.
            let unknown = (ids.max() ?? 0) + 1000
            #expect(try await buffer.prompts([ids[0], unknown], cache: cache).keys.sorted() == [ids[0]])
            #expect(cache.count == 12)
        }
    }

    @Test func aFullCacheStartsOver() {
        let prompt = { (id: Int64) in StoredPrompt(id: id, text: String(repeating: "x", count: 100), messagesJSON: nil) }
        let cache = PromptCache(byteLimit: 3 * PromptCache.size(of: prompt(1)))
        cache.store((1...3).map(prompt))
        #expect(cache.count == 3)
        cache.store([prompt(4)])
        #expect(cache.count == 1)
        #expect(cache.lookup([1, 4]).missing == [1])
        // A prompt larger than the whole cache is never kept.
        cache.store([StoredPrompt(id: 9, text: String(repeating: "y", count: 1000), messagesJSON: nil)])
        #expect(cache.lookup([9, 4]).missing == [9])
    }
}
