import Buffer
import Foundation
import Postgres
import TestSupport
import Testing
import TokenCodec

/// Migration 0008: the blob CHECKs accept format v1 and v2 headers, nothing else.
@Suite("The schema accepts token blobs of format v1 and v2")
struct TokenBlobVersionTests {
    @Test func v2BlobsAreStoredAndReadBackAndOtherVersionsAreRejected() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 1)
            try await scenario.buffer.insertResponses(scenario.responses())
            let c = scenario.buffer.connection
            let response = try await scenario.buffer.responses(run: scenario.run, t: 0)[0].id
            let ids: [UInt32] = (0..<300).map { UInt32($0 % 120) }
            let v2Bytes = TokenCodec.encodePrefixCoded(ids)
            #expect(v2Bytes[1] == 2)
            let v2 = Data(v2Bytes)
            let setResponse = "UPDATE optune.responses SET tokens = $1, n_tokens = $2, prompt_tokens = $3 WHERE id = $4"
            if let failure = try await postgresError(running: setResponse, [v2, Int32(300), v2, response], on: c) {
                Issue.record("a v2 response blob was rejected: \(failure)")
            }
            let stored = try await scenario.buffer.responses(run: scenario.run, t: 0).first { $0.id == response }
            #expect(stored?.tokens == ids)
            if let failure = try await postgresError(running: "UPDATE optune.prompts SET tokens = $1", [v2], on: c) {
                Issue.record("a v2 prompt blob was rejected: \(failure)")
            }

            let v3 = Data(v2Bytes.with(3, at: 1))
            let responseError = try await postgresError(running: setResponse, [v3, Int32(300), v2, response], on: c)
            #expect(responseError?.sqlState == SQLState.checkViolation)
            #expect(responseError?.constraint == "responses_tokens_blob")
            let promptTokensError = try await postgresError(running: setResponse, [v2, Int32(300), v3, response], on: c)
            #expect(promptTokensError?.constraint == "responses_prompt_tokens_blob")
            let countError = try await postgresError(running: setResponse, [v2, Int32(299), v2, response], on: c)
            #expect(countError?.constraint == "responses_tokens_blob")
            let promptError = try await postgresError(running: "UPDATE optune.prompts SET tokens = $1", [v3], on: c)
            #expect(promptError?.constraint == "prompts_tokens_blob")
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate func with(_ value: UInt8, at offset: Int) -> [UInt8] {
        var copy = self
        copy[offset] = value
        return copy
    }
}
