import ArgumentParser
import Benchmarks
import Foundation

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the codec, ingest, selection, leasing, export and whole iterations against their floors.",
        discussion: """
            Prints a table (each row beside its floor or baseline) and, last, one line \
            `BENCH-SUMMARY {json}`. Build in release mode first (swift build -c release); a debug \
            build measures the debugger, not the code. Everything runs in a scratch database created \
            on the configured server and dropped afterwards.

            Sections: codec (the BPE fixture), ingest (--responses through the buffer API), \
            selection (rank and enqueue at --prompts), leases (prompt-leases/s with --prompts \
            pending), export (TRL at min(--prompts, 48k) pairs, token ids at min(--prompts, 100k)), \
            iteration (iterations 0 and 1 at --prompts with instant backends). Selection, leases \
            and export start from a D_0 written in SQL, so 1M prompts take minutes, not an ingest \
            of 2M responses.
            """)

    @Option(name: .long, parsing: .unconditional, help: "Prompts for the selection, leases, export and iteration sections.")
    var prompts = 100_000

    @Option(name: .long, help: "Comma-separated sections: codec, ingest, selection, leases, export, iteration.")
    var sections = "codec,ingest,selection,leases,export"

    @Option(name: .long, parsing: .unconditional, help: "Responses of 512 tokens to ingest per measurement (ingest section).")
    var responses = 200_000

    @Option(name: .long, parsing: .unconditional, help: "Responses for the naive one-INSERT-per-response baseline.")
    var naiveResponses = 10_000

    @Option(name: .long, parsing: .unconditional, help: "Responses per submitted batch.")
    var batchSize = 5_000

    @Option(name: .long, help: "Seconds each lease configuration runs.")
    var leaseSeconds = 3.0

    @Option(
        name: .long, parsing: .unconditional,
        help: """
            Token ids per generated response in the iteration section (a prefix of a fixture row): 128 \
            for LLM-like responses; the built-in digit policy's average is about 7.
            """)
    var responseTokens = 128

    @Option(name: .long, help: "The BPE token fixture (2000 × 512 uint32 LE ids).")
    var fixture: String?

    @Flag(name: .long, help: "Only the codec section (the same as --sections codec).")
    var codecOnly = false

    @Flag(name: .long, help: "Keep the scratch database instead of dropping it.")
    var keepDatabase = false

    static let allSections = ["codec", "ingest", "selection", "leases", "export", "iteration"]

    /// The sections to run, in the order of ``allSections``.
    var chosenSections: [String] {
        get throws {
            if codecOnly { return ["codec"] }
            let named = sections.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
            if let unknown = named.first(where: { !Self.allSections.contains($0) }) {
                throw ValidationError(
                    "--sections: unknown section \"\(unknown)\"; expected some of \(Self.allSections.joined(separator: ", "))")
            }
            guard !named.isEmpty else { throw ValidationError("--sections names no section") }
            return Self.allSections.filter(named.contains)
        }
    }

    func validate() throws {
        guard responses >= 2, responses % 2 == 0 else { throw ValidationError("--responses must be an even number ≥ 2") }
        try OptionCheck.integer(responses, in: 2...100_000_000, "--responses")
        try OptionCheck.integer(naiveResponses, in: 0...100_000_000, "--naive-responses")
        try OptionCheck.integer(batchSize, in: 1...1_000_000, "--batch-size")
        try OptionCheck.integer(prompts, in: 2...100_000_000, "--prompts")
        try OptionCheck.seconds(leaseSeconds, upTo: 3600, "--lease-seconds")
        try OptionCheck.integer(responseTokens, in: 1...512, "--response-tokens")
        _ = try chosenSections
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
        let scratchDatabase = try await ScratchDatabase.create(serverURL: serverURL)
        let databaseURL = scratchDatabase.url
        var options = ScaleBenchmarks.Options(prompts: prompts, tokenRows: rows)
        options.leaseSeconds = leaseSeconds
        options.responseTokens = responseTokens
        var report = BenchmarkReport()
        do {
            let chosen = try chosenSections
            for section in chosen {
                switch section {
                case "codec":
                    note("codec: \(rows.count) fixture rows, and a Zipf sample")
                    try await CodecBenchmark(fixture: rows, zipf: TokenFixture.zipf(rows: rows.count)).run(
                        into: &report, databaseURL: databaseURL)
                case "ingest":
                    var ingest = IngestBenchmark(tokenRows: rows)
                    ingest.responses = responses
                    ingest.naiveResponses = naiveResponses
                    ingest.batchSize = batchSize
                    try await ingest.run(into: &report, databaseURL: databaseURL, progress: { note("ingest: \($0)") })
                default:
                    break
                }
            }
            let scaled = chosen.filter { !["codec", "ingest"].contains($0) }
            if !scaled.isEmpty {
                try await ScaleBenchmarks.run(scaled, options: options, databaseURL: databaseURL, into: &report, progress: { note($0) })
            }
        } catch {
            if !keepDatabase { try? await scratchDatabase.drop() }
            throw error
        }
        if keepDatabase {
            note("kept scratch database \(scratchDatabase.name)")
        } else {
            try await scratchDatabase.drop()
        }
        print(report.table())
        print(report.summaryLine())
    }
}
