import Buffer
import Export
import Foundation
import Postgres
import TokenCodec

/// The sections of `optune bench` that run at `--prompts` scale: selection, leases, export and
/// iteration. Each builds what it needs in the scratch database at `databaseURL` (migrated on
/// first use) and adds its rows to the report.
public enum ScaleBenchmarks {
    public struct Options: Sendable {
        public var prompts: Int
        public var tokenRows: [[UInt32]]
        /// Seconds each lease configuration runs.
        public var leaseSeconds = 3.0
        /// Token ids per generated response in the iteration section.
        public var responseTokens = 128

        public init(prompts: Int, tokenRows: [[UInt32]]) {
            self.prompts = prompts
            self.tokenRows = tokenRows
        }
    }

    /// Runs the given sections ("selection", "leases", "export", "iteration") in that order;
    /// selection and leases share one fixture of `options.prompts` prompts.
    public static func run(
        _ sections: [String], options: Options, databaseURL: String, into report: inout BenchmarkReport,
        progress: @escaping @Sendable (String) -> Void
    ) async throws {
        let buffer = try await ReplayBuffer.connect(to: databaseURL, applicationName: "optune-bench")
        try await Migrator(connection: buffer.connection).migrate()
        var shared: ScaleFixture?
        func fixture() async throws -> ScaleFixture {
            if let shared { return shared }
            let made = try await ScaleFixture.create(buffer: buffer, name: "bench-scale", prompts: options.prompts, progress: progress)
            shared = made
            return made
        }
        do {
            for section in sections {
                try await run(
                    section, options: options, buffer: buffer, fixture: fixture, databaseURL: databaseURL, into: &report, progress: progress
                )
            }
        } catch {
            await buffer.close()
            throw error
        }
        await buffer.close()
    }

    private static func run(
        _ section: String, options: Options, buffer: ReplayBuffer, fixture: () async throws -> ScaleFixture, databaseURL: String,
        into report: inout BenchmarkReport, progress: @escaping @Sendable (String) -> Void
    ) async throws {
        do {
            switch section {
            case "selection":
                let fixture = try await fixture()
                progress("selection: rank and enqueue at \(options.prompts) prompts")
                try await SelectionBenchmark(fixture: fixture).run(buffer: buffer, into: &report)
            case "leases":
                let fixture = try await fixture()
                var leases = LeaseBenchmark(fixture: fixture)
                leases.seconds = options.leaseSeconds
                try await leases.run(buffer: buffer, databaseURL: databaseURL, into: &report, progress: progress)
            case "export":
                let trl = try await ScaleFixture.create(
                    buffer: buffer, name: "bench-export-trl", prompts: min(options.prompts, 48_000), progress: progress)
                progress("export: TRL")
                try await ExportBenchmark(fixture: trl, format: .trl).run(buffer: buffer, into: &report)
                let blobs = options.tokenRows.map { TokenCodec.encode($0) }
                let tokens = try await ScaleFixture.create(
                    buffer: buffer, name: "bench-export-tokens", prompts: min(options.prompts, 100_000), tokenBlobs: blobs,
                    progress: progress)
                progress("export: token ids")
                try await ExportBenchmark(fixture: tokens, format: .tokens).run(buffer: buffer, into: &report)
            case "iteration":
                try await IterationBenchmark(
                    prompts: options.prompts, tokensPerResponse: options.responseTokens, tokenRows: options.tokenRows
                )
                .run(buffer: buffer, into: &report, progress: progress)
            default:
                throw BenchmarkFailure("unknown bench section \"\(section)\"")
            }
        }
    }
}
