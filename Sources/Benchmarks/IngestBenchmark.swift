import Buffer
import Foundation
import Postgres
import Synchronization
import TokenCodec

/// Measures response ingest through the buffer API into the real schema (every constraint and
/// index in place), beside two baselines: a raw binary COPY of the same rows into an unindexed
/// scratch table (the practical ceiling; it and the one writer alternate batch by batch) and the
/// naive path a script would take (one autocommitted INSERT per response, tokens as `int4[]`).
/// Then reads an iteration back.
/// (Selection and export have sections of their own, on fixtures of any size.)
///
/// It runs in a database of its own, which the caller creates and drops.
public struct IngestBenchmark: Sendable {
    /// Responses per measurement (two samples per prompt).
    public var responses = 200_000
    /// Responses for the naive baseline (slow: one round trip and commit each).
    public var naiveResponses = 10_000
    /// Responses per submitted batch.
    public var batchSize = 5_000
    /// Token rows to cycle through (the BPE fixture).
    public var tokenRows: [[UInt32]]

    public init(tokenRows: [[UInt32]]) {
        self.tokenRows = tokenRows
    }

    public func run(
        into report: inout BenchmarkReport, databaseURL: String, progress: @Sendable (String) -> Void
    ) async throws {
        let blobs = tokenRows.map { TokenCodec.encode($0) }
        let tokensPerResponse = Double(tokenRows.reduce(0) { $0 + $1.count }) / Double(tokenRows.count)
        let connection = try await Connection.connect(to: databaseURL, applicationName: "optune-bench")
        let buffer = ReplayBuffer(connection: connection)
        try await Migrator(connection: connection).migrate()

        progress("setting up \(responses / 2) prompts, a run and its generation tasks")
        let fixture = try await IngestFixture.create(buffer: buffer, prompts: responses / 2)

        func batches(t: Int, prompts: ArraySlice<Int64>) -> [[NewResponse]] {
            var all: [[NewResponse]] = []
            var batch: [NewResponse] = []
            batch.reserveCapacity(batchSize)
            for prompt in prompts {
                for sample in 0..<2 {
                    let blob = blobs[Int(prompt &* 2 &+ Int64(sample)) % blobs.count]
                    var response = NewResponse(
                        run: fixture.run, t: t, prompt: prompt, sampleIndex: sample, policy: fixture.policies[t],
                        tokenBlob: blob, tokenCount: Int(tokensPerResponse), finishReason: "length", seed: prompt)
                    // The chunk the prompt was leased with, as a generator's submission names it.
                    response.chunk = fixture.chunks[t][prompt]
                    batch.append(response)
                    if batch.count == batchSize {
                        all.append(batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                }
            }
            if !batch.isEmpty { all.append(batch) }
            return all
        }

        // Raw COPY ceiling: the same rows, same columns, no index, no constraint. It and the one
        // writer take turns batch by batch, so a checkpoint, autovacuum or a busy disk during
        // the run weighs on both sides of the ratio alike.
        progress("raw binary COPY ceiling and buffer API, one writer (batch by batch in turn)")
        let rawBatches = batches(t: 0, prompts: fixture.prompts[...])
        try await connection.execute(
            """
            CREATE TABLE bench_raw_copy (run_id bigint, t integer, prompt_id bigint, sample_index integer, purpose text,
                policy_id bigint, n_tokens integer, tokens bytea, finish_reason text, sampling jsonb, seed bigint)
            """)
        try await connection.execute("ALTER TABLE bench_raw_copy ALTER COLUMN tokens SET STORAGE EXTERNAL")
        var rawSeconds = 0.0
        var oneWriterSeconds = 0.0
        for batch in rawBatches {
            rawSeconds += try await measure {
                _ = try await connection.transaction { c in
                    try c.copyFromBinary(
                        """
                        COPY bench_raw_copy (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens,
                            finish_reason, sampling, seed) FROM STDIN (FORMAT binary)
                        """
                    ) { writer in
                        for response in batch {
                            try writer.beginRow(fieldCount: 11)
                            writer.write(response.run)
                            writer.write(Int32(response.t))
                            writer.write(response.prompt)
                            writer.write(Int32(response.sampleIndex))
                            writer.write(response.purpose.rawValue)
                            writer.write(response.policy)
                            writer.write(Int32(response.tokenCount))
                            writer.write(bytes: response.tokenBlob ?? [])
                            writer.write(response.finishReason)
                            writer.write(JSONB(response.samplingJSON))
                            writer.write(response.seed)
                        }
                    }
                }
            }
            // The same batch through the buffer API, into iteration 0.
            oneWriterSeconds += try await measure { try await buffer.insertResponses(batch) }
        }
        let rawRate = Double(responses) / rawSeconds
        try await connection.execute("DROP TABLE bench_raw_copy")
        let oneWriterRate = Double(responses) / oneWriterSeconds

        // Two writers, each with its own connection, into iteration 1.
        progress("buffer API, two concurrent writers")
        let half = fixture.prompts.count / 2
        let writerBatches = [batches(t: 1, prompts: fixture.prompts[..<half]), batches(t: 1, prompts: fixture.prompts[half...])]
        let writers = try await withThrowingTaskGroup(of: ReplayBuffer.self) { group in
            for _ in 0..<2 { group.addTask { try await ReplayBuffer.connect(to: databaseURL, applicationName: "optune-bench") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let twoWriterSeconds = try await measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (writer, work) in zip(writers, writerBatches) {
                    group.addTask { for batch in work { try await writer.insertResponses(batch) } }
                }
                try await group.waitForAll()
            }
        }
        let twoWriterRate = Double(responses) / twoWriterSeconds

        // The naive path: one autocommitted INSERT per response, tokens as int4[].
        let naiveCount = min(naiveResponses, responses)
        progress("naive path: \(naiveCount) single-row INSERTs")
        try await connection.execute(
            """
            CREATE TABLE bench_naive (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id bigint, t integer,
                prompt_id bigint, sample_index integer, policy_id bigint, tokens int4[], finish_reason text, seed bigint,
                UNIQUE (run_id, t, prompt_id, sample_index))
            """)
        let naiveRows = rawBatches.joined().prefix(naiveCount).map { response in
            (response, tokenRows[Int(response.prompt &* 2 &+ Int64(response.sampleIndex)) % tokenRows.count].map { Int32(bitPattern: $0) })
        }
        let naiveSeconds = try await measure {
            for (response, ids) in naiveRows {
                try await connection.execute(
                    """
                    INSERT INTO bench_naive (run_id, t, prompt_id, sample_index, policy_id, tokens, finish_reason, seed)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    """,
                    [
                        response.run, Int32(response.t), response.prompt, Int32(response.sampleIndex), response.policy, ids,
                        response.finishReason, response.seed,
                    ])
            }
        }
        let naiveRate = Double(naiveCount) / naiveSeconds
        try await connection.execute("DROP TABLE bench_naive")

        // Read-back: every token of iteration 0, decoded.
        progress("read-back of iteration 0")
        let decoded = TokenCounter()
        let readSeconds = try await measure {
            try await buffer.forEachResponsePage(run: fixture.run, t: 0) { page in
                for response in page { decoded.add(response.tokens?.count ?? 0) }
            }
        }
        let readRate = Double(decoded.total) / readSeconds

        let section = "ingest \(responses / 1000)k×\(Int(tokensPerResponse))"
        report.add(BenchmarkRow(section: section, name: "raw binary COPY, unindexed (ceiling)", value: rawRate, unit: "responses/s"))
        report.add(
            BenchmarkRow(
                section: section, name: "buffer API, 1 writer", value: oneWriterRate, unit: "responses/s",
                comparison: String(
                    format: "%.0f%% of ceiling · %.1f× naive · %.1fM tokens/s", 100 * oneWriterRate / rawRate,
                    oneWriterRate / naiveRate, oneWriterRate * tokensPerResponse / 1e6)))
        report.add(
            BenchmarkRow(
                section: section, name: "buffer API, 2 writers", value: twoWriterRate, unit: "responses/s",
                comparison: String(
                    format: "%.0f%% of ceiling · %.1f× naive · %.1fM tokens/s", 100 * twoWriterRate / rawRate,
                    twoWriterRate / naiveRate, twoWriterRate * tokensPerResponse / 1e6)))
        report.add(
            BenchmarkRow(
                section: section, name: "naive: INSERT per response, int4[]", value: naiveRate, unit: "responses/s",
                comparison: "\(naiveCount) rows"))
        report.add(
            BenchmarkRow(
                section: "read-back", name: "decode every token of an iteration", value: readRate / 1e6, unit: "M tokens/s",
                comparison: "\(decoded.total) tokens"))
        report.record("ingest_raw_copy_responses_per_s", rawRate)
        report.record("ingest_one_writer_responses_per_s", oneWriterRate)
        report.record("ingest_two_writers_responses_per_s", twoWriterRate)
        report.record("ingest_naive_responses_per_s", naiveRate)
        report.record("ingest_one_writer_vs_ceiling", oneWriterRate / rawRate)
        report.record("ingest_one_writer_vs_naive", oneWriterRate / naiveRate)
        report.record("readback_tokens_per_s", readRate)
    }

    private func measure(_ body: () async throws -> Void) async throws -> Double {
        let started = ContinuousClock.now
        try await body()
        return (ContinuousClock.now - started).seconds
    }
}

/// Counts decoded tokens from the read-back callback.
private final class TokenCounter: Sendable {
    private let count = Mutex<Int>(0)
    func add(_ n: Int) { count.withLock { $0 += n } }
    var total: Int { count.withLock { $0 } }
}

/// The rows ingest needs to satisfy the schema: prompts, a run, π_0, two iterations with tasks.
struct IngestFixture {
    var run: Int64
    var promptSet: Int64
    var rewardModel: Int64
    /// π_t for t = 0, 1.
    var policies: [Int64]
    var prompts: [Int64]
    /// For t = 0, 1: the generation chunk of each prompt.
    var chunks: [[Int64: Int64]]

    static func create(buffer: ReplayBuffer, prompts count: Int) async throws -> IngestFixture {
        let set = try await buffer.promptSet(named: "bench")
        var start = 0
        while start < count {
            let end = min(count, start + 10_000)
            let records = (start..<end).map { PromptRecord(text: "benchmark prompt \($0)") }
            try await buffer.storePrompts(records, inSet: set, defaultSplit: .train, source: "optune bench")
            start = end
        }
        let prompts = try await buffer.promptIDs(inSet: set, split: .train)
        let model = try await buffer.rewardModel(name: "bench", version: "1", backend: "none")
        var config = RunConfig()
        config.iterations = 2
        let run = try await buffer.createRun(name: "bench", promptSetID: set, rewardModelID: model, config: config)
        var policies: [Int64] = []
        var chunks: [[Int64: Int64]] = []
        for t in 0..<2 {
            let policy = try await buffer.registerPolicy(run: run, t: t, parent: policies.last, uri: "bench://pi\(t)")
            try await buffer.openIteration(run: run, t: t, policy: policy, rho: 1, strategy: .full)
            try await buffer.enqueueGeneration(run: run, t: t, policy: policy, purpose: .train, promptIDs: prompts)
            policies.append(policy)
            var chunkOf: [Int64: Int64] = [:]
            for row in try await buffer.connection.query(
                "SELECT u.prompt_id, g.chunk FROM optune.generation_tasks g, unnest(g.prompt_ids) AS u(prompt_id) WHERE g.run_id = $1 AND g.t = $2",
                [run, Int32(t)])
            {
                chunkOf[try row.decode(0, as: Int64.self)] = try row.decode(1, as: Int64.self)
            }
            chunks.append(chunkOf)
        }
        return IngestFixture(run: run, promptSet: set, rewardModel: model, policies: policies, prompts: prompts, chunks: chunks)
    }
}
