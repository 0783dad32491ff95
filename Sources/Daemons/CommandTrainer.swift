import Buffer
import Export
import Foundation
import Logging

/// Settings of `optune train --backend command`: a user's command trains π_t → π_{t+1} of
/// iterations whose π_t is an external model.
///
/// The command (an argv, run without a shell) and the publish command get the placeholders of
/// ``CommandTrainer/placeholders`` substituted in every argument, and the same values in
/// `OPTUNE_*` environment variables (see ``CommandTrainer/environmentNames``).
public struct CommandTrainerSettings: Sendable {
    /// The training command: argv[0] (a path, or a name looked up on PATH) and its arguments.
    public var argv: [String]
    /// Where each iteration gets a folder with D_t and the output folder.
    public var workDirectory: String
    /// The export format of D_t.
    public var exportFormat: ExportFormat = .trl
    /// π_{t+1}'s URI (the model name generators send), from the placeholders.
    public var policyURITemplate = "{run}-pi{next_t}"
    /// Run after the command succeeded and before π_{t+1} is registered (so before any
    /// generator can sample it): e.g. load the checkpoint into the generation servers.
    public var publishArgv: [String]?
    /// After SIGTERM, how long a command may take to exit before it gets SIGKILL.
    public var killAfter: Duration = .seconds(30)
    /// The commands' environment, before the `OPTUNE_*` variables are added;
    /// `OPTUNE_DATABASE_URL` is never passed on.
    public var environment: [String: String] = ProcessInfo.processInfo.environment

    public init(argv: [String], workDirectory: String) {
        self.argv = argv
        self.workDirectory = workDirectory
    }
}

/// A π_{t+1} ready to register, with how it was made.
struct TrainedPolicy: Sendable {
    var weightsBlob: [UInt8]?
    var uri: String?
    var sha256: String?
    var policyConfigJSON: String
    var optimizerJSON: String
    var trainerJSON: String
    var pairsUsed: Int
    var skippedZeroGap: Int
    var lossCurve: [Double]
    var seconds: Double
}

/// A command trainer's failure that retrying cannot fix: the iteration is marked failed with it.
struct CommandTrainingFailure: Error, CustomStringConvertible {
    var description: String
}

/// Trains one iteration with the user's command: exports D_t, runs the command, digests the
/// checkpoint it wrote, runs the publish command.
struct CommandTrainer {
    let settings: CommandTrainerSettings
    let worker: String
    let leaseSeconds: Double
    let logger: Logger

    /// Placeholders substituted in the argv of the command, the publish command and the URI
    /// template. `{next_policy_uri}` is not available to the URI template; `{checkpoint_sha256}`
    /// only to the publish command.
    static let placeholders = [
        "export", "export_format", "policy_uri", "policy_path", "output_dir", "work_dir", "run", "run_id", "t", "next_t",
        "loss", "beta1", "beta2", "learning_rate", "epochs", "seed", "next_policy_uri", "checkpoint_sha256",
    ]

    /// The environment variable carrying each placeholder's value.
    static let environmentNames: [String: String] = [
        "export": "OPTUNE_EXPORT_PATH", "export_format": "OPTUNE_EXPORT_FORMAT", "policy_uri": "OPTUNE_POLICY_URI",
        "policy_path": "OPTUNE_POLICY_PATH", "output_dir": "OPTUNE_OUTPUT_DIR", "work_dir": "OPTUNE_WORK_DIR", "run": "OPTUNE_RUN",
        "run_id": "OPTUNE_RUN_ID", "t": "OPTUNE_T", "next_t": "OPTUNE_NEXT_T", "loss": "OPTUNE_LOSS", "beta1": "OPTUNE_BETA1",
        "beta2": "OPTUNE_BETA2", "learning_rate": "OPTUNE_LEARNING_RATE", "epochs": "OPTUNE_EPOCHS", "seed": "OPTUNE_SEED",
        "next_policy_uri": "OPTUNE_NEXT_POLICY_URI", "checkpoint_sha256": "OPTUNE_CHECKPOINT_SHA256",
    ]

    /// `template` with every `{name}` of `values` replaced by its value, in one pass (a value
    /// is never expanded again). Braces around other text are left as they are.
    static func expand(_ template: String, _ values: [String: String]) -> String {
        var result = ""
        var index = template.startIndex
        while index < template.endIndex {
            if template[index] == "{", let close = template[index...].firstIndex(of: "}"),
                let value = values[String(template[template.index(after: index)..<close])]
            {
                result += value
                index = template.index(after: close)
            } else {
                result.append(template[index])
                index = template.index(after: index)
            }
        }
        return result
    }

    /// A run name made safe as one path component.
    static func pathComponent(_ name: String) -> String {
        let safe = String(
            name.unicodeScalars.map { scalar in
                CharacterSet.alphanumerics.contains(scalar) && scalar.isASCII || "-_.".unicodeScalars.contains(scalar)
                    ? Character(scalar) : "_"
            })
        return safe.hasPrefix(".") ? "_" + safe.dropFirst() : safe
    }

    /// Exports D_t, runs the command, digests its checkpoint and publishes it. Throws
    /// ``CommandTrainingFailure`` when the command or the publish command fails,
    /// `CancellationError` when cancelled (the command got SIGTERM).
    func train(_ iteration: IterationRecord, lease: TrainingLease, run: RunRecord, buffer: ReplayBuffer) async throws -> TrainedPolicy {
        let started = ContinuousClock.now
        let config = run.config
        let policy = try await buffer.policy(iteration.policy)
        guard let policyURI = policy.uri else {
            throw CommandTrainingFailure(
                description: "π_\(iteration.t) (policy \(policy.id)) has built-in weights; the command trainer trains external models only")
        }
        let policyPath = try await buffer.policyCheckpointPath(iteration.policy) ?? policyURI

        let folder = URL(fileURLWithPath: settings.workDirectory)
            .appendingPathComponent("run\(run.id)-\(Self.pathComponent(run.name))")
            .appendingPathComponent("t\(iteration.t)-lease\(lease.token)")
        let output = folder.appendingPathComponent("pi\(iteration.t + 1)")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let exportPath = folder.appendingPathComponent("D\(iteration.t).\(settings.exportFormat.rawValue).jsonl").path

        var values: [String: String] = [
            "export": exportPath, "export_format": settings.exportFormat.rawValue, "policy_uri": policyURI, "policy_path": policyPath,
            "output_dir": output.path, "work_dir": folder.path, "run": run.name, "run_id": "\(run.id)", "t": "\(iteration.t)",
            "next_t": "\(iteration.t + 1)", "loss": config.loss.rawValue, "beta1": "\(config.beta1)", "beta2": "\(config.beta2)",
            "learning_rate": "\(config.learningRate)", "epochs": "\(config.epochs)",
            "seed": "\(Int64(bitPattern: UInt64(bitPattern: config.seed) &+ UInt64(iteration.t)))",
        ]
        let nextURI = Self.expand(settings.policyURITemplate, values)
        guard !nextURI.isEmpty else { throw CommandTrainingFailure(description: "the policy URI template gave an empty URI") }
        values["next_policy_uri"] = nextURI

        // D_t, through the export library (recorded in optune.exports like any export).
        let export = try await Exporter(format: settings.exportFormat).export(
            buffer: buffer, run: iteration.run, t: iteration.t, path: exportPath)
        logger.info("exported D_t", metadata: ["rows": "\(export.rows)", "path": "\(exportPath)", "sha256": "\(export.sha256)"])

        let argv = settings.argv.map { Self.expand($0, values) }
        let outcome = try await runChild(argv, values: values, what: "training command")
        guard outcome.exitCode == 0 else {
            throw CommandTrainingFailure(description: Self.failureText("training command", argv: argv, outcome: outcome))
        }
        let checkpoint: (sha256: String, files: Int)
        do {
            checkpoint = try CheckpointDigest.digest(of: output.path)
        } catch {
            throw CommandTrainingFailure(
                description: "the training command exited 0 but left no usable checkpoint in \(output.path): \(error)")
        }
        values["checkpoint_sha256"] = checkpoint.sha256
        logger.info(
            "checkpoint written", metadata: ["files": "\(checkpoint.files)", "sha256": "\(checkpoint.sha256)", "uri": "\(nextURI)"])

        var publishRecord = "null"
        if let publish = settings.publishArgv {
            // A trainer whose lease was taken over must not publish over its successor's checkpoint.
            guard try await buffer.extendTrainingLease(lease, seconds: leaseSeconds) else { throw TrainingLeaseLost(lease: lease) }
            let publishArgv = publish.map { Self.expand($0, values) }
            let published = try await runChild(publishArgv, values: values, what: "publish command")
            guard published.exitCode == 0 else {
                throw CommandTrainingFailure(description: Self.failureText("publish command", argv: publishArgv, outcome: published))
            }
            publishRecord = #"{"argv": \#(Self.jsonArray(publishArgv)), "exit_code": 0, "duration_s": \#(published.seconds)}"#
        }

        let seconds = (ContinuousClock.now - started).seconds
        let trainer = """
            {"kind": "command", "trained_by": \(JSONText.quoted(worker)), "lease_token": \(lease.token), \
            "argv": \(Self.jsonArray(argv)), "exit_code": \(outcome.exitCode), "duration_s": \(outcome.seconds), \
            "output_dir": \(JSONText.quoted(output.path)), "checkpoint_sha256": "\(checkpoint.sha256)", "checkpoint_files": \(checkpoint.files), \
            "export": {"path": \(JSONText.quoted(exportPath)), "format": "\(settings.exportFormat.rawValue)", "rows": \(export.rows), \
            "sha256": "\(export.sha256)", "export_id": \(export.exportID)}, "publish": \(publishRecord)}
            """
        return TrainedPolicy(
            weightsBlob: nil, uri: nextURI, sha256: checkpoint.sha256,
            policyConfigJSON: #"{"kind": "command", "path": \#(JSONText.quoted(output.path))}"#,
            optimizerJSON: #"{"external": true, "learning_rate": \#(config.learningRate), "epochs": \#(config.epochs)}"#,
            trainerJSON: trainer, pairsUsed: export.rows, skippedZeroGap: 0, lossCurve: [], seconds: seconds)
    }

    /// Runs one command with the placeholders' environment; `CancellationError` if the task
    /// was cancelled meanwhile (the child got SIGTERM).
    private func runChild(_ argv: [String], values: [String: String], what: String) async throws -> ChildOutcome {
        try Task.checkCancellation()
        var environment = settings.environment
        environment["OPTUNE_DATABASE_URL"] = nil
        for (key, value) in values {
            if let name = Self.environmentNames[key] { environment[name] = value }
        }
        logger.info("running \(what)", metadata: ["argv": "\(argv)"])
        var child = ChildProcess(argv: argv, environment: environment, logger: logger)
        child.killAfter = settings.killAfter
        let outcome: ChildOutcome
        do {
            outcome = try await child.run()
        } catch let error as ChildProcessError {
            throw CommandTrainingFailure(description: "\(what) \(argv.first ?? ""): \(error.description)")
        }
        try Task.checkCancellation()
        logger.info(
            "\(what) exited", metadata: ["exit_code": "\(outcome.exitCode)", "seconds": "\(String(format: "%.1f", outcome.seconds))"])
        return outcome
    }

    static func failureText(_ what: String, argv: [String], outcome: ChildOutcome) -> String {
        let how = outcome.signalled ? "was killed by signal \(outcome.exitCode - 128)" : "exited \(outcome.exitCode)"
        let tail = outcome.lastLines.suffix(10).joined(separator: "\n")
        return "\(what) \(how) after \(String(format: "%.1f", outcome.seconds)) s: \(argv.joined(separator: " "))"
            + (tail.isEmpty ? " (no output)" : "; last lines:\n\(tail)")
    }

    static func jsonArray(_ items: [String]) -> String {
        "[" + items.map { JSONText.quoted($0) }.joined(separator: ", ") + "]"
    }
}
