/// A point of a line series; a nil `y` breaks the line there.
struct LinePoint {
    var x: Double
    var y: Double?
    /// Drawn as an open marker (e.g. a fork's shared, inherited iterations).
    var hollow: Bool = false
    var tooltip: String
    /// Half-width of an interval around `y` (e.g. a 95% confidence interval), drawn as a whisker.
    var interval: Double? = nil
}

struct LineSeries {
    var name: String
    var color: String
    var dash: String?
    var points: [LinePoint]
}

/// Several series on shared axes, with a legend above the plot.
struct LineChart {
    var label: String
    var xTitle: String
    var yTitle: String
    /// Whole-number x ticks (iterations).
    var integerX = false
    /// Formats an x tick value, given the tick step.
    var xTickLabel: (Double, Double) -> String = { Format.tick($0, step: $1) }
    var series: [LineSeries]
    var emptyMessage = "no evaluations yet"

    func render(width: Double = 960, plotHeight: Double = 300) -> String {
        let legend = series.map { LegendItem(label: $0.name, color: $0.color, kind: .line(dash: $0.dash), tooltip: $0.name) }
        let legendHeight = Legend.height(legend, width: width - 100)
        let (area, height) = PlotArea.standard(svgWidth: width, plotHeight: plotHeight, legendHeight: legendHeight)
        var svg = SVG(width: width, height: height)
        Legend.draw(legend, into: &svg, x: area.left, y: 10, width: width - 100)

        let xs = series.flatMap { $0.points.filter { $0.y?.isFinite == true && $0.x.isFinite }.map(\.x) }
        let ys = series.flatMap { s in
            s.points.flatMap { point -> [Double] in
                guard let y = point.y, y.isFinite else { return [] }
                guard let h = point.interval, h.isFinite else { return [y] }
                return [y - h, y + h]
            }
        }
        guard let xMin = xs.min(), let xMax = xs.max(), let yMin = ys.min(), let yMax = ys.max() else {
            Axes.noData(emptyMessage, into: &svg, area: area)
            return svg.render(label: label)
        }
        let pad = Swift.max((yMax - yMin) * 0.08, 0.005)
        let yTicks = Ticks(lower: yMin - pad, upper: yMax + pad, target: 6)
        let xTicks = Ticks(
            lower: Swift.min(0, xMin), upper: xMax, target: integerX ? Swift.min(10, Int(xMax - Swift.min(0, xMin)) + 1) : 7,
            integer: integerX)
        let x = LinearScale(domain: (xTicks.lower, xTicks.upper), range: (area.left + 10, area.right - 10))
        let y = LinearScale(domain: (yTicks.lower, yTicks.upper), range: (area.bottom, area.top))
        Axes.draw(
            into: &svg, area: area,
            xTicks: xTicks.values.map { (x($0), xTickLabel($0, xTicks.step)) },
            yTicks: yTicks.values.map { (y($0), Format.tick($0, step: yTicks.step)) },
            xTitle: xTitle, yTitle: yTitle)

        for s in series {
            var run: [(Double, Double)] = []
            for point in s.points {
                if let value = point.y, value.isFinite, point.x.isFinite {
                    run.append((x(point.x), y(value)))
                } else {
                    svg.polyline(run, stroke: s.color, width: 2.2, dash: s.dash)
                    run = []
                }
            }
            svg.polyline(run, stroke: s.color, width: 2.2, dash: s.dash)
        }
        for s in series {
            for point in s.points {
                guard let value = point.y, value.isFinite, point.x.isFinite, let h = point.interval, h.isFinite, h > 0 else { continue }
                let px = x(point.x)
                svg.line(px, y(value - h), px, y(value + h), stroke: s.color, width: 1.2)
                svg.line(px - 3, y(value - h), px + 3, y(value - h), stroke: s.color, width: 1.2)
                svg.line(px - 3, y(value + h), px + 3, y(value + h), stroke: s.color, width: 1.2)
            }
        }
        // Open markers first: a fork's shared points lie exactly on its parent's filled ones.
        for hollow in [true, false] {
            for s in series {
                for point in s.points where point.hollow == hollow {
                    guard let value = point.y, value.isFinite, point.x.isFinite else { continue }
                    svg.circle(x(point.x), y(value), r: 4, fill: hollow ? "#fff" : s.color, stroke: s.color, tooltip: point.tooltip)
                }
            }
        }
        return svg.render(label: label)
    }
}
