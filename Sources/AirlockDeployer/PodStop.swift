/// Whether a pod of the release still runs anything, read from its status as the Kubernetes API returns it
/// (`kubectl get pods -o json`): what a stop before a schema change waits for.
enum PodStop {
    /// True when the pod is being deleted and every container it has (init containers too) has terminated:
    /// no process of it is left to use the metadata DB. The pod object itself may stay `Terminating` well
    /// after that — this machine's kubelet (1.20) kept pods 50–70 s past their containers' exit —,
    /// and waiting for the object to go (`kubectl wait --for=delete`) added that to a rollback's downtime.
    /// A pod with a container not yet terminated (running, or waiting and so possibly about to start) counts
    /// as running, as does one not yet being deleted.
    static func hasStopped(_ pod: [String: Any]) -> Bool {
        guard (pod["metadata"] as? [String: Any])?["deletionTimestamp"] != nil else { return false }
        let status = pod["status"] as? [String: Any] ?? [:]
        let containers = (status["initContainerStatuses"] as? [[String: Any]] ?? []) + (status["containerStatuses"] as? [[String: Any]] ?? [])
        guard !containers.isEmpty else { return false }
        return containers.allSatisfy(hasEnded)
    }

    /// A container that has terminated, or one the kubelet could not find any more after the pod's deletion:
    /// kubelet 1.20 then reports it as `waiting` (`PodInitializing`) with a last state `terminated`, reason
    /// `ContainerStatusUnknown` ("The container could not be located when the pod was deleted. The container
    /// used to be Running") until the pod is gone — seen here for up to 70 s after the container's exit.
    private static func hasEnded(_ container: [String: Any]) -> Bool {
        let state = container["state"] as? [String: Any] ?? [:]
        if state["terminated"] != nil { return true }
        guard state["waiting"] != nil, let last = (container["lastState"] as? [String: Any])?["terminated"] as? [String: Any] else { return false }
        return last["reason"] as? String == "ContainerStatusUnknown"
    }
}
