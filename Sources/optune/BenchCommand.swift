import ArgumentParser
import Benchmarks
import Foundation
import Postgres

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the codec, response ingest and read-back against their baselines.",
        discussion: """
            Prints a table and, last, one line `BENCH-SUMMARY {json}`. Build in release mode first \
            (swift build -c release); a debug build measures the debugger, not the code. Ingest runs \
            in a scratch database created on the configured server and dropped afterwards.
            """)

    @Option(name: .long, parsing: .unconditional, help: "Responses of 512 tokens to ingest per measurement.")
    var responses = 200_000

    @Option(name: .long, parsing: .unconditional, help: "Responses for the naive one-INSERT-per-response baseline.")
    var naiveResponses = 10_000

    @Option(name: .long, parsing: .unconditional, help: "Responses per submitted batch.")
    var batchSize = 5_000

    @Option(name: .long, help: "The BPE token fixture (2000 × 512 uint32 LE ids).")
    var fixture: String?

    @Flag(name: .long, help: "Only the codec measurements (no database needed except for the int4[] baseline).")
    var codecOnly = false

    @Flag(name: .long, help: "Keep the scratch database instead of dropping it.")
    var keepDatabase = false

    func validate() throws {
        guard responses >= 2, responses % 2 == 0 else { throw ValidationError("--responses must be an even number ≥ 2") }
        try OptionCheck.integer(responses, in: 2...100_000_000, "--responses")
        try OptionCheck.integer(naiveResponses, in: 0...100_000_000, "--naive-responses")
        try OptionCheck.integer(batchSize, in: 1...1_000_000, "--batch-size")
    }

    func run() async throws {
        #if DEBUG
        note("warning: this is a debug build; run `swift build -c release` and .build/release/optune bench for real figures")
        #endif
        guard let path = fixture ?? TokenFixture.defaultPath() else {
            throw ValidationError("cannot find ../shared/fixtures/tokens-bpe32k-2000x512.u32le; pass --fixture PATH")
        }
        let rows = try TokenFixture.load(path: path)
        let target = DatabaseTarget()
        let serverURL = try await target.connectionURL(progress: { note($0) })
        let admin = try await Connection.connect(to: serverURL, applicationName: "optune-bench")
        let database = "optune_bench_\(ProcessInfo.processInfo.processIdentifier)"
        try await admin.execute("CREATE DATABASE \(try await admin.quoteIdentifier(database))")
        let databaseURL = ConnectionString.replacingDatabase(in: serverURL, with: database)
        var report = BenchmarkReport()
        do {
            note("codec: \(rows.count) fixture rows, and a Zipf sample")
            let scratch = try await Connection.connect(to: databaseURL, applicationName: "optune-bench")
            try await CodecBenchmark(fixture: rows, zipf: TokenFixture.zipf(rows: rows.count)).run(into: &report, scratch: scratch)
            await scratch.close()
            if !codecOnly {
                var ingest = IngestBenchmark(tokenRows: rows)
                ingest.responses = responses
                ingest.naiveResponses = naiveResponses
                ingest.batchSize = batchSize
                try await ingest.run(into: &report, databaseURL: databaseURL, progress: { note("ingest: \($0)") })
            }
        } catch {
            if !keepDatabase { _ = try? await admin.execute("DROP DATABASE IF EXISTS \(try await admin.quoteIdentifier(database)) WITH (FORCE)") }
            throw error
        }
        if keepDatabase {
            note("kept scratch database \(database)")
        } else {
            try await admin.execute("DROP DATABASE \(try await admin.quoteIdentifier(database)) WITH (FORCE)")
        }
        print(report.table())
        print(report.summaryLine())
    }
}
