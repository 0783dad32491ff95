import Buffer
import Postgres
import TestSupport
import Testing

@Suite("A submission settles its chunk: done, or split by what each prompt did")
struct ChunkSubmissionTests {
    @Test func aPartlyFailedChunkIsSplitAndARepeatChangesNothing() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await BufferScenario.make(in: database, promptCount: 6)
            let buffer = scenario.buffer
            let tasks = try await buffer.lease(.generation, owner: "w", limit: 6, leaseSeconds: 60)
            #expect(tasks.count == 6 && Set(tasks.map(\.chunk)).count == 1)
            let chunk = tasks[0].chunk
            let succeeded = Array(tasks[0..<3])
            let failures = [
                TaskFailure(task: tasks[3], message: "busy", retryable: true),
                TaskFailure(task: tasks[4], message: "bad prompt", retryable: false),
            ]  // tasks[5]: no report, so it goes back uncounted
            let responses = scenario.responses(prompts: scenario.prompts[0..<3])
            let first = try await buffer.submitGenerations(succeeded, responses: responses, failures: failures)
            #expect(first == SubmissionOutcome(accepted: 6, refused: 0))

            let parts = try await buffer.connection.query(
                """
                SELECT state, prompt_ids, attempts, last_error FROM optune.generation_tasks
                WHERE parent_chunk = $1 ORDER BY chunk
                """, [chunk]
            ).map { row in
                (
                    try row.decode(0, as: String.self), try row.decode(1, as: [Int64].self), try row.decode(2, as: Int.self),
                    try row.decode(3, as: String?.self)
                )
            }
            let p = scenario.prompts
            #expect(parts.map(\.0) == ["done", "pending", "dead", "pending"])
            #expect(parts.map(\.1) == [Array(p[0..<3]), [p[3]], [p[4]], [p[5]]])
            #expect(parts.map(\.2) == [1, 1, 1, 0])  // the unreported prompt's attempt is not counted
            #expect(parts.map(\.3) == [nil, "busy", "bad prompt", nil])
            let parent = try await buffer.connection.query("SELECT state FROM optune.generation_tasks WHERE chunk = $1", [chunk])
            #expect(try parent[0].decode(0, as: String.self) == "split")
            // The responses belong to the done part, and only its prompts are queued for scoring.
            let stored = try await buffer.connection.query("SELECT DISTINCT chunk FROM optune.responses").map {
                try $0.decode(0, as: Int64.self)
            }
            let donePart = try await buffer.connection.query(
                "SELECT chunk FROM optune.generation_tasks WHERE parent_chunk = $1 AND state = 'done'", [chunk])
            #expect(stored == [try donePart[0].decode(0, as: Int64.self)])
            let scoring = try await buffer.connection.query("SELECT prompt_ids FROM optune.scoring_tasks").map {
                try $0.decode(0, as: [Int64].self)
            }
            #expect(scoring == [Array(p[0..<3])])

            // The same submission again (a retried commit): accepted, nothing added.
            let again = try await buffer.submitGenerations(succeeded, responses: responses, failures: failures)
            #expect(again == SubmissionOutcome(accepted: 6, refused: 0))
            #expect(try await count("SELECT count(*) FROM optune.generation_tasks", on: buffer.connection) == 5)
            #expect(try await count("SELECT count(*) FROM optune.scoring_tasks", on: buffer.connection) == 1)
            #expect(try await count("SELECT count(*) FROM optune.responses", on: buffer.connection) == 6)
            // The retry part and the returned one go back to the queue (the dead one does not);
            // they never expired, so one lease may take both.
            #expect(try await buffer.lease(.generation, owner: "w", limit: 6, leaseSeconds: 60).map(\.prompt) == [p[3], p[5]])
        }
    }

    private func count(_ sql: String, on connection: Connection) async throws -> Int {
        try await connection.query(sql)[0].decode(0, as: Int.self)
    }
}
