/// One box: the distribution of a run's chosen rewards at one iteration.
struct Box {
    var p10: Double
    var p25: Double
    var p50: Double
    var p75: Double
    var p90: Double
    var mean: Double
    var tooltip: String
}

/// Box plots grouped by iteration, one box per run in each group: box p25–p75, whiskers
/// p10–p90, a line at the median, a dot at the mean.
struct BoxPlotChart {
    struct Series {
        var name: String
        var color: String
        /// Boxes by iteration t.
        var boxes: [Int: Box]
    }

    var label: String
    var xTitle: String
    var yTitle: String
    var series: [Series]
    var emptyMessage = "no training pairs yet"

    func render(width: Double = 960, plotHeight: Double = 300) -> String {
        let legend = series.map { LegendItem(label: $0.name, color: $0.color, kind: .swatch(opacity: 0.35), tooltip: $0.name) }
        let legendHeight = Legend.height(legend, width: width - 100)
        let (area, height) = PlotArea.standard(svgWidth: width, plotHeight: plotHeight, legendHeight: legendHeight)
        var svg = SVG(width: width, height: height)
        Legend.draw(legend, into: &svg, x: area.left, y: 10, width: width - 100)

        let iterations = Set(series.flatMap(\.boxes.keys)).sorted()
        let values = series.flatMap { $0.boxes.values.flatMap { [$0.p10, $0.p90, $0.mean] } }.filter(\.isFinite)
        guard !iterations.isEmpty, let low = values.min(), let high = values.max() else {
            Axes.noData(emptyMessage, into: &svg, area: area)
            return svg.render(label: label)
        }
        // No padding: rewards often end exactly at a bound (1.0), and a round tick just past it
        // would waste a fifth of the plot.
        let ticks = Ticks(lower: low, upper: high, target: 8)
        let y = LinearScale(domain: (ticks.lower, ticks.upper), range: (area.bottom, area.top))
        let groupWidth = area.width / Double(iterations.count)
        let slot = Swift.min(46, groupWidth * 0.8 / Double(Swift.max(1, series.count)))
        let boxWidth = slot * 0.72
        func center(_ group: Int) -> Double { area.left + groupWidth * (Double(group) + 0.5) }

        Axes.draw(
            into: &svg, area: area,
            xTicks: iterations.enumerated().map { (center($0.offset), "\($0.element)") },
            yTicks: ticks.values.map { (y($0), Format.tick($0, step: ticks.step)) },
            xTitle: xTitle, yTitle: yTitle)

        for (group, t) in iterations.enumerated() {
            let present = series.enumerated().filter { $0.element.boxes[t] != nil }
            for (slotIndex, (_, s)) in present.enumerated() {
                guard let box = s.boxes[t], [box.p10, box.p25, box.p50, box.p75, box.p90].allSatisfy(\.isFinite) else { continue }
                let cx = center(group) + (Double(slotIndex) - Double(present.count - 1) / 2) * slot
                let left = cx - boxWidth / 2
                svg.line(cx, y(box.p90), cx, y(box.p75), stroke: s.color, width: 1.5)
                svg.line(cx, y(box.p25), cx, y(box.p10), stroke: s.color, width: 1.5)
                svg.line(cx - boxWidth / 4, y(box.p90), cx + boxWidth / 4, y(box.p90), stroke: s.color, width: 1.5)
                svg.line(cx - boxWidth / 4, y(box.p10), cx + boxWidth / 4, y(box.p10), stroke: s.color, width: 1.5)
                let top = y(box.p75)
                svg.rect(
                    left, top, boxWidth, Swift.max(1, y(box.p25) - top), fill: s.color, fillOpacity: 0.35, stroke: s.color,
                    strokeWidth: 1.5, tooltip: box.tooltip)
                svg.line(left, y(box.p50), left + boxWidth, y(box.p50), stroke: s.color, width: 2.5)
                if box.mean.isFinite {
                    svg.circle(cx, y(box.mean), r: 2.5, fill: "#fff", stroke: s.color, strokeWidth: 1.5, tooltip: box.tooltip)
                }
            }
        }
        return svg.render(label: label)
    }
}
