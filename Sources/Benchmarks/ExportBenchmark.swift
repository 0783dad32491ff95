import Buffer
import Export
import Foundation
import Postgres

/// Times ``Exporter`` on D_0 of a fixture — TRL text lines, or token ids — beside its floor on
/// the same data: the same lines' content fetched by one query (JSON built in SQL for TRL, the
/// raw blobs for tokens), with no client-side encoding.
struct ExportBenchmark {
    var fixture: ScaleFixture
    var format: ExportFormat

    func run(buffer: ReplayBuffer, into report: inout BenchmarkReport) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("optune-bench-export-\(format.rawValue).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let started = ContinuousClock.now
        let exported = try await Exporter(format: format).export(buffer: buffer, run: fixture.run, t: 0, path: path)
        let seconds = (ContinuousClock.now - started).seconds

        let floorSQL =
            format == .tokens
            ? """
            SELECT c.tokens, r.tokens FROM optune.pairs p
            JOIN optune.responses c ON (c.run_id, c.t, c.prompt_id, c.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.chosen_sample)
            JOIN optune.responses r ON (r.run_id, r.t, r.prompt_id, r.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.rejected_sample)
            WHERE p.run_id = $1 AND p.t = 0
            """
            : """
            SELECT json_build_object('prompt', q.text, 'chosen', c.text, 'rejected', r.text)::text FROM optune.pairs p
            JOIN optune.prompts q ON q.id = p.prompt_id
            JOIN optune.responses c ON (c.run_id, c.t, c.prompt_id, c.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.chosen_sample)
            JOIN optune.responses r ON (r.run_id, r.t, r.prompt_id, r.sample_index) = (p.source_run_id, p.source_t, p.prompt_id, p.rejected_sample)
            WHERE p.run_id = $1 AND p.t = 0
            """
        let floorStarted = ContinuousClock.now
        let rows = try await buffer.connection.query(floorSQL, [fixture.run]).count
        let floor = (ContinuousClock.now - floorStarted).seconds
        let scale = exported.rows >= 1000 ? "\(exported.rows / 1000)k" : "\(exported.rows)"
        let what = format == .tokens ? "token ids" : format.rawValue.uppercased()
        let goal = format == .tokens ? "goal ≤ 2× floor" : "goal ≤ 1.2 s at 48k"
        report.add(
            BenchmarkRow(
                section: "export", name: "\(scale) pairs as \(what)", value: seconds, unit: "s",
                comparison: String(
                    format: "floor %.2f s (%@, %d rows) · %.1f× floor · %.0f pairs/s · %.1f MB · %@",
                    floor, format == .tokens ? "raw blobs in one query" : "JSON built in SQL", rows, seconds / max(floor, 1e-9),
                    Double(exported.rows) / seconds, Double(exported.bytes) / 1e6, goal)))
        report.record("export_\(format.rawValue)_seconds", seconds)
        report.record("export_\(format.rawValue)_floor_seconds", floor)
        report.record("export_\(format.rawValue)_pairs", Double(exported.rows))
    }
}
