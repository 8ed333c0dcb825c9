import Foundation

/// The single-node cluster `scripts/k8s-test-cluster start` runs on this machine and the Helm it pins: what
/// every Kubernetes test runs with (and skips without, outside CI).
public enum KubernetesTestCluster {
    public static let kubeconfig = "/run/airlock-k8s/admin.kubeconfig"

    /// The pinned Helm 3.17.1 the script fetches into `~/.cache/airlock-k8s` (or `AIRLOCK_K8S_CACHE`), or nil
    /// before it ran once.
    public static var helm: String? {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["AIRLOCK_K8S_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/airlock-k8s").path
        let path = cache + "/helm/v3.17.1/helm"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// The running cluster's kubectl and the pinned Helm, or nil when the cluster is not running.
    public static var tools: (kubectl: String, helm: String)? {
        guard FileManager.default.fileExists(atPath: kubeconfig), let helm,
              let bin = try? String(contentsOfFile: "/run/airlock-k8s/bin", encoding: .utf8) else { return nil }
        let kubectl = bin.trimmingCharacters(in: .whitespacesAndNewlines) + "/kubectl"
        return FileManager.default.isExecutableFile(atPath: kubectl) ? (kubectl, helm) : nil
    }
}
