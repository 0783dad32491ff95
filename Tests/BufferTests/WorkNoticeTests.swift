import Buffer
import Postgres
import TestSupport
import Testing

@Suite("Wake-ups: each daemon wakes for the notifications that can concern it")
struct WorkNoticeTests {
    @Test func eachAudienceIsConcernedByItsOwnNotices() {
        let transition = { (state: IterationState) in WorkNotice.transition(run: 3, t: 1, to: state) }
        let cases: [(String, Set<String>)] = [
            (WorkNotice.generation, ["coordinators", "generators"]),
            (WorkNotice.scoring, ["coordinators", "scorers"]),
            (WorkNotice.scored, ["coordinators"]),
            (WorkNotice.retry, ["coordinators", "generators", "scorers", "trainers"]),
            (transition(.generating), ["coordinators", "generators"]),
            (transition(.scoring), ["coordinators", "scorers"]),
            (transition(.training), ["coordinators", "trainers"]),
            (transition(.evaluating), ["coordinators"]),
            (transition(.done), ["coordinators"]),
            ("something a newer version sends", ["coordinators", "generators", "scorers", "trainers"]),
        ]
        let audiences: [(String, WorkNotice.Audience)] = [
            ("coordinators", .coordinators), ("generators", .generators), ("scorers", .scorers), ("trainers", .trainers),
        ]
        for (payload, expected) in cases {
            let woken = Set(audiences.filter { WorkNotice.concerns(payload, $0.1) }.map(\.0))
            #expect(woken == expected, "\(payload)")
        }
    }

    @Test func aTrainerSleepsThroughSubmissionsAndWakesWhenAnIterationAwaitsTraining() async throws {
        try await TestDatabase.withFresh(migrated: false) { database in
            let wakeUp = await WakeUp(databaseURL: database.url, pollInterval: .seconds(20), audience: .trainers)
            let sender = try await database.connect()
            let started = ContinuousClock.now
            let waiting = Task { await wakeUp.wait() }
            try await Task.sleep(for: .milliseconds(200))
            for _ in 0..<3 { try await sender.notify(WorkNotice.channel, payload: WorkNotice.scored) }
            try await sender.notify(WorkNotice.channel, payload: WorkNotice.generation)
            try await Task.sleep(for: .milliseconds(500))
            let beforeTraining = ContinuousClock.now - started
            try await sender.notify(WorkNotice.channel, payload: WorkNotice.transition(run: 1, t: 0, to: .training))
            await waiting.value
            let woke = ContinuousClock.now - started
            // Still waiting after the submissions' notices; woken by the transition, long before the poll.
            #expect(woke >= beforeTraining, "woke at \(woke), before the training notice was sent at \(beforeTraining)")
            #expect(woke < .seconds(10), "waited \(woke) for a training notice")
            await wakeUp.close()
            await sender.close()
        }
    }
}
