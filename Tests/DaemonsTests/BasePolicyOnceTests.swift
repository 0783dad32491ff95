import Buffer
import Daemons
import Foundation
import Postgres
import TestSupport
import Testing

/// Concurrent first use of the built-in task stores one π_0 (issue 9 item 7).
@Suite("The built-in task's π_0 is stored once")
struct BasePolicyOnceTests {
    @Test func twoConcurrentInitialisationsStoreOneBasePolicy() async throws {
        try await TestDatabase.withFresh { database in
            let task = {
                var task = BuiltinTask()
                task.trainPrompts = 30
                task.evalPrompts = 10
                return task
            }()
            let first = ReplayBuffer(connection: try await database.connect())
            let second = ReplayBuffer(connection: try await database.connect())
            @Sendable func initialise(_ buffer: ReplayBuffer) async throws -> (set: Int64, policy: Int64, trained: Bool) {
                let set = try await task.ensurePromptSet(buffer: buffer)
                let (policy, trained) = try await task.ensureBasePolicy(buffer: buffer)
                return (set, policy, trained)
            }
            async let a = initialise(first)
            async let b = initialise(second)
            let (x, y) = try await (a, b)
            #expect(x.set == y.set)
            #expect(x.policy == y.policy)
            #expect([x.trained, y.trained].filter { $0 }.count == 1)
            let bases = try await first.connection.query("SELECT count(*) FROM optune.policies WHERE run_id IS NULL")[0]
                .decode(0, as: Int64.self)
            #expect(bases == 1)
            let members = try await first.connection.query("SELECT count(*) FROM optune.prompt_set_members WHERE set_id = $1", [x.set])[0]
                .decode(0, as: Int64.self)
            #expect(members == 40)
        }
    }

    @Test func aFailedBuildStoresNothingAndReleasesTheLock() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            let config = #"{"kind": "test-base"}"#
            struct Refused: Error {}
            await #expect(throws: Refused.self) { _ = try await buffer.ensureBasePolicy(configJSON: config) { throw Refused() } }
            let other = ReplayBuffer(connection: try await database.connect())
            let (policy, created) = try await other.ensureBasePolicy(configJSON: config) { [1, 2, 3] }
            #expect(created)
            #expect(
                try await buffer.ensureBasePolicy(configJSON: config) {
                    Issue.record("built twice"); return []
                } == (policy, false))
        }
    }

    @Test func twoConcurrentTaskInitProcessesTrainOnce() async throws {
        try await TestDatabase.withFresh { database in
            let arguments = ["task", "init", "--train-prompts", "30", "--eval-prompts", "10", "--task-seed", "7"]
            async let a = OptuneProcess.run(arguments, databaseURL: database.url)
            async let b = OptuneProcess.run(arguments, databaseURL: database.url)
            let results = try await [a, b]
            for (status, output) in results { #expect(status == 0, "\(output)") }
            #expect(results.filter { $0.1.contains("(trained now)") }.count == 1)
            #expect(results.filter { $0.1.contains("(already stored)") }.count == 1)
            let connection = try await database.connect()
            let bases = try await connection.query("SELECT count(*) FROM optune.policies WHERE run_id IS NULL")[0].decode(0, as: Int64.self)
            #expect(bases == 1)
        }
    }
}
