/// The paper's Fig. 2 as grouped bars: for each iteration t, per run, the share of the reward
/// gain (D_{t−1} → D_t) that came from the bottom half of prompts (solid) and from the top half
/// (pale).
struct GainSplitChart {
    struct Bar {
        var bottomShare: Double?
        var topShare: Double?
        var tooltip: String
    }

    struct Series {
        var name: String
        var color: String
        /// Bars by iteration t.
        var bars: [Int: Bar]
    }

    var label: String
    var xTitle: String
    var yTitle: String
    var series: [Series]
    var emptyMessage = "needs two built iterations (D_{t−1} and D_t)"

    func render(width: Double = 960, plotHeight: Double = 280) -> String {
        var legend = series.map { LegendItem(label: $0.name, color: $0.color, kind: .swatch(opacity: 1), tooltip: $0.name) }
        if !series.isEmpty {
            legend.append(LegendItem(label: "solid: bottom half", color: Palette.muted, kind: .swatch(opacity: 1)))
            legend.append(LegendItem(label: "pale: top half", color: Palette.muted, kind: .swatch(opacity: 0.3)))
        }
        let legendHeight = Legend.height(legend, width: width - 100)
        let (area, height) = PlotArea.standard(svgWidth: width, plotHeight: plotHeight, legendHeight: legendHeight)
        var svg = SVG(width: width, height: height)
        Legend.draw(legend, into: &svg, x: area.left, y: 10, width: width - 100)

        let iterations = Set(series.flatMap(\.bars.keys)).sorted()
        guard !iterations.isEmpty else {
            Axes.noData(emptyMessage, into: &svg, area: area)
            return svg.render(label: label)
        }
        let shares = series.flatMap { $0.bars.values.flatMap { [$0.bottomShare, $0.topShare].compactMap { $0 } } }.filter(\.isFinite)
        let ticks = Ticks(lower: Swift.min(0, shares.min() ?? 0), upper: Swift.max(1, shares.max() ?? 1), target: 8)
        let y = LinearScale(domain: (ticks.lower, ticks.upper), range: (area.bottom, area.top))
        let groupWidth = area.width / Double(iterations.count)
        let pairWidth = Swift.min(64, groupWidth * 0.84 / Double(Swift.max(1, series.count)))
        let barWidth = pairWidth * 0.42
        func center(_ group: Int) -> Double { area.left + groupWidth * (Double(group) + 0.5) }

        Axes.draw(
            into: &svg, area: area,
            xTicks: iterations.enumerated().map { (center($0.offset), "\($0.element)") },
            yTicks: ticks.values.map { (y($0), Format.percent($0)) },
            xTitle: xTitle, yTitle: yTitle)
        let zero = y(0)
        if ticks.lower < 0 { svg.line(area.left, zero, area.right, zero, stroke: Palette.axis) }

        for (group, t) in iterations.enumerated() {
            let present = series.filter { $0.bars[t] != nil }
            for (slotIndex, s) in present.enumerated() {
                guard let bar = s.bars[t] else { continue }
                let cx = center(group) + (Double(slotIndex) - Double(present.count - 1) / 2) * pairWidth
                guard let bottom = bar.bottomShare, let top = bar.topShare, bottom.isFinite, top.isFinite else {
                    svg.text("no gain", x: cx, y: zero - 6, anchor: .middle, size: 10, fill: Palette.muted, tooltip: bar.tooltip)
                    continue
                }
                for (offset, share, opacity) in [(-barWidth, bottom, 1.0), (0, top, 0.3)] {
                    let value = y(share)
                    svg.rect(
                        cx + offset, Swift.min(value, zero), barWidth, Swift.max(abs(zero - value), 0.5), fill: s.color,
                        fillOpacity: opacity, stroke: s.color, strokeWidth: 1, tooltip: bar.tooltip)
                }
            }
        }
        return svg.render(label: label)
    }
}
