import ArgumentParser
import Buffer
import Foundation
import Report

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML report (inline SVG, no scripts, no network) for runs.",
        discussion: """
            Plots eval reward against iteration and against cumulative generated tokens (all runs on \
            one plot), the chosen-reward distribution per iteration, and the Fig. 2 split of where the \
            reward gain came from. tools/report-screenshot.sh renders it with headless Chromium.
            """)

    @Option(name: .customLong("run"), parsing: .upToNextOption, help: "Runs to compare (by name).")
    var runs: [String]

    @Option(name: .shortAndLong, help: "The HTML file to write.")
    var output = "report.html"

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one --run") }
    }

    func run() async throws {
        let buffer = try await DatabaseTarget().connect(applicationName: "optune-report")
        let data = try await buffer.reportData(runNames: runs)
        let html = HTMLReport.render(data, title: "optune report", generatedAt: Date())
        try html.write(toFile: output, atomically: true, encoding: .utf8)
        print("wrote \(output) (\(html.utf8.count) bytes, \(data.count) run(s))")
    }
}
