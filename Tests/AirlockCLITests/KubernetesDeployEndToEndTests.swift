import AirlockTestSupport
import AirlockToolchain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The Kubernetes target on real pods (issue #13): `airlock server` builds each deploy's image, pushes it
/// to the test cluster's registry and installs Airflow with Helm (the project's test chart); the
/// metadata DB is a PostgreSQL the pods reach on the node address. Skips when the test cluster is not
/// running (`scripts/k8s-test-cluster start`).
@Suite(.serialized) struct KubernetesDeployEndToEndTests {
    static let kubeconfig = KubernetesTestCluster.kubeconfig

    /// A throwaway PostgreSQL on the node address 10.99.0.1 (trust auth), which both this host and the
    /// cluster's pods reach; stopped and removed by `stop()`.
    final class NodePostgres: @unchecked Sendable {
        let folder: URL
        let port: Int
        let bin: String

        init() async throws {
            bin = try #require(try FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")
                .sorted { $0.compare($1, options: .numeric) == .orderedAscending }.last.map { "/usr/lib/postgresql/\($0)/bin" },
                "PostgreSQL server binaries (Debian package postgresql)")
            folder = URL(fileURLWithPath: "/tmp/airlock-k8s-pg-\(UUID().uuidString.prefix(8))")
            port = try LoopbackPort.free()
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
            let data = folder.appendingPathComponent("data").path
            let initdb = try await owner(bin + "/initdb", ["-D", data, "-A", "trust", "-U", "airlock", "--no-sync"])
            #expect(initdb.succeeded, "initdb: \(initdb.stderr)")
            let hba = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/pg_hba.conf"))
            hba.seekToEndOfFile()
            hba.write(Data("host all all 0.0.0.0/0 trust\n".utf8))
            try hba.close()
            let start = try await owner(bin + "/pg_ctl", ["-D", data, "-l", folder.path + "/log", "-w", "-t", "120", "-o",
                                                          "-c listen_addresses=10.99.0.1 -p \(port) -k \(folder.path) -c fsync=off -c max_connections=200",
                                                          "start"])
            #expect(start.succeeded, "pg_ctl start: \(start.stderr)")
        }

        var url: String { "postgresql://airlock@10.99.0.1:\(port)/airflow_k8s" }

        /// Runs a server tool as the cluster's owner. Through Python's `close_fds`: the server `pg_ctl`
        /// leaves running must not inherit the descriptor Foundation watches for the child's exit. With a
        /// `TMPDIR` of its own: `ProcessRunner` kills whatever still carries the run's `TMPDIR` once the child is
        /// a zombie, and on a loaded machine it saw the exited `pg_ctl` wrapper as one before its end was
        /// reported — it killed the server (CI: "Connection refused" at the first deploy).
        private func owner(_ tool: String, _ arguments: [String]) async throws -> ProcessOutput {
            let command = (getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []) + [tool] + arguments
            return try await ProcessRunner.run("/usr/bin/python3", ["-c", "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:], close_fds=True).returncode)"] + command,
                                               environment: ["TMPDIR": folder.path], timeout: 180)
        }

        func stop() async {
            _ = try? await owner(bin + "/pg_ctl", ["-D", folder.appendingPathComponent("data").path, "-m", "fast", "-w", "stop"])
            try? FileManager.default.removeItem(at: folder)
        }
    }

    /// Creating a Kubernetes deployment through the API checks its settings (no cluster needed): 400
    /// naming the field, and a local deployment cannot carry Kubernetes settings.
    @Test(.timeLimit(.minutes(5))) func createRefusesBadKubernetesSettings() async throws {
        let session = try await DeployEndToEndTests.start()
        defer { session.server.stop() }
        let kubernetes = #"{"kubeconfig": "/k", "namespace": "airflow", "release": "prod", "chart": "/c", "registry": "localhost:5000/a/prod"}"#
        for (body, field) in [
            (#"{"name": "k", "target": "kubernetes", "metadataDatabaseUrl": "postgresql://u@h/d"}"#, "kubernetes"),
            (#"{"name": "k", "target": "kubernetes", "kubernetes": \#(kubernetes)}"#, "metadataDatabaseUrl"),
            (#"{"name": "k", "target": "kubernetes", "metadataDatabaseUrl": "postgresql://u@h/d", "kubernetes": \#(kubernetes.replacingOccurrences(of: "\"prod\"", with: "\"Prod\""))}"#, "release"),
            (#"{"name": "k", "kubernetes": \#(kubernetes)}"#, "kubernetes"),
            (#"{"name": "k", "target": "kubernetes", "metadataDatabaseUrl": "postgresql://u@h/d", "kubernetes": {"namespace": "airflow"}}"#, "kubeconfig"),
            (#"{"name": "k", "target": "kubernetes", "metadataDatabaseUrl": "postgresql://u@h/d", "kubernetes": \#(kubernetes.dropLast()), "x": 1}}"#, "kubernetes.x"),
            (#"{"name": "k", "target": "kubernetes", "metadataDatabaseUrl": "postgresql://u@h/d", "kubernetes": \#(kubernetes.replacingOccurrences(of: "\"/k\"", with: "\"-k\""))}"#, "kubeconfig"),
        ] {
            var request = URLRequest(url: try #require(URL(string: session.server.url + "/api/v1/deployments")))
            request.httpMethod = "POST"
            request.setValue("Bearer \(try session.server.adminToken)", forHTTPHeaderField: "Authorization")
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            let (data, response) = try await URLSession.shared.upload(for: request, from: Data(body.utf8))
            let text = String(decoding: data, as: UTF8.self)
            #expect((response as? HTTPURLResponse)?.statusCode == 400 && text.contains(field), "\(body): \(text)")
        }
        let created = try await session.airlock(["deployment", "create", "k", "--target", "kubernetes", "--kubeconfig", "/k", "--namespace", "airflow",
                                                 "--release", "prod", "--chart", "/c", "--registry", "localhost:5000/a/prod",
                                                 "--metadata-db", "postgresql://u@h/d", "--values", "/v.yaml"])
        #expect(created.status == 0, "\(created.stderr)")
        let deployment = try await session.server.json("/api/v1/deployments/k")
        let settings = (deployment["settings"] as? [String: Any])?["kubernetes"] as? [String: Any]
        #expect(settings?["release"] as? String == "prod" && settings?["valuesFile"] as? String == "/v.yaml", "\(deployment)")
        let shown = try await session.airlock(["deployment", "show", "k"])
        #expect(shown.stdout.contains("Helm release prod in namespace airflow (chart /c); images in localhost:5000/a/prod"), "\(shown.stdout)")
        let local = try await session.airlock(["deployment", "create", "l", "--namespace", "airflow"])
        #expect(local.status == 2 && local.stderr.contains("--target kubernetes"), "\(local.stderr)")
    }

    /// The issue's scenario on pods: deploy 2.10.5, deploy 3.0.6 (migrated by a Job, backed up first), roll
    /// back to #1 (downgraded by a Job with the 3.0.6 image before the switch; the pods run #1's digest).
    @Test(.timeLimit(.minutes(60))) func deployUpgradeAndRollBackOnPods() async throws {
        try await Self.onPods("airlock-e2e") { pods in try await scenario(pods) }
    }

    /// One test's room on the test cluster: its own namespace (random suffix), a node PostgreSQL, and
    /// kubectl and Helm bound to the namespace (a failed call is a recorded issue, its stdout returned).
    struct Pods: Sendable {
        let tools: (kubectl: String, helm: String)
        let postgres: NodePostgres
        let namespace: String
        let suffix: String

        func kubectl(_ arguments: [String]) async throws -> String {
            let output = try await ProcessRunner.run(tools.kubectl, ["--kubeconfig", KubernetesDeployEndToEndTests.kubeconfig, "--namespace", namespace] + arguments,
                                                     timeout: 120)
            #expect(output.succeeded, "kubectl \(arguments.joined(separator: " ")): \(output.stderr)")
            return output.stdout
        }

        func helm(_ arguments: [String]) async throws -> String {
            let output = try await ProcessRunner.run(tools.helm, arguments + ["--kubeconfig", KubernetesDeployEndToEndTests.kubeconfig, "--namespace", namespace],
                                                     timeout: 120)
            #expect(output.succeeded, "helm \(arguments.joined(separator: " ")): \(output.stderr)")
            return output.stdout
        }
    }

    /// Runs `body` in a namespace `<prefix>-<suffix>` of its own with a node PostgreSQL, then cleans up whatever
    /// failed, so the cluster and the machine stay quiet for the next test. Without a test cluster it skips —
    /// but never in CI, where `scripts/test` starts one: a CI run that silently skipped the Kubernetes target
    /// would call it tested.
    static func onPods(_ prefix: String, _ body: (Pods) async throws -> Void) async throws {
        guard let tools = KubernetesTestCluster.tools else {
            #expect(ProcessInfo.processInfo.environment["CI"] != "true",
                    "CI must run the Kubernetes tests: scripts/test starts the cluster (scripts/k8s-test-cluster start)")
            return
        }
        let suffix = String(UUID().uuidString.lowercased().prefix(6))
        let pods = Pods(tools: tools, postgres: try await NodePostgres(), namespace: "\(prefix)-\(suffix)", suffix: suffix)
        do {
            try await body(pods)
        } catch {
            Issue.record(error)
        }
        _ = try? await ProcessRunner.run(tools.helm, ["uninstall", "prod", "--kubeconfig", kubeconfig, "--namespace", pods.namespace, "--wait"], timeout: 300)
        _ = try? await ProcessRunner.run(tools.kubectl, ["--kubeconfig", kubeconfig, "delete", "namespace", pods.namespace, "--wait=false"], timeout: 120)
        await pods.postgres.stop()
    }

    private func scenario(_ pods: Pods) async throws {
        let (tools, postgres, namespace, suffix) = (pods.tools, pods.postgres, pods.namespace, pods.suffix)
        let kubectl = pods.kubectl, helm = pods.helm
        let session = try await DeployEndToEndTests.start(environment: ["AIRLOCK_KUBECTL": tools.kubectl, "AIRLOCK_HELM": tools.helm])
        defer { session.server.stop() }
        let scratch = try TestSupport.scratchFolder("airlock-k8s-e2e")
        let values = scratch.appendingPathComponent("values.yaml")
        try Self.slowMachineValues.write(to: values, atomically: true, encoding: .utf8)
        let chart = TestSupport.repositoryRoot.appendingPathComponent("Tests/Fixtures/airflow-chart").path
        let create = ["deployment", "create", "prod", "--target", "kubernetes", "--kubeconfig", Self.kubeconfig, "--release", "prod",
                      "--chart", chart, "--registry", "localhost:5000/airlock/e2e-\(suffix)", "--metadata-db", postgres.url,
                      "--values", values.path]

        // Bad input is a usage error naming the field; nothing is created.
        let bad = try await session.airlock(create + ["--namespace", "Bad_Namespace"])
        #expect(bad.status == 2 && bad.stderr.contains("namespace"), "\(bad.status) \(bad.stderr)")
        let missing = try await session.airlock(Array(create.dropLast(2)).filter { $0 != "--kubeconfig" && $0 != Self.kubeconfig } + ["--namespace", namespace])
        #expect(missing.status == 2 && missing.stderr.contains("--kubeconfig"), "\(missing.status) \(missing.stderr)")
        let created = try await session.airlock(create + ["--namespace", namespace])
        #expect(created.status == 0, "\(created.stderr)")

        var started = Date()
        let project = try DeployEndToEndTests.project(airflow: "2.10.5")
        let first = try await session.deploy(project, "2.10.5 on Kubernetes")
        let firstSeconds = Date().timeIntervalSince(started)
        #expect(first.status == 0, "\(first.stderr)\n\(session.server.log)")
        var status = try await session.status()
        #expect(DeployEndToEndTests.health(status) == "healthy" && status["dbSchemaHead"] as? String == DeployEndToEndTests.head2, "\(status)")
        let digest1 = try await helmDigest(helm)
        #expect(try await podImages(kubectl) == ["localhost:5000/airlock/e2e-\(suffix)@\(digest1)"])

        started = Date()
        _ = try DeployEndToEndTests.project(airflow: "3.0.6", into: project)
        let second = try await session.deploy(project, "3.0.6 on Kubernetes")
        let secondSeconds = Date().timeIntervalSince(started)
        #expect(second.status == 0, "\(second.stderr)\n\(session.server.log)")
        status = try await session.status()
        #expect(DeployEndToEndTests.health(status) == "healthy" && status["dbSchemaHead"] as? String == DeployEndToEndTests.head3, "\(status)")
        let digest2 = try await helmDigest(helm)
        #expect(digest2 != digest1)
        #expect(try await podImages(kubectl) == ["localhost:5000/airlock/e2e-\(suffix)@\(digest2)"])
        let workspaces = session.server.dataDirectory.appendingPathComponent("deployments")
        #expect(try FileManager.default.subpathsOfDirectory(atPath: workspaces.path).contains { $0.hasSuffix(".dump") }, "a pg_dump backup before the migration")

        #expect(try await session.airlock(["deployment", "settings", "prod", "--rollback-enabled", "true"]).status == 0)
        started = Date()
        let rollback = try await session.airlock(["rollback", "--deployment", "prod", "1", "--description", "Back to 2.10.5 on Kubernetes", "--yes"])
        let rollbackSeconds = Date().timeIntervalSince(started)
        #expect(rollback.status == 0, "\(rollback.stderr)\n\(session.server.log)")
        status = try await session.status()
        #expect(DeployEndToEndTests.health(status) == "healthy", "\(status)")
        #expect(status["dbSchemaHead"] as? String == DeployEndToEndTests.head2, "the DB was downgraded to 2.10.5's head")
        #expect(try await helmDigest(helm) == digest1, "the rollback redeployed #1's image by digest")
        #expect(try await podImages(kubectl) == ["localhost:5000/airlock/e2e-\(suffix)@\(digest1)"])
        #expect(try await session.deploys().count == 3)
        let history = try JSONSerialization.jsonObject(with: Data(try await helm(["history", "prod", "-o", "json"]).utf8)) as? [[String: Any]] ?? []
        #expect(history.count == 3, "one Helm revision per deploy: \(history)")

        // The downgrade ran as a Job with 3.0.6's image, and finished before the switch (Helm revision 3).
        let jobs = try JSONSerialization.jsonObject(with: Data(try await kubectl(["get", "jobs", "-l", "app.kubernetes.io/managed-by=airlock", "-o", "json"]).utf8)) as? [String: Any]
        let downgrade = (jobs?["items"] as? [[String: Any]] ?? []).first { (($0["metadata"] as? [String: Any])?["name"] as? String)?.hasPrefix("airlock-downgrade-") == true }
        let spec = ((downgrade?["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]
        let jobImage = (spec?["containers"] as? [[String: Any]])?.first?["image"] as? String
        #expect(jobImage == "localhost:5000/airlock/e2e-\(suffix)@\(digest2)", "downgraded with the 3.0.6 image")
        let completion = ((downgrade?["status"] as? [String: Any])?["completionTime"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
        let revision3 = (history.last?["updated"] as? String).flatMap { text -> Date? in
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.date(from: text.replacingOccurrences(of: #"(\.\d{3})\d*"#, with: "$1", options: .regularExpression))
        }
        if let completion, let revision3 {
            #expect(completion <= revision3.addingTimeInterval(1), "the downgrade Job finished before Helm switched")
        } else {
            Issue.record("no downgrade Job completion (\(String(describing: downgrade?["status"]))) or Helm revision time (\(history.last ?? [:]))")
        }

        // A DAG-only deploy: same lock and project files, so only the DAG layer (and the config) is pushed.
        started = Date()
        _ = try DeployEndToEndTests.project(airflow: "2.10.5", dagBody: "print('v2')", into: project)
        let dags = try await session.deploy(project, "DAG change on Kubernetes", extra: ["--dags"])
        let dagSeconds = Date().timeIntervalSince(started)
        #expect(dags.status == 0, "\(dags.stderr)\n\(session.server.log)")
        let digest4 = try await helmDigest(helm)
        #expect(digest4 != digest1 && digest4 != digest2)
        #expect(try await podImages(kubectl) == ["localhost:5000/airlock/e2e-\(suffix)@\(digest4)"])
        let latest = try #require(try await session.deploys().first?["id"] as? String)
        let steps = try await session.server.json("/api/v1/deployments/prod/deploys/\(latest)")["steps"] as? [String] ?? []
        #expect(steps.contains { $0.hasPrefix("Pushed ") && $0.contains("(2 blobs") }, "the DAG layer and the config only: \(steps)")
        // The schema stays: a rolling update (the old pods served until the new ones were ready), no stop, no backup.
        #expect(steps.contains { $0.contains("replacing the running deploy in place") } && !steps.contains("Stopping the running deploy")
                && !steps.contains { $0.hasPrefix("Backing up") }, "\(steps)")
        // Each deploy is one Helm revision, kept on the deploy with the image it ran by digest (newest first).
        let recorded = try await session.deploys()
        #expect(recorded.map { $0["helmRevision"] as? Int } == [4, 3, 2, 1], "\(recorded)")
        #expect(recorded.map { $0["targetImage"] as? String } == [digest4, digest1, digest2, digest1].map { "localhost:5000/airlock/e2e-\(suffix)@\($0)" })
        #expect(dags.stdout.contains("Helm revision 4"), "\(dags.stdout)")

        // The values file edited into YAML that does not parse: the deploy fails while the chart is rendered, before
        // anything running is touched (no stop, no Helm revision), and the release runs on as it was.
        let valuesText = try String(contentsOf: values, encoding: .utf8)
        try "images: [unclosed\n".write(to: values, atomically: true, encoding: .utf8)
        _ = try DeployEndToEndTests.project(airflow: "2.10.5", dagBody: "print('v3')", into: project)
        let unrendered = try await session.deploy(project, "DAG change with broken values", extra: ["--dags"])
        try valuesText.write(to: values, atomically: true, encoding: .utf8)
        #expect(unrendered.status == 1, "\(unrendered.stderr)")
        #expect(unrendered.stderr.contains("Rendering the chart"), "\(unrendered.stderr)")
        #expect(!unrendered.stderr.contains("Stopping the running deploy") && !unrendered.stderr.contains("replacing the running deploy"),
                "\(unrendered.stderr)")
        let helmHistory = try JSONSerialization.jsonObject(with: Data(try await helm(["history", "prod", "-o", "json"]).utf8)) as? [[String: Any]]
        #expect(helmHistory?.count == 4, "no Helm revision for a deploy that did not render")
        #expect(try await podImages(kubectl) == ["localhost:5000/airlock/e2e-\(suffix)@\(digest4)"])
        #expect(DeployEndToEndTests.health(try await session.status()) == "healthy")
        #expect(try await session.deploys().first?["status"] as? String == "FAILED")
        print("kubernetes e2e: deploy 2.10.5 \(Int(firstSeconds)) s, deploy 3.0.6 \(Int(secondSeconds)) s, rollback \(Int(rollbackSeconds)) s, DAG-only \(Int(dagSeconds)) s")

    }

    /// The digest Helm's current values give the image (`images.airflow.digest`).
    func helmDigest(_ helm: (_ arguments: [String]) async throws -> String) async throws -> String {
        let values = try JSONSerialization.jsonObject(with: Data(try await helm(["get", "values", "prod", "-o", "json"]).utf8)) as? [String: Any]
        let digest = ((values?["images"] as? [String: Any])?["airflow"] as? [String: Any])?["digest"] as? String
        return try #require(digest)
    }

    /// Every image the release's Airflow pods run (containers and init containers), pods being deleted aside: a
    /// rolling switch is DEPLOYED once the replaced pods are going, as `kubectl rollout status` counts them.
    func podImages(_ kubectl: (_ arguments: [String]) async throws -> String) async throws -> Set<String> {
        let text = try await kubectl(["get", "pods", "-l", "release=prod,tier=airflow", "-o", "json"])
        let pods = (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["items"] as? [[String: Any]] ?? []
        var images: Set<String> = []
        for pod in pods where (pod["metadata"] as? [String: Any])?["deletionTimestamp"] == nil {
            let spec = pod["spec"] as? [String: Any] ?? [:]
            for key in ["containers", "initContainers"] {
                for container in spec[key] as? [[String: Any]] ?? [] { if let image = container["image"] as? String { images.insert(image) } }
            }
        }
        return images
    }
}
