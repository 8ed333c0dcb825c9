import AirlockCore
import AirlockToolchain
import Foundation

/// The one place Airlock speaks to a Kubernetes cluster: `kubectl` and `helm` run with the deployment's
/// kubeconfig, context and namespace (`KubernetesSettings`). Every call is bounded in time; a failure
/// is `.environment` with the tool's own message.
struct KubernetesCluster: Sendable {
    var settings: KubernetesSettings
    var kubectlPath: String
    /// Helm, located (and bootstrapped when none is given, see `HelmTool`) on the first `helm` call.
    let helmTool: LazyHelm

    /// The tools: `AIRLOCK_KUBECTL`/`KUBECTL` (what `scripts/k8s-test-cluster` prints), else `kubectl` on
    /// `PATH`; Helm from `HelmTool` (`AIRLOCK_HELM`/`HELM`, else the pinned Helm in `paths.tools`). A
    /// missing tool is an error when it is first run, so a deployment can still be shown without them.
    init(settings: KubernetesSettings, paths: AirlockPaths, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.settings = settings
        kubectlPath = Self.tool("kubectl", variables: ["AIRLOCK_KUBECTL", "KUBECTL"], environment: environment)
        helmTool = LazyHelm(paths: paths, environment: environment)
    }

    /// `HelmTool.locate` once per cluster, on first use (a probe per call would double helm's process starts).
    /// A failure is kept for `retryAfter` seconds: status reads call Helm too, and each must not wait for
    /// another fetch from an index that just failed.
    actor LazyHelm {
        let paths: AirlockPaths
        let environment: [String: String]
        private var located: HelmTool?
        private var failure: (error: AirlockError, at: Date)?
        static let retryAfter: TimeInterval = 300

        init(paths: AirlockPaths, environment: [String: String]) {
            self.paths = paths
            self.environment = environment
        }

        func tool() async throws(AirlockError) -> HelmTool {
            if let located { return located }
            if let failure, Date().timeIntervalSince(failure.at) < Self.retryAfter { throw failure.error }
            do throws(AirlockError) {
                let tool = try await HelmTool.locate(paths: paths, environment: environment)
                located = tool
                return tool
            } catch {
                // A caller that gave up (a status read past its deadline) says nothing about Helm: the next one tries again.
                if !Task.isCancelled { failure = (error, Date()) }
                throw error
            }
        }
    }

    private static func tool(_ name: String, variables: [String], environment: [String: String]) -> String {
        for variable in variables {
            if let path = environment[variable], !path.isEmpty, FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return ProcessRunner.which(name, path: environment["PATH"]) ?? name
    }

    private var connection: [String] {
        ["--kubeconfig", settings.kubeconfig] + (settings.context.map { ["--context", $0] } ?? [])
    }

    /// `kubectl --namespace NS …`; returns stdout.
    @discardableResult
    func kubectl(_ arguments: [String], timeout: Double = 120, what: String) async throws(AirlockError) -> String {
        try await run(kubectlPath, connection + ["--namespace", settings.namespace, "--request-timeout=60s"] + arguments, timeout: timeout, what: what)
    }

    /// `helm … --namespace NS`; returns stdout.
    @discardableResult
    func helm(_ arguments: [String], timeout: Double = 120, cancelGrace: Double = ChildProcessGroups.grace,
              what: String) async throws(AirlockError) -> String {
        try await run(try await helmTool.tool().executable, arguments + helmConnection, environment: helmProcessMark, timeout: timeout,
                      cancelGrace: cancelGrace, what: what)
    }

    /// In the environment of every Helm Airlock runs for this release: what finds, after a server was
    /// killed, the Helm it left running (`settleInterruptedHelm`).
    var helmProcessMark: [String: String] { [Self.helmMarkVariable: helmMarkValue] }

    /// `helmProcessMark` as `/proc/PID/environ` lists it (`NAME=value`).
    var helmProcessEntry: String { "\(Self.helmMarkVariable)=\(helmMarkValue)" }

    private static let helmMarkVariable = "AIRLOCK_HELM_RELEASE"
    private var helmMarkValue: String { "\(settings.kubeconfig)#\(settings.context ?? "")#\(settings.namespace)/\(settings.release)" }

    private var helmConnection: [String] {
        ["--kubeconfig", settings.kubeconfig] + (settings.context.map { ["--kube-context", $0] } ?? []) + ["--namespace", settings.namespace]
    }

    @discardableResult
    private func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double,
                     cancelGrace: Double = ChildProcessGroups.grace, what: String) async throws(AirlockError) -> String {
        guard tool.hasPrefix("/") else {
            throw .environment("No `\(tool)` for the Kubernetes target: set AIRLOCK_KUBECTL to its path or put it on the server's PATH")
        }
        let output = try await ProcessRunner.run(tool, arguments, environment: environment, timeout: timeout, cancelGrace: cancelGrace)
        if output.timedOut { throw output.timeoutError(URL(fileURLWithPath: tool).lastPathComponent, doing: what) }
        guard output.succeeded else {
            throw .environment("\(what) failed (\(URL(fileURLWithPath: tool).lastPathComponent) \(arguments.first ?? "")): "
                               + output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return output.stdout
    }

    /// `helm upgrade … --wait` that fails as soon as a component of the release cannot start, instead of
    /// after Helm's whole `--timeout`: while Helm waits, the release's pods are watched, and a container
    /// that crash-loops (restarted `restartsThatFail` times, waiting in `CrashLoopBackOff`) or whose image
    /// cannot be pulled (see `PodStartWatch`) ends the wait with the reason (a crash loop: its log tail).
    /// Helm then gets SIGTERM, on which it marks the revision `failed` (as a timed-out `--wait` does)
    /// before it exits, so the next upgrade (the previous release, restored) can run.
    func helmUpgradeFailingFast(_ arguments: [String], timeout: Double, restartsThatFail: Int = 2, what: String) async throws(AirlockError) {
        let outcome = await withTaskGroup(of: AirlockError?.self) { group -> AirlockError? in
            group.addTask {
                do throws(AirlockError) {
                    try await helm(arguments, timeout: timeout, cancelGrace: 30, what: what)
                    return nil
                } catch {
                    return error
                }
            }
            group.addTask { await firstStartFailure(restartsThatFail: restartsThatFail, what: what) }
            // The first to end decides: Helm (done or failed) or a start failure (then Helm is stopped).
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let outcome { throw outcome }
    }

    /// Polls the release's Airflow pods every 5 s until a container cannot start; returns the error naming
    /// it, or nil when cancelled.
    private func firstStartFailure(restartsThatFail: Int, what: String) async -> AirlockError? {
        var watch = PodStartWatch(restartsThatFail: restartsThatFail)
        while !Task.isCancelled {
            if let pods = await airflowPods(), let failure = watch.look(at: pods) {
                let container = "the container `\(failure.container)` of pod `\(failure.pod)`"
                guard failure.crashLoops else {
                    return .environment("\(what) failed: \(container) cannot start (\(failure.reason))"
                                        + (failure.message.isEmpty ? "" : ": \(failure.message)"),
                                        hint: "Check that the cluster can pull the image from the deployment's registry, and the Secrets and ConfigMaps its pods use.")
                }
                let log = (try? await kubectl(["logs", failure.pod, "-c", failure.container, "--previous", "--tail=15"], what: "Reading the container's log")) ?? ""
                let output = failure.lastRunMessage.isEmpty ? log.trimmingCharacters(in: .whitespacesAndNewlines) : failure.lastRunMessage
                return .environment("\(what) failed: \(container) cannot start "
                                    + "(\(failure.exitCode.map { "exit code \($0)" } ?? "exited"), restarted \(failure.restarts) times, CrashLoopBackOff)"
                                    + (failure.lastRunMessage.isEmpty ? "; its last log lines:\n" : ": ") + output)
            }
            try? await Task.sleep(nanoseconds: 5_000_000_000)
        }
        return nil
    }

    /// The label selector of the release's objects (its Deployments), as the official chart labels them.
    var releaseSelector: String { "release=\(settings.release)" }

    /// The label selector of the release's Airflow pods, as the official chart labels them.
    var airflowPodSelector: String { "\(releaseSelector),tier=airflow" }

    /// The release's Airflow pods as the API returns them (`items` of `kubectl get pods -o json`); nil when
    /// they cannot be listed.
    func airflowPods() async -> [[String: Any]]? {
        guard let text = try? await kubectl(["get", "pods", "-l", airflowPodSelector, "-o", "json"], what: "Listing the release's pods") else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["items"] as? [[String: Any]]
    }

    /// `kubectl apply` of one object given as JSON (written to a file: `ProcessRunner` has no stdin).
    func apply(_ object: [String: Any], what: String) async throws(AirlockError) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-k8s-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: file, options: .atomic)
        } catch {
            throw .environment("Cannot write `\(file.path)`: \(error.localizedDescription)")
        }
        try await kubectl(["apply", "-f", file.path], what: what)
    }

    /// Creates the namespace when it does not exist (Helm's `--create-namespace` comes too late for the
    /// Secret and the migration Jobs).
    func ensureNamespace() async throws(AirlockError) {
        if (try? await run(kubectlPath, connection + ["get", "namespace", settings.namespace, "--request-timeout=60s"], timeout: 120,
                           what: "Reading namespace `\(settings.namespace)`")) != nil { return }
        try await run(kubectlPath, connection + ["create", "namespace", settings.namespace, "--request-timeout=60s"], timeout: 120,
                      what: "Creating namespace `\(settings.namespace)`")
    }

    /// Runs a Job to completion and returns its log; throws with the log's tail when it fails or
    /// does not finish within `timeout`. A Job of the same name left from before is deleted first.
    func runJob(name: String, image: String, arguments: [String], environment: [[String: Any]], timeout: Double,
                what: String) async throws(AirlockError) -> String {
        try await kubectl(["delete", "job", name, "--ignore-not-found", "--wait=true"], what: "Deleting the old Job `\(name)`")
        let labels = ["app.kubernetes.io/managed-by": "airlock", "airlock/release": settings.release]
        try await apply([
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": ["name": name, "labels": labels],
            "spec": [
                "backoffLimit": 0,
                "template": [
                    "metadata": ["labels": labels],
                    "spec": [
                        "restartPolicy": "Never", "terminationGracePeriodSeconds": 5,
                        "containers": [["name": "airflow", "image": image, "args": arguments, "env": environment]] as [[String: Any]],
                    ] as [String: Any],
                ] as [String: Any],
            ] as [String: Any],
        ], what: "Creating the Job `\(name)`")
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let state = try await kubectl(["get", "job", name, "-o", "jsonpath={.status.succeeded},{.status.failed}"], what: "Reading the Job `\(name)`")
            let parts = state.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
            if parts.first ?? 0 > 0 { return await jobLog(name) }
            if parts.count > 1, parts[1] > 0 {
                throw .environment("\(what) failed in the Job `\(name)` (namespace \(settings.namespace)):\n\(await jobLog(name))")
            }
            try? await Task.sleep(nanoseconds: 2_000_000_000)
        }
        throw .environment("\(what) did not finish within \(Int(timeout)) s in the Job `\(name)` (namespace \(settings.namespace)):\n\(await jobLog(name))")
    }

    private func jobLog(_ name: String) async -> String {
        let log = (try? await kubectl(["logs", "job/\(name)", "--tail=40"], what: "Reading the Job's log")) ?? ""
        return log.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The number of the release's latest Helm revision; nil before the first install.
    func helmRevision() async -> Int? {
        await helmLatest()?.revision
    }

    /// The release's latest Helm revision and its status (`deployed`, `failed`, `pending-upgrade`, …), from
    /// `helm status -o json`; nil before the first install.
    func helmLatest() async -> (revision: Int, status: String)? {
        guard let text = try? await helm(["status", settings.release, "-o", "json"], what: "helm status"),
              let document = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let revision = document["version"] as? Int else { return nil }
        return (revision, (document["info"] as? [String: Any])?["status"] as? String ?? "unknown")
    }

    /// Leaves the release as Helm can change it again after a server that ran `helm upgrade` was killed.
    ///
    /// A killed server's Helm goes on (its own process group): it would finish switching the pods to the
    /// release the coordinator is about to undo, over the database put back for the previous one. It gets
    /// SIGTERM (30 s to record the revision `failed`), then SIGKILL. A Helm that died without recording its
    /// end (SIGKILL, a power cut) leaves the revision `pending-install`/`pending-upgrade`/`pending-rollback`,
    /// and every later upgrade fails with "another operation (install/upgrade/rollback) is in progress": the
    /// release is rolled back to its latest revision that was deployed, or uninstalled when it never was (a
    /// first install cut short). Call holding the deployment's lock, so no live server's Helm is among them.
    /// Returns what it did, or nil when there was nothing to do.
    func settleInterruptedHelm() async -> String? {
        var done: [String] = []
        let stopped = ChildProcessGroups.stopProcesses(withEnvironmentEntry: helmProcessEntry, grace: 30)
        if stopped > 0 { done.append("stopped \(stopped) Helm process\(stopped == 1 ? "" : "es") a killed server left running") }
        guard let (revision, status) = await helmLatest(), status.hasPrefix("pending-") else {
            return done.isEmpty ? nil : done.joined(separator: "; ")
        }
        let history = (try? await helm(["history", settings.release, "--max", "256", "-o", "json"], what: "helm history"))
            .flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [[String: Any]] } ?? []
        let lastGood = history.compactMap { entry -> Int? in
            guard let number = entry["revision"] as? Int, number < revision,
                  ["deployed", "superseded"].contains(entry["status"] as? String ?? "") else { return nil }
            return number
        }.max()
        do throws(AirlockError) {
            if let lastGood {
                try await helm(["rollback", settings.release, String(lastGood), "--timeout", "300s"], timeout: 360,
                               what: "Rolling the release back from its interrupted revision \(revision)")
                done.append("revision \(revision) was left \(status): rolled back to revision \(lastGood)")
            } else {
                try await helm(["uninstall", settings.release, "--timeout", "300s"], timeout: 360,
                               what: "Uninstalling the release whose first install was interrupted")
                done.append("revision \(revision) was left \(status) and none was ever deployed: uninstalled")
            }
        } catch {
            done.append("revision \(revision) was left \(status) and could not be repaired: \(error.message)")
        }
        return done.joined(separator: "; ")
    }

    /// Whether the release is as a completed upgrade to `image` left it: Helm's latest revision `deployed`,
    /// and every Deployment of the release scaled up, its containers of `image`'s repository all on `image`.
    func runsAsDeployed(image: String) async -> Bool {
        guard let deployed = ImageByDigest(image),
              await helmLatest()?.status == "deployed",
              let text = try? await kubectl(["get", "deployment", "-l", releaseSelector, "-o", "json"],
                                            what: "Listing the release's Deployments"),
              let items = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["items"] as? [[String: Any]],
              !items.isEmpty else { return false }
        var ours = 0
        for item in items {
            let spec = item["spec"] as? [String: Any] ?? [:]
            if spec["replicas"] as? Int == 0 { return false }
            let pod = (spec["template"] as? [String: Any])?["spec"] as? [String: Any] ?? [:]
            let containers = (pod["initContainers"] as? [[String: Any]] ?? []) + (pod["containers"] as? [[String: Any]] ?? [])
            for case let reference? in containers.map({ $0["image"] as? String }) where deployed.isSameRepository(reference) {
                if reference != image { return false }
                ours += 1
            }
        }
        return ours > 0
    }
}
