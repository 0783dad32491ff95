import Foundation
import Report
import Testing

@Suite("The experiment report page")
struct ExperimentReportTests {
    @Test func eachCellIsACurveOfRewardByTokensWithIntervalWhiskers() throws {
        let curves = [
            ExperimentCurve(
                name: "ρ=1 full wdpo",
                points: [
                    ExperimentCurvePoint(t: 1, tokens: 0, reward: 0.62, halfWidth: 0.01, seeds: 10),
                    ExperimentCurvePoint(t: 2, tokens: 25_000, reward: 0.68, halfWidth: 0.012, seeds: 10),
                ]),
            ExperimentCurve(
                name: "ρ=0.5 <reward> & wdpo",
                points: [
                    ExperimentCurvePoint(t: 1, tokens: 0, reward: 0.62, halfWidth: nil, seeds: 1),
                    ExperimentCurvePoint(t: 2, tokens: 14_000, reward: 0.67, halfWidth: 0.02, seeds: 10),
                ]),
        ]
        let html = ExperimentReport.render(
            title: "optune experiment x", curves: curves, tables: "cell  final\nρ=0.5 <reward>  0.67",
            generatedAt: Date(timeIntervalSince1970: 0))
        let check = XMLCheck()
        #expect(check.parse(html), "\(String(describing: check.error))")
        #expect(Offline.violation(in: html) == nil)
        // One polyline per cell, three whisker lines per interval (3 of the 4 points).
        #expect(check.counts["polyline"] == 2)
        let whiskers = check.attributes.filter { $0.element == "line" && $0.name == "stroke-width" && $0.value == "1.2" }
        #expect(whiskers.count == 9)
        #expect(check.text.contains("π_2: eval 0.670 ± 0.020 (95%, 10 seeds)"))
        #expect(check.text.contains("ρ=0.5 <reward> & wdpo"))  // escaped in the markup, intact as text
        #expect(check.text.contains("ρ=0.5 <reward>  0.67"))
    }
}
