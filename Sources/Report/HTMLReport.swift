import Buffer
import Foundation

/// `optune report`: one self-contained HTML page — inline SVG plots, inline CSS, no script and
/// no URL of any kind, so it opens offline and can be mailed or archived as one file.
///
/// The markup is also well-formed XML (XHTML syntax: every element closed, void elements
/// self-closed, only numeric character references), so XML tools can read it. Every string
/// from the data (run names are user input) is escaped.
public enum HTMLReport {
    /// The report page for `runs`, in the given order (that order picks the colours).
    public static func render(_ runs: [RunReportData], title: String, generatedAt: Date) -> String {
        var body = "<h1>\(escape(title))</h1>\n"
        body += "<p class=\"meta\">Generated \(escape(timestamp(generatedAt))) · \(runs.count) run\(runs.count == 1 ? "" : "s")"
        if !runs.isEmpty { body += ": " + runs.map { "<b>\(escape($0.name))</b>" }.joined(separator: ", ") }
        body += "</p>\n"

        body += section(
            "Runs",
            """
            \(runs.isEmpty ? "<p>No runs were given.</p>\n" : RunTables.summary(runs))\
            <p class="note">Final eval reward: the newest evaluated policy. Train tokens: response tokens generated \
            for training over the run's lineage (a fork counts the shared iterations of the run it forked from; \
            “own” excludes them). vs ρ = 1: train tokens against iteration 0's (fully online) count times the \
            number of training iterations.</p>

            """)

        body += section(
            "Eval reward",
            """
            \(figure(ReportCharts.evalByIteration(runs), caption: """
                Mean reward of π_t on the held-out eval split, recorded at iteration t (the last point is the \
                evaluation-only iteration T). Open markers: iterations a fork shares with the run it forked from.
                """))\
            \(figure(ReportCharts.evalByTokens(runs), caption: """
                The same evaluations against the train tokens generated before iteration t, i.e. what it cost to \
                train π_t: a curve further left reaches the same reward with fewer generated tokens.
                """))
            """)

        body += section(
            "Chosen-reward distribution",
            figure(
                ReportCharts.rewardDistribution(runs),
                caption: """
                    Chosen rewards r_w of the pairs of D_t at each iteration, one box per run: the box spans the 25th to \
                    75th percentile, whiskers the 10th to 90th, the thick line is the median and the open dot the mean. \
                    Reused pairs keep the reward they had when they were generated. Hover a box for all quantiles.
                    """))

        body += section(
            "Where the gain comes from (Fig. 2)",
            figure(
                ReportCharts.gainSplit(runs),
                caption: """
                    Prompts are ranked by r_w in D_{t−1} (as the OPTune selector ranks them; for a fork's first own \
                    iteration, D_{t−1} is its parent's) and split into a bottom and a top half. A prompt's gain is its r_w \
                    in D_t minus its r_w in D_{t−1}; each bar is a half's share of the summed gain (shares add up to 100%; \
                    a half that lost reward has a negative share). Hover a bar for the sums.
                    """))

        if !runs.isEmpty {
            var details = ""
            for (index, run) in runs.enumerated() {
                details += """
                    <h3><span class="swatch" style="background:\(Palette.color(index))"></span>\(escape(run.name))</h3>
                    \(RunTables.iterations(run))
                    """
            }
            body += section("Iterations", details)
        }

        return page(title: title, body: body)
    }

    /// A whole self-contained page: `body` inside the shared head and stylesheet (plus `extraStyle`).
    static func page(title: String, extraStyle: String = "", body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="generator" content="optune report"/>
        <title>\(escape(title))</title>
        <style>
        \(stylesheet)\(extraStyle.isEmpty ? "" : "\n" + extraStyle)
        </style>
        </head>
        <body>
        <main>
        \(body)
        </main>
        </body>
        </html>

        """
    }

    static func section(_ heading: String, _ content: String) -> String {
        "<section>\n<h2>\(escape(heading))</h2>\n\(content)</section>\n"
    }

    static func figure(_ svg: String, caption: String) -> String {
        "<figure>\n\(svg)\n<figcaption>\(escape(caption))</figcaption>\n</figure>\n"
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date) + " UTC"
    }

    // No url(), no @import, no external fonts: the page must render offline.
    static let stylesheet = """
        :root { color-scheme: light; }
        body { margin: 0; background: #f6f6f4; color: #222;
               font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
        main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 48px; }
        h1 { font-size: 24px; margin: 0 0 4px; }
        h2 { font-size: 18px; margin: 0 0 12px; }
        h3 { font-size: 15px; margin: 18px 0 8px; }
        .meta, .muted, .note, figcaption { color: #666; }
        .note, figcaption { font-size: 12.5px; }
        section { background: #fff; border: 1px solid #e2e2de; border-radius: 6px; padding: 16px 18px; margin: 18px 0; }
        figure { margin: 0 0 18px; }
        figure:last-child { margin-bottom: 0; }
        figcaption { margin-top: 4px; max-width: 900px; }
        svg.chart { display: block; max-width: 100%; height: auto; }
        table { border-collapse: collapse; width: 100%; font-size: 13px; }
        th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #ecece8; vertical-align: top; }
        th { font-weight: 600; color: #444; background: #fafaf8; }
        .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        td.name { font-weight: 600; min-width: 6em; max-width: 16em; overflow-wrap: anywhere; }
        tr.inherited td { color: #777; }
        .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
        """
}
