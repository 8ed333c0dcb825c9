import Foundation

/// A container of the release's pods that cannot start, read from a pod's status as the Kubernetes API
/// returns it (`kubectl get pods -o json`), so that a deploy fails with the reason as soon as it is
/// clear rather than when Helm's `--wait` runs out (`KubernetesSettings.startTimeout`, 900 s by default).
struct PodStartFailure: Hashable, Sendable {
    var pod: String
    var container: String
    /// The kubelet's waiting reason: `CrashLoopBackOff`, `ImagePullBackOff`, …
    var reason: String
    /// The kubelet's message for it (the registry's answer to a pull), or "".
    var message: String
    var restarts: Int
    /// The exit code of the container's last run, for a crash loop.
    var exitCode: Int?
    /// The runtime's message about the last run (`exec: "airflow": executable file not found`), or "".
    var lastRunMessage: String = ""

    /// Waiting reasons that do not go away by waiting: the image cannot be pulled or named, or no container
    /// can be made from the pod's spec (a missing Secret or ConfigMap key). The kubelet retries these with
    /// a back-off, so one sighting may be a blip; `PodStartWatch` fails on the second in a row.
    static let stuckReasons: Set<String> = ["ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                                            "CreateContainerConfigError", "CreateContainerError"]

    var crashLoops: Bool { reason == "CrashLoopBackOff" }

    /// The containers (init containers included) of `pods` that crash-loop after at least `restartsThatFail`
    /// restarts, or wait for one of `stuckReasons`. Pods that are being deleted are left out.
    static func find(in pods: [[String: Any]], restartsThatFail: Int) -> [PodStartFailure] {
        var failures: [PodStartFailure] = []
        for pod in pods {
            let metadata = pod["metadata"] as? [String: Any] ?? [:]
            guard metadata["deletionTimestamp"] == nil else { continue }
            let name = metadata["name"] as? String ?? "?"
            let status = pod["status"] as? [String: Any] ?? [:]
            let containers = (status["initContainerStatuses"] as? [[String: Any]] ?? []) + (status["containerStatuses"] as? [[String: Any]] ?? [])
            for container in containers {
                guard let waiting = (container["state"] as? [String: Any])?["waiting"] as? [String: Any],
                      let reason = waiting["reason"] as? String, let containerName = container["name"] as? String else { continue }
                let restarts = container["restartCount"] as? Int ?? 0
                let crashLoop = reason == "CrashLoopBackOff" && restarts >= restartsThatFail
                guard crashLoop || stuckReasons.contains(reason) else { continue }
                let terminated = (container["lastState"] as? [String: Any])?["terminated"] as? [String: Any]
                failures.append(PodStartFailure(pod: name, container: containerName, reason: reason,
                                                message: (waiting["message"] as? String ?? "").trimmingCharacters(in: .whitespacesAndNewlines),
                                                restarts: restarts, exitCode: terminated?["exitCode"] as? Int,
                                                lastRunMessage: (terminated?["message"] as? String ?? "").trimmingCharacters(in: .whitespacesAndNewlines)))
            }
        }
        return failures
    }
}

/// Successive looks at the release's pods while Helm waits: decides when a start failure is final.
struct PodStartWatch {
    /// Containers (pod/container) seen stuck at the previous look.
    private var stuckBefore: Set<String> = []
    let restartsThatFail: Int

    init(restartsThatFail: Int) { self.restartsThatFail = restartsThatFail }

    /// The failure that ends the wait, if this look shows one: a crash loop at once, a stuck reason when
    /// the same container was stuck at the previous look too.
    mutating func look(at pods: [[String: Any]]) -> PodStartFailure? {
        let failures = PodStartFailure.find(in: pods, restartsThatFail: restartsThatFail)
        if let crash = failures.first(where: \.crashLoops) { return crash }
        let stuck = failures.filter { !$0.crashLoops }
        defer { stuckBefore = Set(stuck.map { "\($0.pod)/\($0.container)" }) }
        return stuck.first { stuckBefore.contains("\($0.pod)/\($0.container)") }
    }
}
