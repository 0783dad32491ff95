import ArgumentParser
import Buffer
import Experiments
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
    var runs: [String] = []

    @Option(
        help: ArgumentHelp(
            "Report the experiment whose runs are named LABEL-… (the label `optune experiment` printed): eval reward vs generated tokens per cell with 95% intervals, and its tables.",
            valueName: "LABEL"))
    var experiment: String?

    @Option(name: .shortAndLong, help: "The HTML file to write.")
    var output = "report.html"

    func validate() throws {
        guard runs.isEmpty != (experiment == nil) else { throw ValidationError("give --run NAME… or --experiment LABEL (one of them)") }
    }

    func run() async throws {
        if let experiment {
            let url = try await DatabaseTarget().connectionURL(progress: { note($0) })
            let buffer = try await ReplayBuffer.connect(to: url, applicationName: "optune-report")
            let grid = try await ExperimentGrid.discover(label: experiment, buffer: buffer)
            await buffer.close()
            guard let grid else { throw ValidationError("no runs named \(experiment)-s… (optune experiment prints its label)") }
            let result = try await grid.collect(databaseURL: url)
            let html = ExperimentReport.render(
                title: "optune experiment \(experiment)", curves: result.reportCurves(), tables: result.table(), generatedAt: Date())
            try html.write(toFile: output, atomically: true, encoding: .utf8)
            print("wrote \(output) (\(html.utf8.count) bytes, \(grid.cells.count) cells × \(grid.seeds.count) seeds)")
            return
        }
        let buffer = try await DatabaseTarget().connect(applicationName: "optune-report")
        let data = try await buffer.reportData(runNames: runs)
        let html = HTMLReport.render(data, title: "optune report", generatedAt: Date())
        try html.write(toFile: output, atomically: true, encoding: .utf8)
        print("wrote \(output) (\(html.utf8.count) bytes, \(data.count) run(s))")
    }
}
