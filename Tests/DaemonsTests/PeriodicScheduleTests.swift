import Testing

@testable import Daemons

@Suite("An action done at most once per interval")
struct PeriodicScheduleTests {
    @Test func dueAtOnceThenOncePerInterval() {
        let schedule = PeriodicSchedule(every: .seconds(1))
        let start = ContinuousClock.now
        #expect(schedule.isDue(now: start))
        #expect(!schedule.isDue(now: start + .milliseconds(10)))
        #expect(!schedule.isDue(now: start + .milliseconds(999)))
        #expect(schedule.isDue(now: start + .milliseconds(1000)))
        #expect(!schedule.isDue(now: start + .milliseconds(1500)))
        #expect(schedule.isDue(now: start + .milliseconds(2001)))
    }
}
