import AirlockCore
import Foundation

/// What Airflow's health endpoint reports (2.x `/health`, 3.x `/api/v2/monitor/health`).
///
/// Parsed from HTTP rather than asked of the CLI: every `airflow` invocation costs 4–8 s on these
/// machines (facts gotcha 8), the endpoint answers in milliseconds.
public struct AirflowHealth: Sendable, Hashable {
    /// One component's entry; `status` is nil when Airflow reports it as not present (e.g. no triggerer job ever ran).
    public struct Component: Sendable, Hashable {
        public var status: String?
        /// The latest heartbeat, when the component has one.
        public var latestHeartbeat: Date?
        public var isHealthy: Bool { status == "healthy" }
    }

    /// Components by Airflow's name: `metadatabase`, `scheduler`, `triggerer`, `dag_processor`.
    public var components: [String: Component]

    public init(components: [String: Component]) {
        self.components = components
    }

    public subscript(_ name: String) -> Component? { components[name] }

    /// Parses the endpoint's JSON body; nil when it is not the health document (e.g. a 404 page).
    public init?(json data: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              object["metadatabase"] != nil || object["scheduler"] != nil else { return nil }
        var components: [String: Component] = [:]
        for (name, value) in object {
            guard let entry = value as? [String: Any] else { continue }
            let heartbeat = entry.first { $0.key.hasPrefix("latest_") && $0.key.hasSuffix("_heartbeat") }?.value as? String
            components[name] = Component(status: entry["status"] as? String, latestHeartbeat: heartbeat.flatMap(Self.parseTimestamp))
        }
        self.components = components
    }

    /// The components among `required` that are not healthy, or whose heartbeat predates `since`
    /// (a scheduler killed less than ~30 s ago still looks alive in the DB, so a fresh start must
    /// see a heartbeat from *its* processes).
    ///
    /// A component Airflow calls "unhealthy" whose heartbeat is younger than `heartbeatTolerance`
    /// counts as healthy: Airflow judges the standalone dag processor by `job_heartbeat_sec × 2.1`
    /// (10.5 s, not configurable), and a loaded 2-core machine delays its loop longer than that, so a
    /// deployment read "unhealthy" right after it was DEPLOYED. The tolerance equals the scheduler's
    /// and triggerer's configured thresholds (see `AirflowInstance.processEnvironment`).
    public func unhealthy(required: [String], since: Date? = nil, now: Date = Date()) -> [String] {
        required.filter { name in
            guard let component = components[name] else { return true }
            if !component.isHealthy {
                guard name != "metadatabase", component.status == "unhealthy", let beat = component.latestHeartbeat,
                      now.timeIntervalSince(beat) < Self.heartbeatTolerance else { return true }
            }
            if name != "metadatabase", let since {
                guard let beat = component.latestHeartbeat else { return true }
                return beat < since
            }
            return false
        }
    }

    /// How old a heartbeat may be for its component to count as alive, whatever Airflow's own threshold.
    public static let heartbeatTolerance: TimeInterval = 120

    /// Airflow writes UTC ISO 8601 with microseconds and an offset (`2025-06-01T10:00:00.123456+00:00`).
    /// Parsed by hand: whole seconds plus the offset are all a freshness check needs.
    static func parseTimestamp(_ text: String) -> Date? {
        let chars = Array(text.utf8)
        guard chars.count >= 19 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? { Int(String(decoding: chars[from..<(from + count)], as: UTF8.self)) }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2) else { return nil }
        var offsetSeconds = 0
        if let sign = chars[19...].firstIndex(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }),
           chars.count >= sign + 6, let hours = number(sign + 1, 2), let minutes = number(sign + 4, 2) {
            offsetSeconds = (hours * 3600 + minutes * 60) * (chars[sign] == UInt8(ascii: "-") ? -1 : 1)
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)) else { return nil }
        return date.addingTimeInterval(TimeInterval(-offsetSeconds))
    }
}
