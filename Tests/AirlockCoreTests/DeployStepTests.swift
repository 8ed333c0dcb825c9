import AirlockCore
import Foundation
import Testing

/// A deploy's step times as the API spells them and as the CLI and the deploy's page turn them into lengths.
@Suite struct DeployStepTests {
    @Test func eachStepLastsUntilTheNextBeginsAndTheLastUntilTheEnd() {
        let zero = Date(timeIntervalSince1970: 1_800_000_000)
        let steps = [DeployStep("Preparing", startedAt: zero), DeployStep("Stopping", startedAt: zero.addingTimeInterval(0.25)),
                     DeployStep("Starting", startedAt: zero.addingTimeInterval(0.25)), DeployStep("Healthy", startedAt: zero.addingTimeInterval(10.25))]
        #expect(DeployStep.durations(of: steps, end: nil) == [0.25, 0, 10, nil])
        #expect(DeployStep.durations(of: steps, end: zero.addingTimeInterval(10.75)) == [0.25, 0, 10, 0.5])
        #expect(DeployStep.durations(of: [], end: zero).isEmpty)
        // A clock that stepped back (an NTP correction) gives 0, never a negative length.
        #expect(DeployStep.durations(of: [steps[3], steps[0]], end: nil) == [0, nil])
        #expect(steps.map { DeployStep.durations(of: steps, end: nil)[steps.firstIndex(of: $0)!].map(DeployStep.durationText) }
                == ["250 ms", "0 ms", "10.0 s", nil])
    }

    @Test func timestampsKeepMillisecondsAndReadBack() throws {
        let date = Date(timeIntervalSince1970: 1_796_360_462.345)
        let text = DeployStep.timestamp(date)
        #expect(text == "2026-12-04T05:01:02.345Z")
        let read = try #require(DeployStep.date(fromTimestamp: text))
        #expect(abs(read.timeIntervalSince(date)) < 0.001)
        for bad in ["", "yesterday", "2026-12-04", "2026-13-04T05:01:02.345Z"] {
            #expect(DeployStep.date(fromTimestamp: bad) == nil, "\(bad)")
        }
    }
}
