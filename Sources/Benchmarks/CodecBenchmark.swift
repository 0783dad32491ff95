import Foundation
import Postgres
import TokenCodec

/// Measures the token codec: size against raw uint32 and PostgreSQL's `int4[]` with lz4, and
/// encode/decode throughput on one core.
public struct CodecBenchmark: Sendable {
    public var fixture: [[UInt32]]
    public var zipf: [[UInt32]]
    /// Passes over the fixture for the throughput figures.
    public var passes = 5

    public init(fixture: [[UInt32]], zipf: [[UInt32]]) {
        self.fixture = fixture
        self.zipf = zipf
    }

    /// Runs the codec rows, with PostgreSQL's `int4[]` baseline measured in the database at
    /// `databaseURL`.
    public func run(into report: inout BenchmarkReport, databaseURL: String) async throws {
        let scratch = try await Connection.connect(to: databaseURL, applicationName: "optune-bench")
        do {
            try await run(into: &report, scratch: scratch)
        } catch {
            await scratch.close()
            throw error
        }
        await scratch.close()
    }

    public func run(into report: inout BenchmarkReport, scratch: Connection?) async throws {
        let tokens = fixture.reduce(0) { $0 + $1.count }
        var encoder = TokenBlobEncoder()
        let blobs = fixture.map { encoder.encode($0) }
        let chosen = Double(blobs.reduce(0) { $0 + $1.count }) / Double(tokens)
        var comparison = "raw uint32 4.00"
        var postgresFigure: Double?
        if let scratch {
            postgresFigure = try await postgresInt4ArraySize(fixture, on: scratch)
            comparison += String(format: " · PostgreSQL int4[] lz4 %.2f", postgresFigure!)
        }
        report.add(
            BenchmarkRow(
                section: "codec", name: "BPE fixture, chosen encoding", value: chosen, unit: "bytes/token",
                comparison: "target ≤ 1.30 · order-0 entropy 1.27 · " + comparison))
        report.record("codec_fixture_bytes_per_token", chosen)
        if let postgresFigure { report.record("postgres_int4_lz4_bytes_per_token", postgresFigure) }

        for (width, shuffle) in [(TokenWidth.two, false), (.two, true), (.four, false), (.four, true)] {
            let size = fixture.reduce(0) { $0 + encoder.encode($1, width: width, shuffle: shuffle).count }
            report.add(
                BenchmarkRow(
                    section: "codec", name: "BPE fixture, width \(width.byteCount)\(shuffle ? " shuffled" : "")",
                    value: Double(size) / Double(tokens), unit: "bytes/token", comparison: "fixed choice"))
        }
        let prefixCodedSize = fixture.reduce(0) { $0 + encoder.encodePrefixCoded($1).count }
        report.add(
            BenchmarkRow(
                section: "codec", name: "BPE fixture, v2 prefix code", value: Double(prefixCodedSize) / Double(tokens),
                unit: "bytes/token", comparison: "fixed choice"))
        let widthChoices = Dictionary(grouping: blobs) { $0[1] == 2 ? "v2" : "w\($0[2])\($0[3] & 1 == 1 ? "s" : "")" }
            .mapValues(\.count)
        report.add(
            BenchmarkRow(
                section: "codec", name: "BPE fixture, encoder's choices", value: Double(blobs.count), unit: "rows",
                comparison: widthChoices.keys.sorted().map { "\($0): \(widthChoices[$0]!)" }.joined(separator: ", ")))

        let zipfTokens = zipf.reduce(0) { $0 + $1.count }
        let zipfSize = zipf.reduce(0) { $0 + encoder.encode($1).count }
        report.add(
            BenchmarkRow(
                section: "codec", name: "Zipf sample, 152k vocabulary", value: Double(zipfSize) / Double(zipfTokens), unit: "bytes/token",
                comparison: "target ≤ 2.3"))
        report.record("codec_zipf_bytes_per_token", Double(zipfSize) / Double(zipfTokens))

        let inputBytes = Double(tokens * 4 * passes)
        var started = ContinuousClock.now
        var sink = 0
        for _ in 0..<passes {
            for row in fixture { sink &+= encoder.encode(row).count }
        }
        let encodeSeconds = (ContinuousClock.now - started).seconds
        var decoder = TokenBlobDecoder()
        var output: [UInt32] = []
        let decodePasses = passes * 4
        started = ContinuousClock.now
        for _ in 0..<decodePasses {
            for blob in blobs {
                try decoder.decode(blob, into: &output)
                sink &+= output.count
            }
        }
        let decodeSeconds = (ContinuousClock.now - started).seconds
        precondition(sink > 0)
        let encodeRate = inputBytes / encodeSeconds / 1e6
        let decodeRate = Double(tokens * 4 * decodePasses) / decodeSeconds / 1e9
        report.add(BenchmarkRow(section: "codec", name: "encode (uint32 input)", value: encodeRate, unit: "MB/s"))
        let v1Blobs = fixture.map { encoder.encode($0, width: .two, shuffle: false) }
        started = ContinuousClock.now
        for _ in 0..<decodePasses {
            for blob in v1Blobs {
                try decoder.decode(blob, into: &output)
                sink &+= output.count
            }
        }
        let v1Rate = Double(tokens * 4 * decodePasses) / (ContinuousClock.now - started).seconds / 1e9
        report.add(
            BenchmarkRow(
                section: "codec", name: "decode (uint32 output)", value: decodeRate, unit: "GB/s",
                comparison: String(format: "target ≥ 2 · v1 width 2 only %.2f", v1Rate)))
        report.record("codec_encode_mb_per_s", encodeRate)
        report.record("codec_decode_gb_per_s", decodeRate)
        report.record("codec_decode_v1_w2_gb_per_s", v1Rate)
    }

    /// Average stored bytes per id when PostgreSQL keeps each row as `int4[]` with lz4.
    private func postgresInt4ArraySize(_ rows: [[UInt32]], on connection: Connection) async throws -> Double {
        try await connection.execute("CREATE TABLE bench_int4_lz4 (ids int4[] COMPRESSION lz4)")
        try await connection.copyFromBinary("COPY bench_int4_lz4 (ids) FROM STDIN (FORMAT binary)") { writer in
            for row in rows {
                try writer.beginRow(fieldCount: 1)
                writer.write(row.map { Int32(bitPattern: $0) })
            }
        }
        let result = try await connection.query(
            "SELECT sum(pg_column_size(ids))::float8 / sum(cardinality(ids)) FROM bench_int4_lz4")
        try await connection.execute("DROP TABLE bench_int4_lz4")
        return try result[0].decode(0, as: Double.self)
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
