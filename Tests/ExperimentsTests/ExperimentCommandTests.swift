import Buffer
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("optune experiment as a process")
struct ExperimentCommandTests {
    static let arguments = [
        "experiment", "--seeds", "1", "2", "--rhos", "0.5", "1", "--strategies", "reward", "highest", "--losses", "wdpo",
        "--iterations", "2", "--train-prompts", "40", "--eval-prompts", "20", "--samples", "3", "--eval-samples", "2", "--epochs", "1",
        "--label", "sig",
    ]

    @Test func sigintStopsTheWholeGridAndTheSameCommandReusesWhatFinished() async throws {
        try await TestDatabase.withFresh { database in
            let child = try OptuneProcess(Self.arguments, databaseURL: database.url)
            let deadline = ContinuousClock.now + .seconds(600)
            while !child.output.contains("seed 1: rho1-full-wdpo final eval"), !child.hasExited, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            child.send(SIGINT)
            let status = await child.waitForExit(timeout: .seconds(120))
            #expect(status == 130, "output:\n\(child.output)")
            #expect(child.output.contains("INTERRUPTED"))
            #expect(!child.output.contains("seed 2:"), "the grid went on after SIGINT:\n\(child.output)")

            let connection = try await database.connect()
            let doneBefore = try await connection.query("SELECT name FROM optune.runs WHERE status = 'done' ORDER BY name")
                .map { try $0.decode(0, as: String.self) }
            #expect(doneBefore.contains("sig-s1-rho1-full-wdpo") && doneBefore.contains("sig-s1-wdpo-shared"))
            #expect(!doneBefore.contains("sig-s2-wdpo-shared"))

            let (again, output) = try await OptuneProcess.run(Self.arguments, databaseURL: database.url, timeout: .seconds(600))
            #expect(again == 0, "output:\n\(output)")
            #expect(output.contains("seed 1: rho1-full-wdpo final eval") && output.contains("(reused)"))
            #expect(output.contains("seed 1 wdpo: shared iteration 0 reused"))
            #expect(!output.contains("unfinished") && !output.contains("INTERRUPTED"), "\(output)")
            #expect(output.contains("ρ=0.5 wdpo: reward − highest"))
            // Every run exists once and is done: 2 seeds × (shared + ρ = 1 + reward + highest).
            let runs = try await connection.query("SELECT count(*), count(*) FILTER (WHERE status = 'done') FROM optune.runs")[0]
            #expect(try runs.decode(0, as: Int.self) == 8 && runs.decode(1, as: Int.self) == 8)
            // Each prompt's difficulty is in its metadata, so SQL can see what a selection took.
            let levels = try await connection.query(
                """
                SELECT count(DISTINCT (p.metadata->>'difficulty')::int) FROM optune.selections s
                JOIN optune.prompts p ON p.id = s.prompt_id
                """)[0].decode(0, as: Int.self)
            #expect(levels >= 5)
            await connection.close()
        }
    }
}
