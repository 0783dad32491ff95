/// Run colours: Tableau 10, distinguishable and print-safe. Beyond ten runs the colours repeat
/// with a dash pattern so lines stay apart.
enum Palette {
    static let colors = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac"]
    static let dashes: [String?] = [nil, "6 3", "2 3", "8 3 2 3"]

    static func color(_ index: Int) -> String { colors[index % colors.count] }
    static func dash(_ index: Int) -> String? { dashes[(index / colors.count) % dashes.count] }

    static let axis = "#555"
    static let grid = "#e4e4e4"
    static let text = "#333"
    static let muted = "#777"
}
