import AirlockCore
@testable import AirlockDeployer
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing

/// `KubernetesCluster.settleInterruptedHelm` on the test cluster with the pinned Helm: what a server killed
/// during `helm upgrade --wait` leaves — its Helm still running (a power cut or OOM kill of the server alone),
/// or a revision left `pending-upgrade`/`pending-install` by a Helm that died too — is cleared so that the next
/// upgrade runs. A one-Deployment chart of its own; an image the registry lacks keeps Helm waiting.
/// Skips when the test cluster is not running (`scripts/k8s-test-cluster start`; CI runs it).
@Suite(.serialized, .enabled(if: KubernetesTestCluster.tools != nil, "the test cluster is not running (scripts/k8s-test-cluster start)"))
struct HelmInterruptionTests {
    static let kubeconfig = KubernetesTestCluster.kubeconfig

    static let goodImage = "localhost:5000/airlock/pause:3.4"
    static let missingImage = "localhost:5000/airlock/pause:no-such-tag"

    /// A namespace of its own, a chart with one Deployment of `.Values.image`, and a cluster for `release`.
    struct Fixture {
        let namespace = "airlock-helm-" + UUID().uuidString.prefix(8).lowercased()
        let folder: URL
        let kubectl: String
        let helm: String

        init() throws {
            let tools = try #require(KubernetesTestCluster.tools)
            (kubectl, helm) = tools
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-helm-interruption-\(UUID().uuidString)")
            let templates = folder.appendingPathComponent("chart/templates")
            try FileManager.default.createDirectory(at: templates, withIntermediateDirectories: true)
            try "apiVersion: v2\nname: waits\nversion: 0.1.0\n".write(to: folder.appendingPathComponent("chart/Chart.yaml"), atomically: true, encoding: .utf8)
            try """
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: {{ .Release.Name }}-waits
                  labels: {release: {{ .Release.Name }}}
                spec:
                  replicas: 1
                  selector: {matchLabels: {app: {{ .Release.Name }}-waits}}
                  template:
                    metadata: {labels: {app: {{ .Release.Name }}-waits, release: {{ .Release.Name }}}}
                    spec:
                      terminationGracePeriodSeconds: 1
                      containers: [{name: pause, image: "{{ .Values.image }}"}]
                """.write(to: templates.appendingPathComponent("deployment.yaml"), atomically: true, encoding: .utf8)
        }

        var chart: String { folder.appendingPathComponent("chart").path }

        func cluster(_ release: String) -> KubernetesCluster {
            KubernetesCluster(settings: KubernetesSettings(kubeconfig: HelmInterruptionTests.kubeconfig, namespace: namespace, release: release,
                                                           chart: chart, registry: "localhost:5000/airlock/helm-test"),
                              paths: AirlockPaths(cacheRoot: folder.appendingPathComponent("cache")),
                              environment: ["AIRLOCK_HELM": helm, "AIRLOCK_KUBECTL": kubectl, "PATH": "/usr/bin:/bin"])
        }

        /// `helm upgrade --install --wait` of `image` as the Kubernetes target runs it (marked as its Helm).
        func upgrade(_ cluster: KubernetesCluster, image: String, wait: String = "300s") async throws -> ProcessOutput {
            try await ProcessRunner.run(helm, ["upgrade", "--install", cluster.settings.release, chart, "--set", "image=\(image)", "--wait",
                                               "--timeout", wait, "--kubeconfig", HelmInterruptionTests.kubeconfig, "--namespace", namespace,
                                               "--create-namespace"],
                                        environment: cluster.helmProcessMark, timeout: 400, cancelGrace: 30)
        }

        /// Starts an upgrade that waits for an image the registry lacks; returns once Helm's revision is pending.
        func pendingUpgrade(_ cluster: KubernetesCluster) async throws -> Task<ProcessOutput, any Error> {
            let before = await cluster.helmRevision() ?? 0
            let running = Task { try await upgrade(cluster, image: HelmInterruptionTests.missingImage) }
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if let latest = await cluster.helmLatest(), latest.revision > before, latest.status.hasPrefix("pending-") { return running }
                try await Task.sleep(nanoseconds: 300_000_000)
            }
            running.cancel()
            Issue.record("Helm's revision did not become pending within 60 s")
            return running
        }

        func removeNamespace() async {
            _ = try? await ProcessRunner.run(kubectl, ["--kubeconfig", HelmInterruptionTests.kubeconfig, "delete", "namespace", namespace, "--wait=false"],
                                             timeout: 60)
            try? FileManager.default.removeItem(at: folder)
        }
    }

    @Test(.timeLimit(.minutes(10))) func whatAKilledServersHelmLeftIsClearedAndTheNextUpgradeRuns() async throws {
        let fixture = try Fixture()
        let cluster = fixture.cluster("prod")
        let first = try await fixture.upgrade(cluster, image: Self.goodImage)
        #expect(first.succeeded, "\(first.stderr)")
        #expect(await cluster.settleInterruptedHelm() == nil, "a release as Helm left it needs nothing")

        // The server died, its Helm goes on waiting: stopped with SIGTERM, on which it records its revision `failed`.
        let orphan = try await fixture.pendingUpgrade(cluster)
        let stopped = await cluster.settleInterruptedHelm()
        #expect(stopped?.contains("stopped 1 Helm process") == true, "\(stopped ?? "nothing done")")
        #expect((try await orphan.value).succeeded == false)
        #expect(await cluster.helmLatest()?.status == "failed")
        #expect(try await fixture.upgrade(cluster, image: Self.goodImage).succeeded, "the next upgrade runs")
        let deployedRevision = try #require(await cluster.helmRevision())

        // Helm died with the server (SIGKILL): its revision stays `pending-upgrade` and blocks every upgrade until repaired.
        let killed = try await fixture.pendingUpgrade(cluster)
        ChildProcessGroups.killProcesses(withEnvironmentEntry: cluster.helmProcessEntry)
        _ = try await killed.value
        #expect(await cluster.helmLatest()?.status == "pending-upgrade")
        let blocked = try await fixture.upgrade(cluster, image: Self.goodImage)
        #expect(!blocked.succeeded && blocked.stderr.contains("another operation"), "\(blocked.stderr)")
        let repaired = await cluster.settleInterruptedHelm()
        #expect(repaired?.contains("rolled back to revision \(deployedRevision)") == true, "\(repaired ?? "nothing done")")
        #expect(await cluster.helmLatest()?.status == "deployed")
        #expect(try await fixture.upgrade(cluster, image: Self.goodImage).succeeded, "the next upgrade runs")

        // A first install cut short the same way: nothing of it was ever deployed, so it is uninstalled.
        let fresh = fixture.cluster("fresh")
        let install = try await fixture.pendingUpgrade(fresh)
        ChildProcessGroups.killProcesses(withEnvironmentEntry: fresh.helmProcessEntry)
        _ = try await install.value
        #expect(await fresh.helmLatest()?.status == "pending-install")
        let uninstalled = await fresh.settleInterruptedHelm()
        #expect(uninstalled?.contains("uninstalled") == true, "\(uninstalled ?? "nothing done")")
        #expect(await fresh.helmLatest() == nil)
        #expect(try await fixture.upgrade(fresh, image: Self.goodImage).succeeded, "the install runs again")
        await fixture.removeNamespace()
    }
}
