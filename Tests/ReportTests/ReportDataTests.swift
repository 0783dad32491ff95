import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

@testable import Report

@Suite("Report data from a real run")
struct ReportDataTests {
    @Test func aFinishedRunAndItsForkLoadAndRender() async throws {
        try await TestDatabase.withFresh { database in
            let (status, output) = try await OptuneProcess.run(
                ["run", "--name", "r", "--iterations", "2", "--train-prompts", "60", "--eval-prompts", "20", "--epochs", "1"],
                databaseURL: database.url)
            try #require(status == 0, "optune run failed:\n\(output)")
            let (forkStatus, forkOutput) = try await OptuneProcess.run(
                ["run", "--name", "f", "--fork", "r@0", "--rho", "1", "--strategy", "full", "--iterations", "1", "--epochs", "1"],
                databaseURL: database.url)
            try #require(forkStatus == 0, "optune run --fork failed:\n\(forkOutput)")

            let buffer = ReplayBuffer(connection: try await database.connect())
            let runs = try await buffer.reportData(runNames: ["r", "f", "r"])
            try #require(runs.map(\.name) == ["r", "f"])
            let (r, f) = (runs[0], runs[1])

            // r: iterations 0 and 1 train, iteration 2 only evaluates π_2.
            #expect(r.status == "done")
            #expect(r.config.rho == 0.5 && r.config.strategy == "reward" && r.config.iterationsPlanned == 2)
            #expect(r.config.epochs == 1)
            #expect(r.points.map(\.t) == [0, 1, 2])
            #expect(r.points.allSatisfy { $0.evalReward != nil && $0.evalCount == 20 && !$0.inherited })
            #expect(r.points.map(\.regenerated) == [60, 30, 0])
            #expect(r.points[0].cumulativeTokens == 0)
            #expect(r.points[1].cumulativeTokens == r.points[0].trainTokens)
            #expect(r.points[2].cumulativeTokens == r.totalTrainTokens)
            #expect(r.points[2].trainTokens == 0)
            let stored = try await buffer.trainTokensGenerated(run: r.id)
            #expect(r.totalTrainTokens == stored)
            #expect(r.finalEvaluation?.t == 2)
            let finalReward = try await buffer.evalReward(run: r.id, t: 2)
            #expect(r.finalEvaluation?.reward == finalReward)

            // The distribution of r_w in D_0 and D_1.
            #expect(r.rewardQuantiles.map(\.t) == [0, 1])
            for q in r.rewardQuantiles {
                #expect(q.count == 60)
                #expect(q.min <= q.p10 && q.p10 <= q.p25 && q.p25 <= q.p50 && q.p50 <= q.p75 && q.p75 <= q.p90 && q.p90 <= q.max)
                let mean = try await buffer.connection.query(
                    "SELECT avg(r_w) FROM optune.pairs WHERE run_id = $1 AND t = $2", [r.id, Int32(q.t)])[0].decode(0, as: Double.self)
                #expect(abs(q.mean - mean) < 1e-12)
            }

            // Fig. 2 at t = 1: at ρ = 0.5 the bottom half ranked at t − 1 is exactly the selection,
            // so the top half is all reused and gained nothing.
            try #require(r.gainSplit.map(\.t) == [1])
            let split = r.gainSplit[0]
            #expect(split.bottomCount == 30 && split.topCount == 30)
            #expect(split.topGain == 0)
            let total = try await buffer.connection.query(
                """
                SELECT sum(b.r_w - a.r_w) FROM optune.pairs a JOIN optune.pairs b ON b.prompt_id = a.prompt_id
                WHERE a.run_id = $1 AND a.t = 0 AND b.run_id = $1 AND b.t = 1
                """, [r.id])[0].decode(0, as: Double.self)
            #expect(abs(split.totalGain - total) < 1e-9)

            // f forks r at 0: iteration 0 (its eval and D_0) is r's, shared; t = 1 and 2 are its own.
            #expect(f.forkedFrom == ForkOrigin(run: "r", t: 0))
            #expect(f.points.map(\.t) == [0, 1, 2])
            #expect(f.points.map(\.inherited) == [true, false, false])
            #expect(f.points[0].evalReward == r.points[0].evalReward)
            #expect(f.points[1].regenerated == 60)
            #expect(f.points[1].cumulativeTokens == r.points[0].trainTokens)
            #expect(f.ownTrainTokens == f.points[1].trainTokens)
            #expect(f.rewardQuantiles.first == r.rewardQuantiles.first)
            // Its first own iteration's gain is measured against the parent's D_0.
            #expect(f.gainSplit.map(\.t) == [1])
            #expect(f.gainSplit[0].bottomCount + f.gainSplit[0].topCount == 60)

            let html = HTMLReport.render(runs, title: "optune report", generatedAt: Date())
            let check = XMLCheck()
            #expect(check.parse(html), "\(String(describing: check.error))")
            #expect(check.counts["svg"] == 4)
            #expect(Offline.violation(in: html) == nil)
            await buffer.connection.close()
        }
    }

    @Test func anUnknownRunIsNamedInTheError() async throws {
        try await TestDatabase.withFresh { database in
            let buffer = ReplayBuffer(connection: try await database.connect())
            do {
                _ = try await buffer.reportData(runNames: ["missing-one"])
                Issue.record("expected an error")
            } catch let error as UnknownRunError {
                #expect(error.names == ["missing-one"])
                #expect(error.description.contains("'missing-one'"))
            }
            #expect(try await buffer.reportData(runNames: []).isEmpty)
            await buffer.connection.close()
        }
    }
}
