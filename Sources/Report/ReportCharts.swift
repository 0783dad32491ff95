import Buffer

/// The report's four plots, built from the loaded run data.
enum ReportCharts {
    static func evalByIteration(_ runs: [RunReportData]) -> String {
        LineChart(
            label: "Eval reward of π_t by iteration t", xTitle: "iteration t (policy π_t)", yTitle: "mean eval reward",
            integerX: true, series: evalSeries(runs) { Double($0.t) }
        ).render()
    }

    static func evalByTokens(_ runs: [RunReportData]) -> String {
        LineChart(
            label: "Eval reward of π_t by cumulative generated train tokens",
            xTitle: "train tokens generated to reach π_t (iterations 0 … t−1)", yTitle: "mean eval reward",
            xTickLabel: { value, _ in Format.compact(value) }, series: evalSeries(runs) { Double($0.cumulativeTokens) }
        ).render()
    }

    static func evalSeries(_ runs: [RunReportData], x: (ReportPoint) -> Double) -> [LineSeries] {
        runs.enumerated().map { index, run in
            LineSeries(
                name: run.name, color: Palette.color(index), dash: Palette.dash(index),
                points: run.points.map { point in
                    var tip = "\(run.name) · π_\(point.t): eval \(Format.reward(point.evalReward))"
                    if let sd = point.evalStddev { tip += " ± \(Format.reward(sd)) (sd, n = \(point.evalCount))" }
                    tip += " · \(Format.count(point.cumulativeTokens)) train tokens before t"
                    if point.inherited { tip += " · shared with the run it forked from" }
                    return LinePoint(x: x(point), y: point.evalReward, hollow: point.inherited, tooltip: tip)
                })
        }
    }

    static func rewardDistribution(_ runs: [RunReportData]) -> String {
        BoxPlotChart(
            label: "Chosen reward r_w over the pairs of D_t, by iteration", xTitle: "iteration t (D_t)",
            yTitle: "chosen reward r_w",
            series: runs.enumerated().map { index, run in
                BoxPlotChart.Series(
                    name: run.name, color: Palette.color(index),
                    boxes: Dictionary(
                        run.rewardQuantiles.map { q in
                            (
                                q.t,
                                Box(
                                    p10: q.p10, p25: q.p25, p50: q.p50, p75: q.p75, p90: q.p90, mean: q.mean,
                                    tooltip: "\(run.name) · D_\(q.t) (\(Format.count(q.count)) pairs): mean \(Format.reward(q.mean)) · "
                                        + "p10 \(Format.reward(q.p10)) · p25 \(Format.reward(q.p25)) · median \(Format.reward(q.p50)) · "
                                        + "p75 \(Format.reward(q.p75)) · p90 \(Format.reward(q.p90)) · min \(Format.reward(q.min)) · max \(Format.reward(q.max))"
                                )
                            )
                        }, uniquingKeysWith: { first, _ in first }))
            }
        ).render()
    }

    static func gainSplit(_ runs: [RunReportData]) -> String {
        GainSplitChart(
            label: "Share of the reward gain from the bottom and the top half of prompts ranked at t−1",
            xTitle: "iteration t (gain from D_{t−1} to D_t)", yTitle: "share of the gain",
            series: runs.enumerated().map { index, run in
                GainSplitChart.Series(
                    name: run.name, color: Palette.color(index),
                    bars: Dictionary(
                        run.gainSplit.map { split in
                            (
                                split.t,
                                GainSplitChart.Bar(
                                    bottomShare: split.bottomShare, topShare: split.topShare,
                                    tooltip: "\(run.name) · t = \(split.t): bottom half \(Format.percent(split.bottomShare)) "
                                        + "(Σ gain \(Format.signed(split.bottomGain)) over \(split.bottomCount) prompts), top half "
                                        + "\(Format.percent(split.topShare)) (Σ gain \(Format.signed(split.topGain)) over \(split.topCount) prompts)"
                                )
                            )
                        }, uniquingKeysWith: { first, _ in first }))
            }
        ).render()
    }
}
