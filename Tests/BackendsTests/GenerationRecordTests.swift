import Buffer
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

@testable import Backends
@testable import Daemons

/// What a response row records matches what was sent and what the server said (issue 10 item 5).
@Suite("Generation records: token counts from usage, the seed that was sent")
struct GenerationRecordTests {
    func generator(_ database: TestDatabase, _ backend: any GenerationBackend, maxTokens: Int) -> GeneratorService {
        var settings = DaemonSettings()
        settings.pollInterval = .milliseconds(100)
        settings.unavailablePause = .milliseconds(100)
        settings.leaseSeconds = 30
        return GeneratorService(
            databaseURL: database.url, backend: backend, sampling: SamplingParameters(maxTokens: maxTokens), settings: settings,
            logger: Logger(label: "test.generate"))
    }

    @Test func aServerThatReturnsNoIdsGetsItsUsageCompletionTokensAsNTokens() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let scenario = try await BufferScenario.make(in: database, promptCount: 3)
                try await server.control(#"{"faults": [{"fault": "no_token_ids", "count": -1}]}"#)
                // max_tokens 2 cuts the fake's 3-token answer: usage.completion_tokens = 2.
                let service = generator(database, openAIBackend(server), maxTokens: 2)
                let tasks = try await scenario.buffer.lease(.generation, owner: service.identity.id, limit: 100, leaseSeconds: 30)
                #expect(try await service.process(tasks, buffer: scenario.buffer, cache: RunCache()) == 6)
                let rows = try await scenario.buffer.connection.query(
                    "SELECT n_tokens, tokens IS NULL, finish_reason FROM optune.responses ORDER BY prompt_id, sample_index")
                #expect(rows.count == 6)
                for row in rows {
                    #expect(try row.decode(0, as: Int.self) == 2)
                    #expect(try row.decode(1, as: Bool.self))
                    #expect(try row.decode(2, as: String?.self) == "length")
                }
            }
        }
    }

    @Test func usageIsIgnoredWhenIdsArePresentAndWhenItIsNotACount() throws {
        let withIDs = Data(#"{"usage": {"completion_tokens": 99}, "choices": [{"text": "a", "token_ids": [1, 2]}]}"#.utf8)
        #expect(try OpenAIGenerationBackend.parseSample(withIDs, chat: false).tokenCount == 2)
        for usage in [
            #"{"completion_tokens": -1}"#, #"{"completion_tokens": 4294967296}"#, #"{"completion_tokens": 1.5}"#,
            #"{"completion_tokens": "7"}"#, #"null"#, #"[]"#,
        ] {
            let body = Data(#"{"usage": \#(usage), "choices": [{"text": "a"}]}"#.utf8)
            let sample = try OpenAIGenerationBackend.parseSample(body, chat: false)
            #expect(sample.reportedTokenCount == nil)
            #expect(sample.tokenCount == 0)
        }
        let chat = Data(
            #"{"usage": {"prompt_tokens": 5, "completion_tokens": 7}, "choices": [{"message": {"role": "assistant", "content": "hi"}}]}"#
                .utf8)
        #expect(try OpenAIGenerationBackend.parseSample(chat, chat: true).tokenCount == 7)
    }

    @Test func theStoredSeedIsExactlyTheSeedInTheRequest() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let scenario = try await BufferScenario.make(in: database, promptCount: 8)
                let service = generator(database, openAIBackend(server), maxTokens: 8)
                let tasks = try await scenario.buffer.lease(.generation, owner: service.identity.id, limit: 100, leaseSeconds: 30)
                #expect(try await service.process(tasks, buffer: scenario.buffer, cache: RunCache()) == 16)
                let stored = try await scenario.buffer.connection.query("SELECT seed FROM optune.responses").map {
                    try $0.decode(0, as: Int64.self)
                }
                let sent = try await server.requests().compactMap { request -> Int64? in
                    if case .int(let seed)? = request["seed"] { return seed }
                    return nil
                }
                #expect(stored.count == 16 && sent.count == 16)
                #expect(stored.sorted() == sent.sorted())
                #expect(stored.allSatisfy { $0 >= 0 })
            }
        }
    }

    @Test func daemonSeedsAreNonNegativeInt64sAndDistinct() {
        var seen = Set<UInt64>()
        for prompt in Int64(0)..<500 {
            for sample in 0..<4 {
                let seed = GeneratorService.seed(run: -7, t: 3, prompt: prompt, sample: sample)
                #expect(seed < 1 << 63)
                seen.insert(seed)
            }
        }
        #expect(seen.count == 2_000)
        // The top bit was set on about half of them before they were confined to 63 bits; the
        // remaining bits still vary: both halves of the range are used.
        #expect(seen.contains { $0 >= 1 << 62 } && seen.contains { $0 < 1 << 62 })
    }
}
