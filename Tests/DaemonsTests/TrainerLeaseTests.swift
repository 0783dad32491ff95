import Backends
import Buffer
import Foundation
import Logging
import Postgres
import Selection
import TestSupport
import Testing

@testable import Daemons

/// Iteration 0 of a run named `name` in state `training`, with D_0 built over 6 prompts; π_0 is
/// `policyURI` (an external model) or, without one, a built-in policy (weights never loaded here).
func trainingScenario(_ name: String, in database: TestDatabase, policyURI: String? = "test://pi0") async throws -> BufferScenario {
    let buffer = ReplayBuffer(connection: try await database.connect())
    let set = try await buffer.promptSet(named: "set-\(name)")
    _ = try await buffer.storePrompts(
        (0..<6).map { PromptRecord(text: "\(name) prompt \($0)") }, inSet: set, defaultSplit: .train, source: "test")
    let prompts = try await buffer.promptIDs(inSet: set, split: .train)
    let model = try await buffer.rewardModel(name: "m", version: "1", backend: "test")
    let run = try await buffer.createRun(name: name, promptSetID: set, rewardModelID: model, config: RunConfig())
    let policy = try await buffer.registerPolicy(
        run: run, t: 0, parent: nil, weights: policyURI == nil ? [1, 2, 3] : nil, uri: policyURI)
    try await buffer.openIteration(run: run, t: 0, policy: policy, rho: 1, strategy: .full)
    try await buffer.enqueueGeneration(run: run, t: 0, policy: policy, purpose: .train, promptIDs: prompts)
    let scenario = BufferScenario(buffer: buffer, setID: set, rewardModel: model, run: run, policy: policy, prompts: prompts)
    _ = try await buffer.insertResponses(scenario.responses())
    let stored = try await buffer.responses(run: run, t: 0)
    _ = try await buffer.recordRewards(
        stored.map {
            NewReward(response: $0.id, rewardModel: model, score: Double($0.sampleIndex) * 0.5 + Double($0.prompt % 3) * 0.1)
        })
    _ = try await buffer.connection.transaction { c in
        _ = try PairBuilder.build(run: run, t: 0, rewardModel: model, beta2: 5, previousPairsRun: nil, on: c)
        try ReplayBuffer.transition(run: run, t: 0, from: .generating, to: .training, on: c)
    }
    return scenario
}

/// Writes an executable shell script and returns its path.
func script(_ body: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("optune-test-\(UUID().uuidString).sh").path
    try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
    guard chmod(path, 0o755) == 0 else { throw TestDatabaseError(message: "chmod \(path) failed") }
    return path
}

func temporaryFolder() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("optune-work-\(UUID().uuidString)").path
}

func quickSettings(leaseSeconds: Double = 30) -> DaemonSettings {
    var settings = DaemonSettings()
    settings.leaseSeconds = leaseSeconds
    settings.pollInterval = .milliseconds(100)
    return settings
}

@Suite("Training: leases, failures recorded, iterations of the other kind skipped")
struct TrainerLeaseTests {
    @Test func eachTrainerSkipsIterationsWhosePolicyItCannotTrainAndPolicyRegisterStillWorks() async throws {
        try await TestDatabase.withFresh { database in
            let external = try await trainingScenario("ext", in: database)
            let builtin = try await trainingScenario("bi", in: database, policyURI: nil)
            let buffer = external.buffer
            let logger = Logger(label: "test.train")

            // An unscoped built-in trainer finds only the built-in iteration; it never takes the
            // external one (no lease, no failure), whatever its π_0 holds.
            let builtinTrainer = TrainerService(
                databaseURL: database.url, trainer: BuiltinPreferenceTrainer(), settings: quickSettings(), logger: logger)
            let candidates = try await buffer.trainingCandidates()
            #expect(Set(candidates.map(\.iteration.run)) == [external.run, builtin.run])
            #expect(candidates.first { $0.iteration.run == external.run }?.policyIsExternal == true)
            #expect(candidates.first { $0.iteration.run == builtin.run }?.policyIsExternal == false)
            // A command trainer skips the built-in iteration in the same way.
            let commandTrainer = TrainerService(
                databaseURL: database.url, command: CommandTrainerSettings(argv: ["/bin/false"], workDirectory: temporaryFolder()),
                settings: quickSettings(), logger: logger)
            // Take the external iteration out of reach of the command trainer for this check.
            let held = try #require(try await buffer.acquireTrainingLease(run: external.run, t: 0, holder: "someone-else", seconds: 60))
            #expect(try await commandTrainer.trainNext(buffer: buffer, cache: RunCache()) == false)
            try await buffer.releaseTrainingLease(held)
            #expect(
                try await Probe.count("SELECT count(*) FROM optune.training_leases WHERE run_id = $1", [builtin.run], on: buffer.connection)
                    == 0)

            // The built-in trainer over a database where only the external iteration waits:
            // it must leave it alone. (Fail the built-in one first, as if done.)
            _ = try await buffer.connection.transaction { c in
                try ReplayBuffer.transition(
                    run: builtin.run, t: 0, from: .training, to: .failed, failureReason: "not part of this test", on: c)
            }
            #expect(try await builtinTrainer.trainNext(buffer: buffer, cache: RunCache()) == false)
            let state = try await buffer.connection.query(
                "SELECT state, failure_reason FROM optune.iterations WHERE run_id = $1", [external.run])[0]
            #expect(try state.decode(0, as: String.self) == "training")
            #expect(try state.decode(1, as: String?.self) == nil)

            // `optune policy register` still works on it.
            let (code, output) = try await OptuneProcess.run(
                ["policy", "register", "--run", "ext", "--iteration", "0", "--uri", "ext-step1"], databaseURL: database.url)
            #expect(code == 0, "\(output)")
            let registered = try await buffer.connection.query(
                "SELECT p.uri, i.state FROM optune.training_runs tr JOIN optune.policies p ON p.id = tr.policy_out JOIN optune.iterations i ON (i.run_id, i.t) = (tr.run_id, tr.t) WHERE tr.run_id = $1",
                [external.run])
            #expect(registered.count == 1)
            #expect(try registered.first?.decode(0, as: String.self) == "ext-step1")
            #expect(try registered.first?.decode(1, as: String.self) == "evaluating")
        }
    }

    @Test func aFailingCommandFailsTheIterationWithItsLastLinesOnceAndTheTrainerMovesOn() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await trainingScenario("boom", in: database)
            let buffer = scenario.buffer
            let path = try script(
                """
                echo "reading $OPTUNE_EXPORT_PATH"
                echo "CUDA out of memory (pretend)" >&2
                exit 3
                """)
            let trainer = TrainerService(
                databaseURL: database.url, command: CommandTrainerSettings(argv: [path, "{t}"], workDirectory: temporaryFolder()),
                settings: quickSettings(), logger: Logger(label: "test.train"))
            #expect(try await trainer.trainNext(buffer: buffer, cache: RunCache()))
            let row = try await buffer.connection.query(
                "SELECT state, failure_reason FROM optune.iterations WHERE run_id = $1", [scenario.run])[0]
            #expect(try row.decode(0, as: String.self) == "failed")
            let reason = try row.decode(1, as: String.self)
            #expect(reason.contains("run boom t=0"))
            #expect(reason.contains("exited 3"))
            #expect(reason.contains("CUDA out of memory (pretend)"))
            #expect(reason.contains("\(path) 0"))
            // Recorded once: nothing left to take, so no loop.
            #expect(try await trainer.trainNext(buffer: buffer, cache: RunCache()) == false)
            #expect(try await Probe.count("SELECT count(*) FROM optune.training_runs", on: buffer.connection) == 0)
        }
    }

    @Test func aLeaseIsExclusiveUntilItExpiresAndALostLeaseCannotRegister() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await trainingScenario("fence", in: database)
            let buffer = scenario.buffer
            let first = try #require(try await buffer.acquireTrainingLease(run: scenario.run, t: 0, holder: "a", seconds: 30))
            #expect(try await buffer.acquireTrainingLease(run: scenario.run, t: 0, holder: "b", seconds: 30) == nil)
            #expect(try await buffer.trainingCandidates().isEmpty)
            // The holder stops heartbeating: its lease runs out (made to run out now, not slept through).
            try await buffer.connection.execute("UPDATE optune.training_leases SET expires_at = clock_timestamp() - interval '1 second'")
            let second = try #require(try await buffer.acquireTrainingLease(run: scenario.run, t: 0, holder: "b", seconds: 30))
            #expect(second.token > first.token)
            #expect(try await buffer.extendTrainingLease(first, seconds: 30) == false)
            await #expect(throws: TrainingLeaseLost.self) {
                _ = try await buffer.storeTrainingResult(
                    run: scenario.run, t: 0, policyIn: scenario.policy, weightsBlob: nil, uri: "late", configJSON: "{}", loss: .wdpo,
                    beta1: 2, beta2: 5, optimizerJSON: "{}", pairsUsed: 0, skippedZeroGap: 0, lossCurve: [], seconds: 0, fence: first)
            }
            await #expect(throws: TrainingLeaseLost.self) { try await buffer.failTraining(first, reason: "late") }
            let stored = try await buffer.storeTrainingResult(
                run: scenario.run, t: 0, policyIn: scenario.policy, weightsBlob: nil, uri: "current", configJSON: "{}", loss: .wdpo,
                beta1: 2, beta2: 5, optimizerJSON: "{}", pairsUsed: 0, skippedZeroGap: 0, lossCurve: [], seconds: 0, fence: second)
            #expect(stored != nil)
            #expect(try await Probe.count("SELECT takeovers FROM optune.training_leases", on: buffer.connection) == 1)
        }
    }

    @Test func aStoppedTrainersIterationIsTakenOverAfterItsLeaseExpires() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await trainingScenario("stop", in: database)
            let connection = scenario.buffer.connection
            let work = temporaryFolder()
            // The first attempt trains slowly (so it is surely stopped mid-training, even on a
            // loaded machine); the one that takes over is quick.
            let mark = work + "/first-attempt"
            let path = try script(
                """
                if [ ! -e "\(mark)" ]; then touch "\(mark)"; sleep 120; fi
                echo "weights of $OPTUNE_RUN t=$OPTUNE_T" > "$OPTUNE_OUTPUT_DIR/model.bin"
                """)
            let arguments = [
                "train", "--backend", "command", "--lease-seconds", "2", "--poll-milliseconds", "100", "--work-dir", work, "--", path,
            ]
            let first = try OptuneProcess(arguments, databaseURL: database.url)
            let leased = try await Probe.eventually(timeout: .seconds(60)) {
                try await Probe.count(
                    "SELECT count(*) FROM optune.training_leases WHERE holder LIKE $1", ["%-\(first.pid)-%"], on: connection) == 1
            }
            #expect(leased, "\(first.output)")
            first.send(SIGSTOP)
            let second = try OptuneProcess(arguments, databaseURL: database.url)
            let trained = try await Probe.eventually(timeout: .seconds(60)) {
                try await Probe.count("SELECT count(*) FROM optune.training_runs WHERE run_id = $1", [scenario.run], on: connection) == 1
            }
            #expect(trained, "\(second.output)")
            let row = try await connection.query(
                "SELECT tr.trainer->>'trained_by', l.holder, l.takeovers, p.uri FROM optune.training_runs tr JOIN optune.training_leases l USING (run_id, t) JOIN optune.policies p ON p.id = tr.policy_out"
            )[0]
            #expect(try row.decode(0, as: String.self).contains("-\(second.pid)-"))
            #expect(try row.decode(1, as: String.self).contains("-\(second.pid)-"))
            #expect(try row.decode(2, as: Int.self) == 1)
            #expect(try row.decode(3, as: String.self) == "stop-pi1")

            // The stopped trainer wakes up, finds its lease gone and registers nothing.
            first.send(SIGCONT)
            let noticed = try await Probe.eventually(timeout: .seconds(30)) { first.output.contains("was lost") }
            #expect(noticed, "\(first.output)")
            #expect(try await Probe.count("SELECT count(*) FROM optune.training_runs", on: connection) == 1)
            #expect(try await Probe.count("SELECT count(*) FROM optune.policies WHERE t = 1", on: connection) == 1)
            for process in [first, second] { process.send(SIGTERM) }
            #expect(await first.waitForExit(timeout: .seconds(30)) == 0)
            #expect(await second.waitForExit(timeout: .seconds(30)) == 0)
        }
    }

    @Test func sigtermReachesTheRunningCommandAndTheLeaseIsReturned() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await trainingScenario("term", in: database)
            let connection = scenario.buffer.connection
            let marker = temporaryFolder()
            let path = try script(
                """
                trap 'echo "got TERM" > "$1"; exit 143' TERM
                echo "the command is running"
                sleep 60 &
                wait
                """)
            let trainer = try OptuneProcess(
                ["train", "--backend", "command", "--lease-seconds", "60", "--work-dir", temporaryFolder(), "--", path, marker],
                databaseURL: database.url)
            let running = try await Probe.eventually(timeout: .seconds(60)) { trainer.output.contains("the command is running") }
            #expect(running, "\(trainer.output)")
            trainer.send(SIGTERM)
            #expect(await trainer.waitForExit(timeout: .seconds(20)) == 0, "\(trainer.output)")
            #expect((try? String(contentsOfFile: marker, encoding: .utf8)) == "got TERM\n", "\(trainer.output)")
            // Interrupted, not failed: the iteration waits for the next trainer, which may start at once.
            #expect(try await Probe.count("SELECT count(*) FROM optune.iterations WHERE state = 'training'", on: connection) == 1)
            #expect(try await Probe.count("SELECT count(*) FROM optune.training_leases WHERE expires_at <= now()", on: connection) == 1)
            #expect(try await scenario.buffer.trainingCandidates().count == 1)
        }
    }

    @Test func aCorruptBlobFailsItsIterationNamingTheResponseAndTheTrainerFinishesAnotherRun() async throws {
        try await TestDatabase.withFresh { database in
            try await createRun("corrupt", in: database, iterations: 1, train: 30, eval: 10)
            try await createRun("healthy", in: database, iterations: 1, train: 30, eval: 10)
            let connection = try await database.connect()
            let daemons = try [["coordinate", "--run", "corrupt"], ["coordinate", "--run", "healthy"], ["generate"], ["score"]].map {
                try OptuneProcess(
                    $0 + ["--log-level", "warning"] + ($0[0] == "coordinate" ? [] : ["--poll-milliseconds", "100"]),
                    databaseURL: database.url)
            }
            let waiting = try await Probe.eventually(timeout: .seconds(120)) {
                try await Probe.count("SELECT count(*) FROM optune.iterations WHERE t = 0 AND state = 'training'", on: connection) == 2
            }
            #expect(waiting)
            // Corrupt the chosen response of one pair of D_0 of run "corrupt".
            let response = try await connection.query(
                """
                SELECT c.id FROM optune.pairs p JOIN optune.runs r ON r.id = p.run_id AND r.name = 'corrupt'
                JOIN optune.responses c ON (c.run_id, c.t, c.prompt_id, c.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.chosen_sample)
                ORDER BY p.prompt_id LIMIT 1
                """)[0].decode(0, as: Int64.self)
            try await connection.execute(
                #"UPDATE optune.responses SET tokens = substring(tokens FROM 1 FOR 8) || '\xffffffffffffffffffff'::bytea WHERE id = $1"#,
                [response])

            let trainer = try OptuneProcess(["train", "--poll-milliseconds", "100"], databaseURL: database.url)
            let finished = try await Probe.eventually(timeout: .seconds(120)) {
                try await Probe.count("SELECT count(*) FROM optune.runs WHERE name = 'healthy' AND status = 'done'", on: connection) == 1
            }
            #expect(finished, "\(trainer.output)")
            let failed = try await connection.query(
                "SELECT i.state, i.failure_reason, r.status FROM optune.iterations i JOIN optune.runs r ON r.id = i.run_id WHERE r.name = 'corrupt' AND i.t = 0"
            )[0]
            #expect(try failed.decode(0, as: String.self) == "failed")
            let reason = try failed.decode(1, as: String?.self) ?? ""
            #expect(reason.contains("response \(response)"), "\(reason)")
            #expect(reason.contains("run corrupt t=0"), "\(reason)")
            // The trainer is still up, and did not take the failed iteration again.
            #expect(await trainer.waitForExit(timeout: .milliseconds(500)) == nil)
            #expect(
                try await Probe.count(
                    "SELECT count(*) FROM optune.training_leases l JOIN optune.runs r ON r.id = l.run_id WHERE r.name = 'corrupt'",
                    on: connection) == 1)
            trainer.send(SIGTERM)
            for daemon in daemons { daemon.send(SIGTERM) }
            #expect(await trainer.waitForExit(timeout: .seconds(30)) == 0)
            for daemon in daemons { _ = await daemon.waitForExit(timeout: .seconds(30)) }
            await connection.close()
        }
    }

    @Test func theCheckpointDigestFollowsItsDocumentedFormatAndIgnoresWriteOrder() async throws {
        let files: [(String, String)] = [
            ("model.safetensors", "weights ✓"), ("config.json", #"{"a": 1}"#), ("tokenizer/vocab.txt", "a\nb\n"),
        ]
        var digests: [String] = []
        for order in [files, files.reversed()] {
            let folder = temporaryFolder()
            for (name, content) in order {
                let url = URL(fileURLWithPath: folder).appendingPathComponent(name)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try content.write(to: url, atomically: true, encoding: .utf8)
            }
            let digest = try CheckpointDigest.digest(of: folder)
            #expect(digest.files == 3)
            digests.append(digest.sha256)
        }
        #expect(digests[0] == digests[1])
        // The same stream hashed by sha256sum: path NUL size(8 bytes big-endian) content, by path.
        var stream = Data()
        for (name, content) in files.sorted(by: { $0.0 < $1.0 }) {
            let bytes = Data(content.utf8)
            stream.append(Data(name.utf8) + [0])
            stream.append(contentsOf: (0..<8).map { UInt8(truncatingIfNeeded: UInt64(bytes.count) >> (56 - 8 * UInt64($0))) })
            stream.append(bytes)
        }
        let streamPath = temporaryFolder()
        try stream.write(to: URL(fileURLWithPath: streamPath))
        let sum = Process()
        sum.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sum.arguments = ["sha256sum", streamPath]
        let pipe = Pipe()
        sum.standardOutput = pipe
        try sum.run()
        sum.waitUntilExit()
        let expected = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ").first.map(
            String.init)
        #expect(digests[0] == expected)
        #expect(throws: CheckpointDigest.Failure.self) { try CheckpointDigest.digest(of: temporaryFolder()) }
    }

    @Test func placeholdersAreReplacedOnceAndOtherBracesKept() {
        let values = ["run": "r{t}", "t": "2", "next_t": "3"]
        #expect(CommandTrainer.expand("{run}-pi{next_t}", values) == "r{t}-pi3")
        #expect(CommandTrainer.expand(#"{"json": {t}} {unknown} {"#, values) == #"{"json": 2} {unknown} {"#)
        #expect(CommandTrainer.pathComponent("../a b/ü") == "_._a_b__")
        for name in CommandTrainer.placeholders { #expect(CommandTrainer.environmentNames[name]?.hasPrefix("OPTUNE_") == true) }
    }
}
