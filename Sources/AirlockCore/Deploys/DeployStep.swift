import Foundation

/// One step of a deploy as the server began it: what it said and when.
///
/// Why the time travels with the step: a client sees the steps only when it polls (the CLI every 0.5 s, a
/// browser when an event arrives), and several steps can begin between two polls. Timing them by the poll
/// made every step but the last of such a batch "0 ms"; the server's clock gives each its real length.
public struct DeployStep: Sendable, Equatable {
    public var message: String
    public var startedAt: Date

    public init(_ message: String, startedAt: Date) {
        self.message = message
        self.startedAt = startedAt
    }

    /// How long each step took: until the next step began; the last one until `end` (the deploy's end, or
    /// now while it runs), nil when no end is given.
    public static func durations(of steps: [DeployStep], end: Date?) -> [TimeInterval?] {
        steps.indices.map { index in
            let next = index + 1 < steps.count ? steps[index + 1].startedAt : end
            return next.map { max(0, $0.timeIntervalSince(steps[index].startedAt)) }
        }
    }

    /// A step's length as people read it, in the CLI's progress lines and on the deploy's page: `340 ms`, `12.3 s`.
    public static func durationText(_ seconds: TimeInterval) -> String {
        seconds < 1 ? "\(Int(seconds * 1000)) ms" : String(format: "%.1f s", seconds)
    }

    /// The API's spelling of a step's time: ISO 8601 in UTC with milliseconds (`2026-12-04T05:01:02.345Z`) —
    /// the API's other dates have whole seconds, too coarse for steps that take a few hundred milliseconds.
    public static func timestamp(_ date: Date) -> String { date.formatted(timestampFormat) }

    /// A time in the API's spelling (`timestamp`); nil for anything else.
    public static func date(fromTimestamp text: String) -> Date? { try? timestampFormat.parse(text) }

    private static let timestampFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!)
}
