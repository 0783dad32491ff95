import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

@testable import Backends
@testable import Daemons

/// Issue 9's poison prompt: a prompt the generation server always refuses (HTTP 400). Within the
/// run's dead-work tolerance the iteration goes on and the prompt keeps its D_{t−1} pair, with
/// the reason recorded; past it the iteration fails, and `optune tasks retry` + a coordinator
/// finish it once the server is fixed.
@Suite("Dead work: tolerated, recorded, retried")
struct DeadWorkToleranceTests {
    /// 150 train and 30 eval prompts: at t = 1 one dead task of 180 is 0.56%, within the
    /// default tolerance of 1%.
    static func prepare(_ database: TestDatabase, run: String, extra: [String], folder: URL) async throws {
        let prompts = folder.appendingPathComponent("prompts.jsonl")
        let lines =
            (0..<150).map { #"{"prompt": "question \#($0)"}"# } + (0..<30).map { #"{"prompt": "held out \#($0)", "split": "eval"}"# }
        try lines.joined(separator: "\n").write(to: prompts, atomically: true, encoding: .utf8)
        for arguments in [
            ["prompts", "import", prompts.path, "--set", "poison"],
            [
                "run", "--create-only", "--name", run, "--prompt-set", "poison", "--base-uri", "test://pi0", "--iterations", "2",
                "--strategy", "full", "--rho", "1",
            ] + extra,
        ] {
            let (code, output) = try await OptuneProcess.run(arguments, databaseURL: database.url)
            #expect(code == 0, "\(arguments): \(output)")
        }
    }

    /// Generator, scorer and command trainer (with the publish step that lists π_{t+1}).
    static func workers(_ database: TestDatabase, _ server: FakeServer, folder: URL) throws -> [OptuneProcess] {
        let train = folder.appendingPathComponent("train.sh").path
        try CommandTrainerEndToEndTests.trainScript.write(toFile: train, atomically: true, encoding: .utf8)
        let publish = folder.appendingPathComponent("publish.py").path
        try CommandTrainerEndToEndTests.publishScript.write(toFile: publish, atomically: true, encoding: .utf8)
        let log = folder.appendingPathComponent("published.log").path
        let worker = ["--log-level", "warning", "--poll-milliseconds", "100"]
        return try [
            ["generate", "--backend", "openai", "--base-url", "http://127.0.0.1:\(server.servicePort)", "--probe-seconds", "0.2"] + worker,
            ["score", "--backend", "http", "--url", "http://127.0.0.1:\(server.port)/reward"] + worker,
            [
                "train", "--backend", "command", "--work-dir", folder.appendingPathComponent("work").path,
                "--publish-command", "python3 \(publish) http://127.0.0.1:\(server.port)/control {next_policy_uri} \(log)",
            ]
                + worker + ["--", "/bin/sh", train, "{export}", "{policy_uri}", "{output_dir}"],
        ].map { try OptuneProcess($0, databaseURL: database.url) }
    }

    /// The server refuses prompt "question 7" when sampled with π_1 (so D_0 has its pair).
    static func poison(_ server: FakeServer, run: String) async throws {
        try await server.control(
            #"{"faults": [{"fault": "400", "count": -1, "message": "prompt too long for the context", "match": ["question 7\"", "\#(run)-pi1"]}]}"#
        )
    }

    static func runStatus(_ name: String, on connection: Connection) async throws -> (String, String) {
        let row = try await connection.query("SELECT status, coalesce(status_reason, '') FROM optune.runs WHERE name = $1", [name])[0]
        return (try row.decode(0), try row.decode(1))
    }

    @Test func withinTheToleranceThePoisonPromptKeepsItsPairAndTheRunFinishes() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let folder = FileManager.default.temporaryDirectory.appendingPathComponent("optune-dead-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try await Self.prepare(database, run: "tol", extra: [], folder: folder)
                try await Self.poison(server, run: "tol")
                let coordinator = try OptuneProcess(["coordinate", "--run", "tol", "--log-level", "warning"], databaseURL: database.url)
                let workers = try Self.workers(database, server, folder: folder)
                let status = await coordinator.waitForExit(timeout: .seconds(240))
                for worker in workers { worker.send(SIGTERM) }
                let outputs = ([coordinator] + workers).map(\.output).joined(separator: "\n----\n")
                #expect(status == 0, "\(outputs)")
                let connection = try await database.connect()
                #expect(try await Self.runStatus("tol", on: connection).0 == "done")
                // The poison prompt's task is dead with the server's message; it kept its D_0 pair.
                let unpaired = try await connection.query(
                    """
                    SELECT u.t, q.text, u.kept_pair, u.reason FROM optune.unpaired_prompts u JOIN optune.prompts q ON q.id = u.prompt_id
                    """)
                #expect(unpaired.count == 1)
                let row = try #require(unpaired.first)
                #expect(try row.decode(0, as: Int.self) == 1)
                #expect(try row.decode(1, as: String.self) == "question 7")
                #expect(try row.decode(2, as: Bool.self))
                #expect(try row.decode(3, as: String.self).contains("prompt too long for the context"))
                let kept = try await count(
                    """
                    SELECT count(*) FROM optune.pairs p JOIN optune.prompts q ON q.id = p.prompt_id
                    WHERE p.t = 1 AND q.text = 'question 7' AND p.origin = 'reused' AND p.source_t = 0
                    """, on: connection)
                #expect(kept == 1)
                #expect(try await count("SELECT count(*) FROM optune.pairs WHERE t = 1", on: connection) == 150)
                #expect(try await count("SELECT dead_tasks::int8 FROM optune.iterations WHERE t = 1", on: connection) == 1)
                // `optune status` names the dead task and its reason.
                let (code, statusOutput) = try await OptuneProcess.run(["status", "--run", "tol"], databaseURL: database.url)
                #expect(code == 0)
                #expect(statusOutput.contains("prompt too long for the context"), "\(statusOutput)")
                await connection.close()
            }
        }
    }

    @Test func pastTheToleranceTheIterationFailsAndTasksRetryFinishesIt() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let folder = FileManager.default.temporaryDirectory.appendingPathComponent("optune-dead-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try await Self.prepare(database, run: "strict", extra: ["--max-dead-fraction", "0"], folder: folder)
                try await Self.poison(server, run: "strict")
                let workers = try Self.workers(database, server, folder: folder)
                let first = try OptuneProcess(["coordinate", "--run", "strict", "--log-level", "warning"], databaseURL: database.url)
                let failedStatus = await first.waitForExit(timeout: .seconds(240))
                #expect(failedStatus == 1, "\(first.output)")
                let connection = try await database.connect()
                let (state, reason) = try await Self.runStatus("strict", on: connection)
                #expect(state == "failed")
                #expect(reason.contains("1 of 180 generation task(s) dead at iteration 1"), "\(reason)")
                #expect(reason.contains("prompt too long for the context"))
                #expect(reason.contains("optune tasks retry --run strict"))
                let (_, statusOutput) = try await OptuneProcess.run(["status", "--run", "strict"], databaseURL: database.url)
                #expect(statusOutput.contains("dead at iteration 1"), "\(statusOutput)")

                // The server is fixed; the dead task is requeued and the iteration reopened.
                try await server.control(#"{"faults": [], "reset": false}"#)
                try await server.control(#"{"reset": true}"#)
                try await server.control(#"{"models": ["test://pi0", "strict-pi1"]}"#)
                let (retryCode, retryOutput) = try await OptuneProcess.run(
                    ["tasks", "retry", "--run", "strict"], databaseURL: database.url)
                #expect(retryCode == 0, "\(retryOutput)")
                #expect(retryOutput.contains("1 dead task(s) requeued; iteration reopened in generating"), "\(retryOutput)")
                let second = try OptuneProcess(["coordinate", "--run", "strict", "--log-level", "warning"], databaseURL: database.url)
                let finished = await second.waitForExit(timeout: .seconds(240))
                for worker in workers { worker.send(SIGTERM) }
                #expect(finished == 0, "\(second.output)\n\(workers.map(\.output).joined(separator: "\n----\n"))")
                #expect(try await Self.runStatus("strict", on: connection).0 == "done")
                #expect(try await count("SELECT count(*) FROM optune.unpaired_prompts", on: connection) == 0)
                #expect(try await count("SELECT count(*) FROM optune.pairs WHERE t = 1 AND origin = 'regenerated'", on: connection) == 150)
                await connection.close()
            }
        }
    }
}
