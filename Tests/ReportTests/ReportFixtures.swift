import Buffer
import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Hand-made report data: an OPTune run, a hostile name, and a fork sharing iteration 0.
enum Fixtures {
    static let hostileName = "<script>alert('x')</script> & \"quoted\" \u{7}bell"

    static func run(name: String, id: Int64, rho: Double, strategy: String, fork: ForkOrigin? = nil, gain: Double) -> RunReportData {
        let tokens = [5200, Int(5200 * rho), Int(5400 * rho), 0]
        var cumulative = 0
        let points = (0..<4).map { t -> ReportPoint in
            defer { cumulative += tokens[t] }
            return ReportPoint(
                t: t, inherited: fork != nil && t <= fork!.t, evalReward: 0.74 + gain * Double(t), evalStddev: 0.1, evalCount: 20,
                trainTokens: tokens[t], cumulativeTokens: cumulative, regenerated: t == 3 ? 0 : Int(60 * (t == 0 ? 1 : rho)),
                reused: t == 0 || t == 3 ? 0 : 60 - Int(60 * rho), promptsTotal: 60)
        }
        let quantiles = (0..<3).map { t in
            let base = 0.6 + gain * Double(t)
            return RewardQuantiles(
                t: t, count: 60, mean: base + 0.1, min: base - 0.3, p10: base - 0.2, p25: base, p50: base + 0.12, p75: base + 0.2,
                p90: base + 0.25, max: 1)
        }
        let splits = [
            GainSplit(t: 1, bottomCount: 30, topCount: 30, bottomGain: 3.1, topGain: strategy == "full" ? -0.4 : 0),
            GainSplit(t: 2, bottomCount: 30, topCount: 30, bottomGain: 1.2, topGain: 0.3),
        ]
        return RunReportData(
            id: id, name: name, status: "done",
            config: RunReportConfig(
                rho: rho, strategy: strategy, loss: "wdpo", iterationsPlanned: 3, learningRate: 2e-4, epochs: 4, batchSize: 64),
            forkedFrom: fork, promptSet: "builtin-digits", rewardModel: "digit-reward 1", points: points,
            rewardQuantiles: quantiles, gainSplit: splits)
    }

    static var runs: [RunReportData] {
        [
            run(name: "optune-rho-0.5", id: 1, rho: 0.5, strategy: "reward", gain: 0.03),
            run(name: hostileName, id: 2, rho: 1, strategy: "full", fork: ForkOrigin(run: "optune-rho-0.5", t: 0), gain: 0.035),
        ]
    }
}

/// Parses markup as XML and counts elements, collecting the text.
final class XMLCheck: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    var text = ""
    var error: Error?
    var attributes: [(element: String, name: String, value: String)] = []

    /// Parses `markup`; false (with `error`) if it is not well-formed.
    func parse(_ markup: String) -> Bool {
        let parser = XMLParser(data: Data(markup.utf8))
        parser.delegate = self
        let ok = parser.parse()
        error = parser.parserError
        return ok
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes attributeDict: [String: String] = [:]
    ) {
        counts[elementName, default: 0] += 1
        for (name, value) in attributeDict { attributes.append((elementName, name, value)) }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
    }
}

/// Checks the report promises: no network, no script.
enum Offline {
    /// The first thing in `html` that would reach outside the file, if any.
    static func violation(in html: String) -> String? {
        let lower = html.lowercased()
        for needle in [
            "http://", "https://", "<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "<object", "<embed", "<img",
        ]
        where lower.contains(needle) {
            return needle
        }
        if lower.contains("=\"//") || lower.contains("='//") { return "protocol-relative URL" }
        return nil
    }
}
