import Foundation
import TestSupport
import Testing

/// `optune bench` as a process: the scale sections run end to end on a tiny fixture and print
/// their rows beside their floors; bad options fail with one line.
@Suite("optune bench sections, run as a process")
struct BenchCommandTests {
    /// The BPE fixture beside the repository (`../shared/fixtures`) when it is there, else a
    /// small file of the same layout (rows of 512 little-endian uint32 ids) written for the test.
    static func fixture() throws -> String {
        let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/fixtures/tokens-bpe32k-2000x512.u32le").standardizedFileURL.path
        if FileManager.default.fileExists(atPath: shared) { return shared }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("optune-bench-fixture-\(UUID().uuidString).u32le").path
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<(64 * 512) {
            let id = UInt32.random(in: 0..<32_000, using: &generator)
            withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func scaleSectionsPrintTheirRowsBesideTheirFloors() async throws {
        let fixture = try Self.fixture()
        try await TestDatabase.withFresh { database in
            let (status, output) = try await OptuneProcess.run(
                [
                    "bench", "--prompts", "300", "--sections", "iteration,selection,leases,export", "--lease-seconds", "0.2",
                    "--fixture", fixture,
                ],
                databaseURL: database.url, timeout: .seconds(600))
            #expect(status == 0, "\(output)")
            let rows = output.split(separator: "\n")
            for (section, text) in [
                ("selection", "floor"), ("leases", "4 clients, batch 1"), ("export", "as TRL"), ("export", "as token ids"),
                ("iteration 0", "open: statistics, selection, enqueue"), ("iteration 1", "buffer total, t = 1 (ρ = 0.5, 150)"),
            ] {
                #expect(rows.contains { $0.hasPrefix(section) && $0.contains(text) }, "no \(section) row with \(text)\n\(output)")
            }
            #expect(
                rows.filter { $0.hasPrefix("leases") && $0.contains("prompt-leases/s") }.allSatisfy { $0.contains("floor") }, "\(output)")
            let summary = try #require(rows.last { $0.hasPrefix("BENCH-SUMMARY ") })
            let figures = try JSONSerialization.jsonObject(with: Data(summary.dropFirst("BENCH-SUMMARY ".count).utf8)) as? [String: Double]
            #expect((figures?["iteration1_buffer_seconds"] ?? 0) > 0, "\(summary)")
            #expect(figures?["selection_prompts"] == 300, "\(summary)")
            #expect(figures?["export_trl_pairs"] == 300, "\(summary)")
        }
    }

    @Test func anUnknownSectionIsRefusedWithOneLine() async throws {
        try await TestDatabase.withFresh { database in
            let (status, output) = try await OptuneProcess.run(["bench", "--sections", "codec,teleport"], databaseURL: database.url)
            #expect(status != 0)
            #expect(output.contains("unknown section \"teleport\""), "\(output)")
        }
    }
}
