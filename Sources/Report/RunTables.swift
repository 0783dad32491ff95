import Buffer

/// The HTML tables: one summary row per run, and each run's iterations.
enum RunTables {
    static func summary(_ runs: [RunReportData]) -> String {
        var html = """
            <table class="runs">
            <thead><tr><th></th><th>run</th><th>config</th><th>status</th><th class="num">iterations done</th>\
            <th class="num">final eval reward</th><th class="num">train tokens</th><th class="num">vs ρ = 1</th></tr></thead>
            <tbody>

            """
        for (index, run) in runs.enumerated() {
            var config = escape(run.config.summary)
            if let fork = run.forkedFrom { config += "<br/>fork of <b>\(escape(fork.run))</b> at t = \(fork.t)" }
            config += "<br/><span class=\"muted\">\(escape(run.promptSet)) · reward \(escape(run.rewardModel))</span>"
            var status = escape(run.status)
            if let reason = run.statusReason { status += "<br/><span class=\"muted\">\(escape(reason))</span>" }
            let final = run.finalEvaluation.map { "\(Format.reward($0.reward)) <span class=\"muted\">(π_\($0.t))</span>" } ?? "–"
            var tokens = Format.count(run.totalTrainTokens)
            if run.ownTrainTokens != run.totalTrainTokens {
                tokens += "<br/><span class=\"muted\">own \(Format.count(run.ownTrainTokens))</span>"
            }
            let ratio = run.fullOnlineTokenEstimate.flatMap { full in full > 0 ? Double(run.totalTrainTokens) / Double(full) : nil }
            html += """
                <tr><td><span class="swatch" style="background:\(Palette.color(index))"></span></td>\
                <td class="name">\(escape(run.name))</td><td>\(config)</td><td>\(status)</td>\
                <td class="num">\(run.iterationsDone) / \(run.points.count)</td><td class="num">\(final)</td>\
                <td class="num">\(tokens)</td><td class="num">\(Format.percent(ratio))</td></tr>

                """
        }
        return html + "</tbody>\n</table>\n"
    }

    static func iterations(_ run: RunReportData) -> String {
        let quantiles = Dictionary(run.rewardQuantiles.map { ($0.t, $0) }, uniquingKeysWith: { a, _ in a })
        let splits = Dictionary(run.gainSplit.map { ($0.t, $0) }, uniquingKeysWith: { a, _ in a })
        var html = """
            <table class="iterations">
            <thead><tr><th class="num">t</th><th>state</th><th class="num">eval reward π_t</th><th class="num">mean r_w (D_t)</th>\
            <th class="num">regenerated</th><th class="num">reused</th><th class="num">train tokens</th>\
            <th class="num">cumulative before t</th><th class="num">gain bottom / top</th></tr></thead>
            <tbody>

            """
        for point in run.points {
            let split = splits[point.t].map { "\(Format.percent($0.bottomShare)) / \(Format.percent($0.topShare))" } ?? "–"
            let shared = point.inherited ? " class=\"inherited\"" : ""
            html += """
                <tr\(shared)><td class="num">\(point.t)</td><td>\(escape(point.state))\(point.inherited ? " <span class=\"muted\">(shared)</span>" : "")</td>\
                <td class="num">\(Format.reward(point.evalReward))</td><td class="num">\(Format.reward(quantiles[point.t]?.mean))</td>\
                <td class="num">\(Format.count(point.regenerated))</td><td class="num">\(Format.count(point.reused))</td>\
                <td class="num">\(Format.count(point.trainTokens))</td><td class="num">\(Format.count(point.cumulativeTokens))</td>\
                <td class="num">\(split)</td></tr>

                """
        }
        return html + "</tbody>\n</table>\n"
    }
}
