/// The rectangle charts draw their data into, inside an SVG with margins for axes and legend.
struct PlotArea {
    var left: Double
    var top: Double
    var width: Double
    var height: Double

    var right: Double { left + width }
    var bottom: Double { top + height }

    /// Standard chart geometry: `legendHeight` sits above the plot, axis labels left and below.
    static func standard(svgWidth: Double, plotHeight: Double, legendHeight: Double) -> (area: PlotArea, svgHeight: Double) {
        let top = 14 + legendHeight + (legendHeight > 0 ? 10 : 0)
        let area = PlotArea(left: 72, top: top, width: svgWidth - 72 - 28, height: plotHeight)
        return (area, area.bottom + 56)
    }
}

/// One entry of a chart legend.
struct LegendItem {
    enum Kind {
        /// A line with a marker (line charts, runs).
        case line(dash: String?)
        /// A filled swatch (bars, boxes), with its fill opacity.
        case swatch(opacity: Double)
    }

    var label: String
    var color: String
    var kind: Kind
    /// Shown on hover: the untruncated label and details.
    var tooltip: String?
}

enum Legend {
    static let rowHeight = 20.0
    static let maxLabel = 48

    /// The height the legend of `items` needs within `width`.
    static func height(_ items: [LegendItem], width: Double) -> Double {
        items.isEmpty ? 0 : Double(layout(items, width: width).rows) * rowHeight
    }

    static func layout(_ items: [LegendItem], width: Double) -> (positions: [(x: Double, row: Int)], rows: Int) {
        var positions: [(x: Double, row: Int)] = []
        var x = 0.0
        var row = 0
        for item in items {
            let itemWidth = 30 + SVG.estimatedWidth(truncated(item.label, to: maxLabel)) + 18
            if x > 0, x + itemWidth > width {
                x = 0
                row += 1
            }
            positions.append((x, row))
            x += itemWidth
        }
        return (positions, items.isEmpty ? 0 : row + 1)
    }

    /// Draws the legend with its top-left corner at (`x`, `y`).
    static func draw(_ items: [LegendItem], into svg: inout SVG, x: Double, y: Double, width: Double) {
        let (positions, _) = layout(items, width: width)
        for (item, position) in zip(items, positions) {
            let left = x + position.x
            let middle = y + Double(position.row) * rowHeight + rowHeight / 2
            switch item.kind {
            case .line(let dash):
                svg.line(left, middle, left + 24, middle, stroke: item.color, width: 2.5, dash: dash)
                svg.circle(left + 12, middle, r: 3.5, fill: item.color, stroke: item.color)
            case .swatch(let opacity):
                svg.rect(left + 4, middle - 7, 16, 14, fill: item.color, fillOpacity: opacity, stroke: item.color, strokeWidth: 1.2)
            }
            svg.text(
                truncated(item.label, to: maxLabel), x: left + 30, y: middle + 4, fill: Palette.text,
                tooltip: item.tooltip ?? (item.label.count > maxLabel ? item.label : nil))
        }
    }
}

enum Axes {
    /// Grid lines at the y ticks, the two axis lines, tick marks, tick labels and axis titles.
    /// Tick positions are in pixels.
    static func draw(
        into svg: inout SVG, area: PlotArea, xTicks: [(position: Double, label: String)],
        yTicks: [(position: Double, label: String)], xTitle: String, yTitle: String
    ) {
        for tick in yTicks {
            svg.line(area.left, tick.position, area.right, tick.position, stroke: Palette.grid)
            svg.line(area.left - 5, tick.position, area.left, tick.position, stroke: Palette.axis)
            svg.text(tick.label, x: area.left - 8, y: tick.position + 4, anchor: .end, size: 11, fill: Palette.text)
        }
        for tick in xTicks {
            svg.line(tick.position, area.bottom, tick.position, area.bottom + 5, stroke: Palette.axis)
            svg.text(tick.label, x: tick.position, y: area.bottom + 19, anchor: .middle, size: 11, fill: Palette.text)
        }
        svg.line(area.left, area.bottom, area.right, area.bottom, stroke: Palette.axis)
        svg.line(area.left, area.top, area.left, area.bottom, stroke: Palette.axis)
        svg.text(xTitle, x: area.left + area.width / 2, y: area.bottom + 42, anchor: .middle, size: 13, fill: Palette.text)
        let yMiddle = area.top + area.height / 2
        svg.text(yTitle, x: 18, y: yMiddle, anchor: .middle, size: 13, fill: Palette.text, rotate: -90)
    }

    /// A message in the middle of an empty plot.
    static func noData(_ message: String, into svg: inout SVG, area: PlotArea) {
        svg.rect(area.left, area.top, area.width, area.height, fill: "#fafafa", stroke: Palette.grid)
        svg.text(message, x: area.left + area.width / 2, y: area.top + area.height / 2, anchor: .middle, size: 14, fill: Palette.muted)
    }
}
