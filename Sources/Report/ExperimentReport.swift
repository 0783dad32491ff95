import Foundation

/// One cell of an experiment grid as the report plots it: eval reward against generated tokens,
/// per iteration, averaged over seeds.
public struct ExperimentCurve: Sendable, Hashable {
    /// The cell, e.g. `ρ=0.5 reward wdpo`.
    public var name: String
    public var points: [ExperimentCurvePoint]

    public init(name: String, points: [ExperimentCurvePoint]) {
        self.name = name
        self.points = points
    }
}

/// π_t of one cell, averaged over seeds.
public struct ExperimentCurvePoint: Sendable, Hashable {
    public var t: Int
    /// Mean train tokens generated after the shared iteration 0 to reach π_t.
    public var tokens: Double
    /// Mean eval reward of π_t.
    public var reward: Double
    /// Half-width of the 95% interval of `reward` over seeds; nil with fewer than two.
    public var halfWidth: Double?
    /// Seeds behind the point.
    public var seeds: Int

    public init(t: Int, tokens: Double, reward: Double, halfWidth: Double?, seeds: Int) {
        self.t = t
        self.tokens = tokens
        self.reward = reward
        self.halfWidth = halfWidth
        self.seeds = seeds
    }
}

/// The page of `optune report --experiment`: eval reward vs generated tokens per cell with 95%
/// intervals (as the paper's figures plot it), then the experiment's tables as text.
public enum ExperimentReport {
    /// The page; `tables` is the text `optune experiment` prints, shown preformatted.
    public static func render(title: String, curves: [ExperimentCurve], tables: String, generatedAt: Date) -> String {
        var body = "<h1>\(escape(title))</h1>\n"
        body +=
            "<p class=\"meta\">Generated \(escape(HTMLReport.timestamp(generatedAt))) · \(curves.count) cell\(curves.count == 1 ? "" : "s")</p>\n"
        let chart = LineChart(
            label: "Eval reward of π_t by train tokens generated after the shared iteration 0, per cell",
            xTitle: "train tokens generated after iteration 0 to reach π_t (mean over seeds)", yTitle: "mean eval reward",
            xTickLabel: { value, _ in Format.compact(value) },
            series: curves.enumerated().map { index, curve in
                LineSeries(
                    name: curve.name, color: Palette.color(index), dash: Palette.dash(index),
                    points: curve.points.map { point in
                        var tip = "\(curve.name) · π_\(point.t): eval \(Format.reward(point.reward))"
                        if let h = point.halfWidth { tip += " ± \(Format.reward(h)) (95%, \(point.seeds) seeds)" }
                        tip += " · \(Format.count(Int(point.tokens.rounded()))) tokens after iteration 0"
                        return LinePoint(x: point.tokens, y: point.reward, tooltip: tip, interval: point.halfWidth)
                    })
            },
            emptyMessage: "no finished cells yet"
        ).render()
        body += HTMLReport.section(
            "Eval reward vs generated tokens",
            HTMLReport.figure(
                chart,
                caption: """
                    Each curve is one cell (ρ, strategy, loss); each point is π_t for t = 1 … T, at the mean train tokens \
                    its runs generated after the shared, fully-online iteration 0 (so every curve starts at 0 tokens from \
                    the shared π_1), with the mean eval reward over seeds and its 95% interval (Student's t). A curve \
                    further up and to the left reaches more reward for fewer generated tokens.
                    """))
        body += HTMLReport.section("Tables", "<pre>\(escape(tables))</pre>\n")
        return HTMLReport.page(title: title, extraStyle: "pre { font-size: 11.5px; overflow-x: auto; }", body: body)
    }
}
