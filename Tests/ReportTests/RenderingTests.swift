import Buffer
import Foundation
import Testing

@testable import Report

@Suite("HTML report rendering (no database)")
struct RenderingTests {
    let html = HTMLReport.render(Fixtures.runs, title: "Report <ρ & strategies>", generatedAt: Date(timeIntervalSince1970: 1_750_000_000))

    @Test func theReportIsWellFormedXML() {
        let check = XMLCheck()
        #expect(check.parse(html), "not well-formed: \(String(describing: check.error))")
        #expect(check.counts["html"] == 1)
        #expect(check.counts["svg"] == 4)  // eval × iteration, eval × tokens, distribution, gain split
        #expect(check.counts["table"] == 3)  // the summary and one per run
    }

    @Test func itHoldsOneSVGPerPlotWithLinesBoxesAndBars() {
        let check = XMLCheck()
        #expect(check.parse(html))
        #expect(check.counts["polyline"] == 4)  // two runs on each of the two eval plots
        let svgs = html.components(separatedBy: "<svg").dropFirst().map { $0.components(separatedBy: "</svg>")[0] }
        #expect(svgs.count == 4)
        #expect(svgs[0].contains("iteration t"))
        #expect(svgs[1].contains("train tokens"))
        #expect(svgs[2].contains("<rect"))
        #expect(svgs[3].contains("share of the gain"))
        // Axis ticks: the iteration plot labels t = 0 … 3, the token plot uses compact counts.
        for t in 0...3 { #expect(svgs[0].contains(">\(t)</text>")) }
        #expect(svgs[1].contains("k</text>"))
    }

    @Test func nothingReachesOutsideTheFile() {
        #expect(Offline.violation(in: html) == nil)
    }

    @Test func runNamesAreEscaped() {
        #expect(!html.contains("<script"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;"))
        #expect(!html.contains("\u{7}"))
        #expect(html.contains("<title>Report &lt;ρ &amp; strategies&gt;</title>"))
        let check = XMLCheck()
        #expect(check.parse(html))
        #expect(check.text.contains("<script>alert('x')</script>"))  // the name survives as text
    }

    @Test func theTablesCarryTheFacts() {
        #expect(html.contains("ρ 0.5 · reward · wdpo · n 2 · β1 2 · β2 5 · seed 0 · T 3 · lr 0.0002 · epochs 4 · batch 64"))
        #expect(html.contains("fork of <b>optune-rho-0.5</b> at t = 0"))
        #expect(html.contains("0.830"))  // final eval of the first run: 0.74 + 3 · 0.03
        #expect(html.contains("(shared)"))
    }

    @Test func noRunsStillRendersEveryPlot() {
        let empty = HTMLReport.render([], title: "empty", generatedAt: Date())
        let check = XMLCheck()
        #expect(check.parse(empty), "\(String(describing: check.error))")
        #expect(check.counts["svg"] == 4)
        #expect(empty.contains("no evaluations yet"))
        #expect(Offline.violation(in: empty) == nil)
    }

    @Test func aRunWithOnlyIterationZeroHasNoGainSplitButValidPlots() {
        var run = Fixtures.runs[0]
        run.points = [ReportPoint(t: 0, evalReward: 0.7, trainTokens: 100, cumulativeTokens: 0)]
        run.rewardQuantiles = [run.rewardQuantiles[0]]
        run.gainSplit = []
        let page = HTMLReport.render([run], title: "one", generatedAt: Date())
        let check = XMLCheck()
        #expect(check.parse(page))
        #expect(check.counts["svg"] == 4)
        #expect(page.contains("needs two built iterations"))
        #expect(check.counts["circle"] ?? 0 >= 2)  // the single eval point on both eval plots
    }

    @Test func gainSharesAreUndefinedWithoutNetGain() {
        #expect(GainSplit(t: 1, bottomCount: 3, topCount: 3, bottomGain: 0.5, topGain: -0.5).bottomShare == nil)
        let split = GainSplit(t: 1, bottomCount: 3, topCount: 3, bottomGain: 1.5, topGain: -0.5)
        #expect(split.bottomShare == 1.5)
        #expect(split.topShare == -0.5)
    }

    @Test func escapingCoversMarkupAndControlCharacters() {
        #expect(escape("a<b>&\"'\u{0}\u{1B}\tz") == "a&lt;b&gt;&amp;&quot;&#39;\u{FFFD}\u{FFFD}\tz")
    }

    @Test func ticksAreRound() {
        let ticks = Ticks(lower: 0.712, upper: 0.868, target: 6)
        #expect(ticks.lower <= 0.712 && ticks.upper >= 0.868)
        #expect(ticks.step == 0.025 || ticks.step == 0.02 || ticks.step == 0.05)
        #expect(Ticks(lower: 0, upper: 3, integer: true).values == [0, 1, 2, 3])
        #expect(Format.compact(12_500) == "12.5k")
        #expect(Format.tick(0.75, step: 0.05) == "0.75")
    }
}
