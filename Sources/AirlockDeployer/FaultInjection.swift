import AirlockCore
import Foundation

/// Fault points for the recovery tests. With `AIRLOCK_FAULT_CRASH_AT=<point>` in its environment the
/// server kills itself with SIGKILL when a deploy or rollback reaches that point, exactly as a power
/// cut or the OOM killer would; with `AIRLOCK_FAULT_FAIL_AT=<point>` the step fails there instead, as
/// a migration or start that goes wrong would. Unset (always, outside tests) they do nothing.
enum FaultInjection {
    static let variable = "AIRLOCK_FAULT_CRASH_AT"
    static let failureVariable = "AIRLOCK_FAULT_FAIL_AT"
    /// The points, in the order a switch passes them (`during-start`: the Kubernetes target only).
    static let points = ["after-record", "after-stop", "after-backup", "after-database", "during-start", "after-start", "after-mark"]

    static func crashIfRequested(_ point: String) {
        guard crashRequested(at: point) else { return }
        FileHandle.standardError.write(Data("airlock: fault injection: SIGKILL at \(point)\n".utf8))
        kill(getpid(), SIGKILL)
    }

    /// Whether the crash at `point` is requested: for a point a target reaches while a tool it started
    /// still runs (`during-start`: Helm's upgrade made its revision and waits for the pods).
    static func crashRequested(at point: String) -> Bool {
        assert(points.contains(point), "unknown fault point \(point)")
        return ProcessInfo.processInfo.environment[variable] == point
    }

    static func failIfRequested(_ point: String) throws(AirlockError) {
        assert(points.contains(point), "unknown fault point \(point)")
        guard ProcessInfo.processInfo.environment[failureVariable] == point else { return }
        throw .environment("Injected failure at \(point)")
    }
}
