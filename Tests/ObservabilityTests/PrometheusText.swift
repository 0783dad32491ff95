/// A small parser of the Prometheus text exposition format (0.0.4), strict enough to catch
/// what a scraper would reject: metric and label names, quoting and escapes of label values,
/// numeric values, and `# TYPE` lines that come once per family and before its samples.
struct PrometheusText {
    struct Sample: Hashable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct ParseError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    var samples: [Sample] = []
    var types: [String: String] = [:]

    /// The value of the sample `name` whose labels include `labels`; nil when absent. Several
    /// matches are summed (e.g. over an unlisted label).
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matching = samples.filter { sample in sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value } }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }

    init(parsing text: String) throws {
        var seenSamplesOf: Set<String> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = String(rawLine)
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                guard parts.count >= 2 else { continue }
                if parts[1] == "TYPE" {
                    guard parts.count == 4, Self.isMetricName(parts[2]) else {
                        throw ParseError(line: number, message: "malformed TYPE line: \(line)")
                    }
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                        throw ParseError(line: number, message: "unknown type \(parts[3])")
                    }
                    guard types[parts[2]] == nil else { throw ParseError(line: number, message: "second TYPE line for \(parts[2])") }
                    guard !seenSamplesOf.contains(parts[2]) else {
                        throw ParseError(line: number, message: "TYPE of \(parts[2]) after its samples")
                    }
                    types[parts[2]] = parts[3]
                }
                continue
            }
            let sample = try Self.sample(line, number: number)
            seenSamplesOf.insert(Self.family(of: sample.name, types: types))
            samples.append(sample)
        }
    }

    /// The family a sample belongs to (`x_bucket`, `x_sum`, `x_count` of a histogram `x`).
    static func family(of name: String, types: [String: String]) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || types[base] == "summary" { return base }
        }
        return name
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == ":"
        }
    }

    static func isLabelName(_ name: String) -> Bool {
        isMetricName(name) && !name.contains(":")
    }

    static func sample(_ line: String, number: Int) throws -> Sample {
        var rest = Substring(line)
        let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
        let name = String(rest[..<nameEnd])
        guard isMetricName(name) else { throw ParseError(line: number, message: "bad metric name '\(name)'") }
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let equals = rest.firstIndex(of: "=") else { throw ParseError(line: number, message: "label without =") }
                let labelName = String(rest[..<equals])
                guard isLabelName(labelName) else { throw ParseError(line: number, message: "bad label name '\(labelName)'") }
                rest = rest[rest.index(after: equals)...]
                guard rest.first == "\"" else { throw ParseError(line: number, message: "unquoted value of \(labelName)") }
                rest = rest.dropFirst()
                var value = ""
                while true {
                    guard let c = rest.first else { throw ParseError(line: number, message: "unterminated value of \(labelName)") }
                    rest = rest.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        guard let escaped = rest.first else { throw ParseError(line: number, message: "dangling escape") }
                        rest = rest.dropFirst()
                        switch escaped {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw ParseError(line: number, message: "bad escape \\\(escaped)")
                        }
                    } else {
                        value.append(c)
                    }
                }
                guard labels[labelName] == nil else { throw ParseError(line: number, message: "label \(labelName) twice") }
                labels[labelName] = value
                if rest.first == "," {
                    rest = rest.dropFirst()
                } else if rest.first != "}" {
                    throw ParseError(line: number, message: "expected , or } after a label")
                }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw ParseError(line: number, message: "no space before the value") }
        let fields = rest.split(separator: " ")
        guard fields.count == 1 || fields.count == 2 else {
            throw ParseError(line: number, message: "expected a value and an optional timestamp")
        }
        let text = String(fields[0])
        let value: Double
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let parsed = Double(text) else { throw ParseError(line: number, message: "bad value '\(text)'") }
            value = parsed
        }
        if fields.count == 2, Int64(fields[1]) == nil { throw ParseError(line: number, message: "bad timestamp '\(fields[1])'") }
        return Sample(name: name, labels: labels, value: value)
    }
}
