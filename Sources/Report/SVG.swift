/// A minimal SVG writer: elements as strings, every attribute value and text escaped.
///
/// The output is both HTML5 inline SVG and well-formed XML (no namespace declaration is needed
/// inline in HTML, and none is written, so the page holds no URL at all).
struct SVG {
    let width: Double
    let height: Double
    private var parts: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// Appends an element: `<name a="v" …/>`, or with `content` (already SVG markup)
    /// `<name …>content</name>`.
    mutating func element(_ name: String, _ attributes: KeyValuePairs<String, String>, content: String? = nil) {
        parts.append(Self.markup(name, Array(attributes), content: content))
    }

    /// Appends markup built by the static helpers.
    mutating func raw(_ markup: String) {
        parts.append(markup)
    }

    static func markup(_ name: String, _ attributes: [(String, String)], content: String? = nil) -> String {
        let text = openTag(name, attributes)
        if let content { return text + ">" + content + "</\(name)>" }
        return text + "/>"
    }

    /// `<name a="v" …` without the closing bracket.
    static func openTag(_ name: String, _ attributes: [(String, String)]) -> String {
        var text = "<" + name
        for (key, value) in attributes { text += " \(key)=\"\(escape(value))\"" }
        return text
    }

    /// `<title>` content for a hover tooltip.
    static func tooltip(_ text: String) -> String { "<title>\(escape(text))</title>" }

    mutating func line(
        _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1, dash: String? = nil,
        className: String? = nil
    ) {
        var attributes = [
            ("x1", f(x1)), ("y1", f(y1)), ("x2", f(x2)), ("y2", f(y2)), ("stroke", stroke), ("stroke-width", f(width)),
        ]
        if let dash { attributes.append(("stroke-dasharray", dash)) }
        if let className { attributes.append(("class", className)) }
        parts.append(Self.markup("line", attributes))
    }

    mutating func rect(
        _ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, fillOpacity: Double? = nil, stroke: String? = nil,
        strokeWidth: Double = 1, tooltip: String? = nil
    ) {
        var attributes = [("x", f(x)), ("y", f(y)), ("width", f(max(0, w))), ("height", f(max(0, h))), ("fill", fill)]
        if let fillOpacity { attributes.append(("fill-opacity", f(fillOpacity))) }
        if let stroke { attributes += [("stroke", stroke), ("stroke-width", f(strokeWidth))] }
        parts.append(Self.markup("rect", attributes, content: tooltip.map(Self.tooltip)))
    }

    mutating func circle(
        _ cx: Double, _ cy: Double, r: Double, fill: String, stroke: String, strokeWidth: Double = 1.5, tooltip: String? = nil
    ) {
        let attributes = [("cx", f(cx)), ("cy", f(cy)), ("r", f(r)), ("fill", fill), ("stroke", stroke), ("stroke-width", f(strokeWidth))]
        parts.append(Self.markup("circle", attributes, content: tooltip.map(Self.tooltip)))
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 2, dash: String? = nil) {
        guard points.count >= 2 else { return }
        let list = points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " ")
        var attributes = [
            ("points", list), ("fill", "none"), ("stroke", stroke), ("stroke-width", f(width)),
            ("stroke-linejoin", "round"), ("stroke-linecap", "round"),
        ]
        if let dash { attributes.append(("stroke-dasharray", dash)) }
        parts.append(Self.markup("polyline", attributes))
    }

    enum Anchor: String { case start, middle, end }

    mutating func text(
        _ string: String, x: Double, y: Double, anchor: Anchor = .start, size: Double = 12, weight: String? = nil,
        fill: String = "#333", rotate: Double? = nil, className: String? = nil, tooltip: String? = nil
    ) {
        var attributes = [("x", f(x)), ("y", f(y)), ("font-size", f(size)), ("fill", fill)]
        if anchor != .start { attributes.append(("text-anchor", anchor.rawValue)) }
        if let weight { attributes.append(("font-weight", weight)) }
        if let rotate { attributes.append(("transform", "rotate(\(f(rotate)) \(f(x)) \(f(y)))")) }
        if let className { attributes.append(("class", className)) }
        parts.append(Self.markup("text", attributes, content: (tooltip.map(Self.tooltip) ?? "") + escape(string)))
    }

    /// The finished `<svg>` element, labelled for screen readers and with a `<title>`.
    func render(label: String) -> String {
        let open = Self.openTag(
            "svg",
            [
                ("class", "chart"), ("width", f(width)), ("height", f(height)), ("viewBox", "0 0 \(f(width)) \(f(height))"),
                ("role", "img"), ("aria-label", label),
                ("font-family", "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"),
            ])
        return open + ">\n" + Self.tooltip(label) + "\n" + parts.joined(separator: "\n") + "\n</svg>"
    }

    private func f(_ value: Double) -> String { Format.coordinate(value) }

    /// A rough width of `text` at font size `size`, for layout (no font metrics without a renderer).
    static func estimatedWidth(_ text: String, size: Double = 12) -> Double {
        text.unicodeScalars.reduce(0) { width, scalar in
            let wide = scalar.properties.isEmojiPresentation || (0x2E80...0xFFDC).contains(scalar.value)
            return width + (wide ? 1.0 : 0.58) * size
        }
    }
}
