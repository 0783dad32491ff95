import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

@testable import Export

/// The export's row writer and pager: the same bytes as the record writer, whatever the page
/// size, and a pager that leaves its connection usable when the caller fails mid-way.
@Suite("Export pages and the row writer")
struct ExportPagingTests {
    /// Texts that exercise every escape, at and across 8-byte word boundaries.
    static let awkwardTexts = [
        "1234567\"", "12345678\\abcdefg\u{1}", "tab\there, soh \u{1}, unit \u{1F}, del \u{7F}, ü 日本 🎉\r\n",
        String(repeating: "eight by", count: 40) + "\"", "",
    ]

    /// The file `exporter` writes for D_0 of `run`.
    func exported(_ exporter: Exporter, _ buffer: ReplayBuffer, run: Int64) async throws -> [UInt8] {
        let path = try scratchDirectory() + "/d0.jsonl"
        _ = try await exporter.export(buffer: buffer, run: run, t: 0, path: path)
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// What the record writer makes of every pair, one line each.
    func recordLines(_ buffer: ReplayBuffer, run: Int64, format: ExportFormat) async throws -> [UInt8] {
        let conversational = format == .tokens ? false : try await buffer.promptSetHasMessages(run: run)
        var bytes: [UInt8] = []
        try await buffer.forEachExportPage(run: run, t: 0) { records in
            for record in records {
                bytes += Array(try ExportLine.encode(record, format: format, conversational: conversational).utf8) + [0x0A]
            }
        }
        return bytes
    }

    @Test(arguments: [ExportFormat.trl, .openrlhf, .tokens], [false, true])
    func rowWriterMatchesTheRecordWriterAtEveryPageSize(format: ExportFormat, chat: Bool) async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(
                in: database, gaps: [0.5, 0, 0.25, 1, 0.125, 0.75, 2], isChat: { chat && $0 % 2 == 0 })
            let buffer = scenario.buffer
            // Awkward texts on some responses, and token ids of every digit count.
            let responses = try await buffer.connection.query(
                "SELECT id FROM optune.responses WHERE run_id = $1 ORDER BY id", [scenario.run])
            for (index, row) in responses.enumerated() {
                let id: Int64 = try row.decode(0)
                try await buffer.connection.execute(
                    "UPDATE optune.responses SET text = $2 WHERE id = $1", [id, Self.awkwardTexts[index % Self.awkwardTexts.count]])
            }
            let expected = try await recordLines(buffer, run: scenario.run, format: format)
            #expect(expected.filter { $0 == 0x0A }.count == 7)
            for pageSize in [1, 2, 3, 7, 5_000] {
                var exporter = Exporter(format: format, options: ExportOptions(zeroGap: .keep))
                exporter.pageSize = pageSize
                let bytes = try await exported(exporter, buffer, run: scenario.run)
                #expect(bytes == expected, "page size \(pageSize)")
            }
        }
    }

    @Test func pagesAreBoundedOrderedAndComplete() async throws {
        try await TestDatabase.withFresh { database in
            let gaps = (0..<11).map { Double($0) / 10 }
            let scenario = try await GapScenario.make(in: database, gaps: gaps)
            for pageSize in [1, 4, 11, 12] {
                var prompts: [Int64] = []
                var pages = 0
                try await scenario.buffer.forEachExportRowPage(run: scenario.run, t: 0, content: .text, pageSize: pageSize) { page in
                    #expect(page.count >= 1 && page.count <= pageSize)
                    pages += 1
                    for row in 0..<page.count { prompts.append(try page.prompt(row)) }
                }
                #expect(prompts == scenario.gapByPrompt.keys.sorted(), "page size \(pageSize)")
                #expect(pages == (gaps.count + pageSize - 1) / pageSize)
            }
        }
    }

    @Test func aFailingCallerLeavesTheConnectionUsable() async throws {
        struct Stop: Error {}
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5, 0.25, 1, 0.75])
            await #expect(throws: Stop.self) {
                try await scenario.buffer.forEachExportRowPage(run: scenario.run, t: 0, pageSize: 1) { _ in throw Stop() }
            }
            // The prefetched page was awaited: the next statement runs and sees every pair.
            #expect(try await scenario.buffer.pairCount(run: scenario.run, t: 0) == 4)
            var seen = 0
            try await scenario.buffer.forEachExportRowPage(run: scenario.run, t: 0, pageSize: 3) { seen += $0.count }
            #expect(seen == 4)
        }
    }

    @Test func aRunWithoutPairsHasNoPages() async throws {
        try await TestDatabase.withFresh { database in
            let scenario = try await GapScenario.make(in: database, gaps: [0.5])
            var pages = 0
            try await scenario.buffer.forEachExportRowPage(run: scenario.run, t: 1) { _ in pages += 1 }
            #expect(pages == 0)
        }
    }
}
