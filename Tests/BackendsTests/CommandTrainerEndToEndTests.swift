import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

@testable import Backends
@testable import Daemons

/// Issue 10's done-when: an external-model run driven hands-off by `optune coordinate`,
/// `optune generate --backend openai`, `optune score --backend http` and `optune train --backend
/// command`, against the fake OpenAI-compatible server.
@Suite("External models trained by a command, end to end")
struct CommandTrainerEndToEndTests {
    /// The training command: checks what it is given, then writes a fake checkpoint.
    static let trainScript = """
        #!/bin/sh
        export_path="$1"; policy_uri="$2"; output="$3"
        test -s "$export_path" || { echo "export $export_path is missing or empty" >&2; exit 10; }
        test "$export_path" = "$OPTUNE_EXPORT_PATH" || { echo "{export} and OPTUNE_EXPORT_PATH disagree" >&2; exit 11; }
        if [ "$OPTUNE_T" = 0 ]; then expected=test://pi0; else expected="$OPTUNE_RUN-pi$OPTUNE_T"; fi
        test "$policy_uri" = "$expected" || { echo "π_t is $policy_uri, expected $expected" >&2; exit 12; }
        test "$OPTUNE_POLICY_URI" = "$expected" || { echo "OPTUNE_POLICY_URI is $OPTUNE_POLICY_URI" >&2; exit 13; }
        if [ "$OPTUNE_T" != 0 ]; then
            test -f "$OPTUNE_POLICY_PATH/adapter.bin" || { echo "no checkpoint at OPTUNE_POLICY_PATH=$OPTUNE_POLICY_PATH" >&2; exit 14; }
        fi
        test -z "$OPTUNE_DATABASE_URL" || { echo "the database URL was passed on" >&2; exit 15; }
        test "$OPTUNE_NEXT_T" = $((OPTUNE_T + 1)) || exit 16
        echo "training $OPTUNE_RUN t=$OPTUNE_T on $(wc -l < "$export_path") pairs: $OPTUNE_LOSS beta1=$OPTUNE_BETA1 beta2=$OPTUNE_BETA2 lr=$OPTUNE_LEARNING_RATE seed=$OPTUNE_SEED"
        mkdir -p "$output/sub"
        printf 'weights %s %s\\n' "$OPTUNE_T" "$OPTUNE_SEED" > "$output/adapter.bin"
        echo '{"r": 8}' > "$output/sub/config.json"
        """

    /// The publish command: waits a second (a generator that sampled early would be caught),
    /// then makes the fake server list the new model, logging when it finished.
    static let publishScript = """
        import json, sys, time, urllib.request
        control, uri, log = sys.argv[1:4]
        time.sleep(1.0)
        models = json.load(urllib.request.urlopen(control))["models"]
        request = urllib.request.Request(control, data=json.dumps({"models": models + [uri]}).encode(), method="POST")
        urllib.request.urlopen(request).read()
        with open(log, "a") as f:
            f.write(f"{uri} {time.time()}\\n")
        """

    @Test func threeIterationsRunHandsOffWithTheCommandTrainer() async throws {
        try await withFakeServer { server in
            try await TestDatabase.withFresh { database in
                let folder = FileManager.default.temporaryDirectory.appendingPathComponent("optune-e2e-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                let prompts = folder.appendingPathComponent("prompts.jsonl")
                let lines =
                    (0..<8).map { #"{"prompt": "question \#($0)"}"# } + (0..<4).map { #"{"prompt": "held out \#($0)", "split": "eval"}"# }
                try lines.joined(separator: "\n").write(to: prompts, atomically: true, encoding: .utf8)
                let train = folder.appendingPathComponent("train.sh").path
                try Self.trainScript.write(toFile: train, atomically: true, encoding: .utf8)
                let publish = folder.appendingPathComponent("publish.py").path
                try Self.publishScript.write(toFile: publish, atomically: true, encoding: .utf8)
                let publishLog = folder.appendingPathComponent("published.log").path
                let work = folder.appendingPathComponent("work").path

                for arguments in [
                    ["prompts", "import", prompts.path, "--set", "e2e"],
                    [
                        "run", "--create-only", "--name", "ext", "--prompt-set", "e2e", "--base-uri", "test://pi0", "--iterations", "3",
                        "--rho", "0.5",
                    ],
                ] {
                    let (code, output) = try await OptuneProcess.run(arguments, databaseURL: database.url)
                    #expect(code == 0, "\(arguments): \(output)")
                }
                let worker = ["--log-level", "info", "--poll-milliseconds", "100"]
                let daemons = try [
                    ["coordinate", "--run", "ext", "--log-level", "warning"],
                    ["generate", "--backend", "openai", "--base-url", "http://127.0.0.1:\(server.servicePort)", "--probe-seconds", "0.2"]
                        + worker,
                    ["score", "--backend", "http", "--url", "http://127.0.0.1:\(server.port)/reward"] + worker,
                    [
                        "train", "--backend", "command", "--work-dir", work,
                        "--publish-command", "python3 \(publish) http://127.0.0.1:\(server.port)/control {next_policy_uri} \(publishLog)",
                    ]
                        + worker + ["--", "/bin/sh", train, "{export}", "{policy_uri}", "{output_dir}"],
                ].map { try OptuneProcess($0, databaseURL: database.url) }
                let connection = try await database.connect()
                let done = try await eventually(timeout: .seconds(240)) {
                    try await count("SELECT count(*) FROM optune.runs WHERE name = 'ext' AND status IN ('done', 'failed')", on: connection)
                        == 1
                }
                let outputs = daemons.map(\.output).joined(separator: "\n----\n")
                #expect(done, "\(outputs)")
                let status = try await connection.query("SELECT status, coalesce(status_reason, '') FROM optune.runs WHERE name = 'ext'")[0]
                let reason = try status.decode(1, as: String.self)
                #expect(try status.decode(0, as: String.self) == "done", "\(reason)\n\(outputs)")

                // π_1, π_2, π_3: registered with the URI template, their checkpoint's sha256, and the command recorded.
                let rows = try await connection.query(
                    """
                    SELECT p.t, p.uri, p.sha256, p.config->>'path', tr.trainer::text, tr.pairs_used, tr.policy_in = i.policy_id
                    FROM optune.training_runs tr JOIN optune.policies p ON p.id = tr.policy_out
                    JOIN optune.iterations i ON (i.run_id, i.t) = (tr.run_id, tr.t)
                    ORDER BY p.t
                    """)
                #expect(rows.count == 3)
                for (index, row) in rows.enumerated() {
                    let next = index + 1
                    #expect(try row.decode(0, as: Int.self) == next)
                    #expect(try row.decode(1, as: String.self) == "ext-pi\(next)")
                    let path = try row.decode(3, as: String.self)
                    let digest = try CheckpointDigest.digest(of: path)
                    #expect(digest.files == 2)
                    #expect(try row.decode(2, as: String?.self) == digest.sha256)
                    #expect(try String(contentsOfFile: path + "/adapter.bin", encoding: .utf8).hasPrefix("weights \(index) "))
                    #expect(try row.decode(6, as: Bool.self))
                    let trainer = try #require(JSONValue.parse(Data(try row.decode(4, as: String.self).utf8)))
                    #expect(trainer["kind"]?.stringValue == "command")
                    #expect(trainer["exit_code"]?.numberValue == 0)
                    #expect(trainer["checkpoint_sha256"]?.stringValue == digest.sha256)
                    #expect(trainer["output_dir"]?.stringValue == path)
                    #expect((trainer["duration_s"]?.numberValue ?? -1) >= 0)
                    let argv = trainer["argv"]?.arrayValue?.compactMap(\.stringValue) ?? []
                    #expect(argv.count == 5)
                    #expect(argv.first == "/bin/sh")
                    #expect(argv.dropFirst().first == train)
                    #expect(argv.dropFirst(2).first?.hasSuffix("/D\(index).trl.jsonl") == true)
                    #expect(argv.dropFirst(3).first == (index == 0 ? "test://pi0" : "ext-pi\(index)"))
                    #expect(argv.last == path)
                    #expect(trainer["publish"]?["exit_code"]?.numberValue == 0)
                    #expect(trainer["publish"]?["argv"]?.arrayValue?.compactMap(\.stringValue).contains("ext-pi\(next)") == true)
                    #expect(trainer["export"]?["rows"]?.numberValue == Double(try row.decode(5, as: Int.self)))
                }
                #expect(try await count("SELECT count(*) FROM optune.exports", on: connection) == 3)

                // The generators sampled π_{t+1} only after its publish step had finished.
                let published = try String(contentsOfFile: publishLog, encoding: .utf8).split(separator: "\n").map {
                    $0.split(separator: " ")
                }
                #expect(published.map { String($0[0]) } == ["ext-pi1", "ext-pi2", "ext-pi3"])
                for entry in published {
                    let uri = String(entry[0])
                    let finished = try #require(Double(entry[1]))
                    let firstSample = try await connection.query(
                        """
                        SELECT extract(epoch FROM min(r.created_at))::float8 FROM optune.responses r
                        JOIN optune.policies p ON p.id = r.policy_id WHERE p.uri = $1
                        """, [uri])[0].decode(0, as: Double?.self)
                    let sampled = try #require(firstSample)
                    #expect(sampled > finished, "\(uri) was sampled at \(sampled), published at \(finished)")
                }
                // And the server saw requests for every published model.
                let models = Set(try await server.requests().compactMap { $0["model"]?.stringValue })
                #expect(models.isSuperset(of: ["ext-pi3"]))

                for daemon in daemons { daemon.send(SIGTERM) }
                for daemon in daemons { #expect(await daemon.waitForExit(timeout: .seconds(30)) == 0) }
                await connection.close()
            }
        }
    }
}
