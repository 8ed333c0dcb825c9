import AirlockCore
import AirlockImages
import AirlockLocalTarget
import AirlockStorage
import AirlockToolchain
import Foundation
import PythonPackaging

/// The Kubernetes target (issue #13): each release is an OCI image built without Docker and pushed to
/// the deployment's registry; Airflow is installed with Helm (`helm upgrade --install --wait`) on that
/// image by digest. The metadata DB is the deployment's PostgreSQL, which this server reaches too: it is
/// backed up, restored and read from here (as the local target does), and migrated or downgraded by a
/// Kubernetes Job running the given release's image, so the Airflow that changes the schema is the one
/// in the image.
///
/// The chart's own migration Job is kept off (`migrateDatabaseJob.enabled=false`): Airlock migrates
/// before the switch, and after a downgrade the chart must not migrate the DB back up. The pods read the
/// metadata connection from a Secret Airlock writes (`data.metadataSecretName`), built from the
/// deployment's URL and the server's `PGPASSWORD`.
actor KubernetesDeployTarget: DeployTarget, MetadataDatabaseOnHost {
    let workspace: DeploymentWorkspace
    let releases: ReleaseBuilder
    let cluster: KubernetesCluster
    /// The settings of the latest call that had them (`stop` has none).
    private var settings: DeploymentSettings
    /// Environments of releases prepared by this server run (the host's copy of the image's lock).
    private var environments: [String: PythonEnvironment] = [:]
    /// The release Helm was last told to run, for the health check.
    private var running: ReleaseRecord?
    /// What the latest `start` ran, by deploy: the image and the Helm revision it made (`runningFacts`).
    private var started: (deployId: String, facts: TargetFacts)?
    /// For the advice in errors (`airlock deployment settings NAME …`).
    private let deploymentName: String

    init(workspace: DeploymentWorkspace, artifacts: ArtifactStore, paths: AirlockPaths, deployment: Deployment) throws(AirlockError) {
        guard let kubernetes = deployment.settings.kubernetes else {
            throw .usage("Deployment `\(deployment.name)` targets Kubernetes but has no Kubernetes settings; create it with --target kubernetes --kubeconfig … --namespace … --release … --chart … --registry …")
        }
        guard deployment.settings.metadataDatabaseUrl != nil else {
            throw .usage("Deployment `\(deployment.name)` targets Kubernetes but has no PostgreSQL metadata DB (--metadata-db)")
        }
        self.workspace = workspace
        self.releases = ReleaseBuilder(artifacts: artifacts, workspace: workspace, paths: paths)
        self.cluster = KubernetesCluster(settings: kubernetes, paths: paths)
        self.settings = deployment.settings
        self.deploymentName = deployment.name
    }

    private var kubernetes: KubernetesSettings { cluster.settings }

    /// The start timeout of the latest call's settings: a change (`PATCH …/settings`) counts from the next deploy,
    /// while the cluster's connection (`cluster.settings`) stays what this target was made with.
    private var startTimeout: Int { (settings.kubernetes ?? kubernetes).startTimeout }

    // MARK: Releases as images

    func prepare(_ request: ReleaseRequest, settings: DeploymentSettings,
                 progress: @escaping @Sendable (String) async -> Void) async throws(AirlockError) -> ReleaseRecord {
        self.settings = settings
        try kubernetes.validateValueKeysApart()  // before anything changes: `start` would refuse them after the switch began
        let database = workspace.database(settings)
        let prepared = try await releases.prepare(request, progress: progress) { airflow in
            MetadataDatabaseLocation.requirements(for: database, airflowMajor: airflow.release.first ?? 2)
        }
        environments[request.deployId] = prepared.environment
        var record = prepared.record
        let source = "project \(request.imageDigest) dags \(request.dagsDigest ?? "-")"
        // A rollback redeploys exactly the image it names: same artifacts, same lock → no rebuild, no push.
        if let image = record.image, record.imageSource == source {
            await progress("Reusing the image \(image)")
        } else {
            let pushed = try await buildImage(record, progress: progress)
            record.image = pushed.reference.description
            record.imageSource = source
            await progress("Pushed \(record.image ?? "") (\(pushed.uploadedBlobs.count) blobs, \(pushed.bytesUploaded) bytes uploaded)")
        }
        try await renderChart(for: record)
        try DeploymentWorkspace.write(record, to: workspace.releaseRecord(request.deployId))
        return record
    }

    /// `helm template` of the release as `start` will upgrade it: a chart or values file that does not render
    /// (a values file edited into invalid YAML, a value the chart's schema refuses) fails the deploy here, before
    /// anything running is touched. Found at `start` instead, it came after the stop and the DB switch, and the
    /// restore of the previous release, made with the same values, failed with it.
    private func renderChart(for record: ReleaseRecord) async throws(AirlockError) {
        guard let image = record.image else { return }
        let arguments = ["template", kubernetes.release]
            + (try Self.chartArguments(kubernetes, image: image, airflowVersion: record.airflowVersion, metadataSecretName: metadataSecretName))
        try await cluster.helm(arguments, timeout: 300, what: "Rendering the chart `\(kubernetes.chart)` with the deployment's values")
    }

    /// Installs the release's lock for the image's platform (cached by lock, Python and platform), packs
    /// the layers and pushes base + layers to the deployment's registry.
    private func buildImage(_ record: ReleaseRecord, progress: @escaping @Sendable (String) async -> Void) async throws(AirlockError) -> PushedImage {
        let python = Self.minorVersion(record.python)
        let paths = releases.paths
        let uv = try await UVTool.locate(paths: paths)
        let folder = paths.cacheRoot.appendingPathComponent("images/environments/\(record.lockHash)-py\(python)")
        let lock = paths.cacheRoot.appendingPathComponent("images/locks/\(record.lockHash).txt")
        do {
            try FileManager.default.createDirectory(at: lock.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(record.lock.utf8).write(to: lock, options: .atomic)
        } catch {
            throw .environment("Cannot write `\(lock.path)`: \(error.localizedDescription)")
        }
        let installed = folder.appendingPathComponent(".airlock-installed")
        if !FileManager.default.fileExists(atPath: installed.path) {
            await progress("Installing the environment for the image (Python \(python), \(EnvironmentInstaller.defaultPlatform))")
            try await EnvironmentInstaller.install(lock: lock, into: folder.appendingPathComponent("tree"), pythonVersion: python, uv: uv)
            _ = FileManager.default.createFile(atPath: installed.path, contents: Data())
        }
        await progress("Packing the image layers")
        let key = try EnvironmentInstaller.layerKey(lock: lock, pythonVersion: python, uv: uv)
        let layers = try await ProjectImageLayers.make(project: workspace.release(record.deployId), environment: folder.appendingPathComponent("tree"),
                                                       environmentKey: key, store: LayerStore(directory: paths.cacheRoot.appendingPathComponent("images/layers")))
        let registryHost = String(kubernetes.registry.prefix { $0 != "/" })
        let base = try RegistryReference.parse(kubernetes.baseImage ?? "\(registryHost)/airlock/python:\(python)-bookworm")
        let tag = "deploy-" + Self.objectSuffix(record.deployId)
        let target = try RegistryReference.parse("\(kubernetes.registry):\(tag)")
        await progress("Pushing the image to \(kubernetes.registry)")
        return try await ImagePublisher(scratch: workspace.root).push(base: base, layers: layers, to: target)
    }

    // MARK: The switch

    /// Scales the release's Deployments to 0 and waits (up to 300 s) until their pods run nothing any more
    /// (`PodStop.hasStopped`: every container terminated, or the pod gone), so the DB is still while it is
    /// backed up and migrated (Helm's next upgrade scales them back: its three-way merge restores the chart's
    /// replicas). Nothing to do before the first install; a cluster that cannot list the pods ends the wait.
    func stop() async {
        let selector = cluster.releaseSelector
        guard let names = try? await cluster.kubectl(["get", "deployment", "-l", selector, "-o", "name"], what: "Listing the release's Deployments"),
              !names.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return }
        _ = try? await cluster.kubectl(["scale", "deployment", "-l", selector, "--replicas=0"], what: "Scaling the release to 0")
        let deadline = Date().addingTimeInterval(300)
        while !Task.isCancelled, Date() < deadline, let pods = await cluster.airflowPods(), !pods.allSatisfy(PodStop.hasStopped) {
            try? await Task.sleep(nanoseconds: 1_000_000_000)
        }
    }

    func start(_ release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
        try await upgrade(to: release, settings: settings, faultPoint: "during-start")
    }

    /// `helm upgrade --install` to `release`'s image. `faultPoint`: the recovery tests' crash while Helm waits,
    /// armed for a switch's start only (a restart's `resume` of the current deploy must not crash).
    private func upgrade(to release: ReleaseRecord, settings: DeploymentSettings, faultPoint: String?) async throws(AirlockError) {
        self.settings = settings
        guard let image = release.image, image.contains("@") else {
            throw .environment("Release \(release.deployId) has no pushed image; deploy it again")
        }
        let arguments = ["upgrade", "--install", kubernetes.release]
            + (try Self.chartArguments(kubernetes, image: image, airflowVersion: release.airflowVersion, metadataSecretName: metadataSecretName))
            + ["--wait", "--wait-for-jobs", "--timeout", "\(startTimeout)s"]
        try await writeMetadataSecret()
        running = release
        // The revision before the upgrade tells whether it made one: a failed `--wait` does (status failed), a
        // chart that does not render does not.
        let before = await cluster.helmRevision()
        if let faultPoint, FaultInjection.crashRequested(at: faultPoint) {
            // The server dies while its Helm upgrade is pending (its revision made, the pods not yet switched).
            Task.detached { [cluster] in
                while true {
                    if let latest = await cluster.helmLatest(), latest.revision > (before ?? 0), latest.status.hasPrefix("pending-") {
                        FaultInjection.crashIfRequested(faultPoint)
                    }
                    try? await Task.sleep(nanoseconds: 500_000_000)
                }
            }
        }
        let began = Date()
        do throws(AirlockError) {
            try await cluster.helmUpgradeFailingFast(arguments, timeout: Double(startTimeout + 60),
                                                     what: "helm upgrade --install \(kubernetes.release) (deploy \(release.deployId))")
        } catch {
            await recordStart(of: release.deployId, image: image, revisionBefore: before)
            // Helm words its timeout differently across versions ("context deadline exceeded", "timed out waiting
            // for the condition"); the clock says it plainly.
            guard Date().timeIntervalSince(began) >= Double(startTimeout) else { throw error }
            // The advice is in the message: it is what the deploy's record and `airlock deploy` show.
            throw .environment("\(error.message) — the pods were not ready within the deployment's start timeout (\(startTimeout) s). "
                               + "See why with `kubectl describe pods -n \(kubernetes.namespace)`; if they only need longer (slow image pulls, "
                               + "a busy node), raise it: `airlock deployment settings \(deploymentName) --start-timeout SECONDS`")
        }
        await recordStart(of: release.deployId, image: image, revisionBefore: before)
    }

    /// Leaves the release alone when Helm's latest revision is a completed upgrade to `release`'s image and
    /// its Deployments are scaled up (a graceful stop or a restart of the server does not touch the pods).
    func resume(_ release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) -> Bool {
        self.settings = settings
        if let image = release.image, await cluster.runsAsDeployed(image: image) {
            running = release
            return false
        }
        try await upgrade(to: release, settings: settings, faultPoint: nil)
        return true
    }

    /// Keeps what `start` gave Helm and the revision Helm made of it (the latest one, when newer than `revisionBefore`).
    private func recordStart(of deployId: String, image: String, revisionBefore: Int?) async {
        let revision = await cluster.helmRevision().flatMap { $0 > (revisionBefore ?? 0) ? $0 : nil }
        started = (deployId, TargetFacts(image: image, helmRevision: revision))
    }

    func runningFacts(of deployId: String) async -> TargetFacts {
        guard let started, started.deployId == deployId else { return TargetFacts() }
        return started.facts
    }

    /// Helm replaces the pods with a rolling update: the running release serves until the new one is ready.
    nonisolated var replacesInPlace: Bool { true }

    /// The pods run on the cluster, not under this server.
    nonisolated var keepsRunningWithoutServer: Bool { true }

    func waitUntilHealthy(timeout: Double) async throws(AirlockError) {
        guard let running else { throw .environment("Nothing was started on the cluster") }
        let deadline = Date().addingTimeInterval(timeout)
        var last = "no answer"
        while Date() < deadline {
            // During a rolling update, pods of the replaced release still serve and answer through the Service
            // (and their scheduler's last heartbeat is recent): health counts once none of them is left running.
            if let leftover = await podsOfAnotherImage(than: running) {
                last = leftover
            } else if let endpoint = try? await healthEndpoint(for: running) {
                if let document = await AirflowSupervisor.fetchHealth(endpoint.health, timeout: 10) {
                    let unhealthy = document.unhealthy(required: Self.requiredHealth(running))
                    if unhealthy.isEmpty { return }
                    last = "not healthy: " + unhealthy.joined(separator: ", ")
                } else {
                    last = "\(endpoint.health) did not answer"
                }
            }
            try? await Task.sleep(nanoseconds: 2_000_000_000)
        }
        throw .environment("Airflow \(running.airflowVersion) on the cluster did not become healthy within \(Int(timeout)) s (\(last))")
    }

    /// Which of the release's pods still run another image of the deployment's repository and are not being
    /// deleted; nil when none (also when the chart labels its pods otherwise: then only the health check counts).
    ///
    /// A pod being deleted does not count, as for `kubectl rollout status`: it has left the Service's endpoints and
    /// its containers have been told to stop. Waiting until it is gone added its whole termination grace to every
    /// rolling switch (10 s in the test chart, 30 s by default; benchmarks/kubernetes) while the new pods served.
    private func podsOfAnotherImage(than release: ReleaseRecord) async -> String? {
        guard let image = release.image, let running = ImageByDigest(image) else { return nil }
        guard let pods = await cluster.airflowPods() else { return nil }
        let others = pods.compactMap { pod -> String? in
            let metadata = pod["metadata"] as? [String: Any] ?? [:]
            guard metadata["deletionTimestamp"] == nil else { return nil }
            let containers = (pod["spec"] as? [String: Any])?["containers"] as? [[String: Any]] ?? []
            let old = containers.contains { ($0["image"] as? String).map { running.isSameRepository($0) && $0 != image } ?? false }
            return old ? metadata["name"] as? String ?? "?" : nil
        }
        return others.isEmpty ? nil : "pods of the replaced release still running: " + others.sorted().joined(separator: ", ")
    }

    // MARK: The metadata DB

    func migrateDatabase(with release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
        self.settings = settings
        try await runSchemaJob("migrate", image: release, arguments: ["airflow", "db", "migrate"], expected: release.schemaHead, using: release)
    }

    func downgradeDatabase(to release: ReleaseRecord, with current: ReleaseRecord,
                           settings: DeploymentSettings) async throws(AirlockError) -> [String: Int] {
        self.settings = settings
        try await runSchemaJob("downgrade", image: current, arguments: ["airflow", "db", "downgrade", "-r", release.schemaHead, "-y"],
                               expected: release.schemaHead, using: release)
        return try await MetadataDatabase.moveDanglingRows(of: workspace.database(settings), python: try await environment(release).python)
    }

    /// The Job that changes the schema: `image`'s Airflow with the pods' metadata Secret; succeeds when
    /// the DB is then at `expected` (read from here with `reader`'s environment).
    private func runSchemaJob(_ kind: String, image release: ReleaseRecord, arguments: [String], expected: String,
                              using reader: ReleaseRecord) async throws(AirlockError) {
        guard let image = release.image else { throw .environment("Release \(release.deployId) has no pushed image; deploy it again") }
        try await writeMetadataSecret()
        let what = "`\(arguments.joined(separator: " "))` with Airflow \(release.airflowVersion)"
        _ = try await cluster.runJob(name: Self.jobName(kind, reader.deployId), image: image, arguments: arguments,
                                     environment: [["name": "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                                                    "valueFrom": ["secretKeyRef": ["name": metadataSecretName, "key": "connection"]]]],
                                     timeout: Double(startTimeout), what: what)
        let now = try await schemaRevision(using: reader, settings: settings)
        guard now == expected else {
            throw .environment("\(what) finished, but the metadata DB is at `\(now ?? "no schema")`, not `\(expected)`")
        }
    }

    /// `airlock-<kind>-<deploy>`: the Job for a deploy's migration or a rollback's downgrade, kept after it
    /// ran (its log and image show what changed the schema) until the same step runs again.
    static func jobName(_ kind: String, _ deployId: String) -> String { "airlock-\(kind)-\(objectSuffix(deployId))" }

    /// A deploy id as a short DNS-label-safe suffix.
    static func objectSuffix(_ deployId: String) -> String {
        String(deployId.lowercased().filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(12))
    }

    private var metadataSecretName: String { "\(kubernetes.release)-airlock-metadata" }

    /// The Secret the pods and the schema Jobs read the metadata connection from (key `connection`, as the
    /// official chart's `data.metadataSecretName`): the deployment's URL with the server's `PGPASSWORD`.
    private func writeMetadataSecret() async throws(AirlockError) {
        guard let url = settings.metadataDatabaseUrl, var components = URLComponents(string: url) else {
            throw .usage("The Kubernetes target needs a PostgreSQL metadata DB (`metadataDatabaseUrl`)")
        }
        components.scheme = "postgresql"
        if let password = ProcessInfo.processInfo.environment["PGPASSWORD"], !password.isEmpty { components.password = password }
        try await cluster.ensureNamespace()
        try await cluster.apply([
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": ["name": metadataSecretName, "labels": ["app.kubernetes.io/managed-by": "airlock"]],
            "stringData": ["connection": components.string ?? url],
        ], what: "Writing the metadata connection Secret")
    }

    // MARK: Status

    func status(current: ReleaseRecord?, settings: DeploymentSettings) async -> LiveStatus {
        let release = running ?? current
        var health = LiveStatus.Health(status: "stopped", components: [:])
        var url: String?
        if let release, let endpoint = try? await healthEndpoint(for: release) {
            url = endpoint.base
            if let document = await AirflowSupervisor.fetchHealth(endpoint.health, timeout: 10) {
                let required = Self.requiredHealth(release)
                health.components = document.components.filter { required.contains($0.key) }.mapValues { $0.status ?? "unknown" }
                health.status = document.unhealthy(required: required).isEmpty ? "healthy" : "unhealthy"
            } else {
                health.status = "unhealthy"
            }
        }
        // Only a release Airlock deployed has a Helm revision to show; before the first deploy, asking
        // Helm could mean bootstrapping it (over a minute) inside a status read.
        if release != nil, let revision = await cluster.helmRevision() { health.components["helm_revision"] = String(revision) }
        var head: String?
        if let current {
            let python = EnvironmentBuilder.existing(lockHash: current.lockHash, python: current.python, paths: releases.paths)?.python ?? "python3"
            head = try? await MetadataDatabase.currentRevision(of: workspace.database(settings), python: python)
        }
        return LiveStatus(airflowUrl: url, health: health, dbSchemaHead: head)
    }

    /// Stops the Helm a killed server left running and repairs a revision it left pending
    /// (`KubernetesCluster.settleInterruptedHelm`), deletes schema Jobs it left running; the coordinator then
    /// repairs the switch.
    func reconcileAfterRestart() async {
        if let settled = await cluster.settleInterruptedHelm() {
            FileHandle.standardError.write(Data("airlock: Helm release `\(kubernetes.release)` (namespace \(kubernetes.namespace)): \(settled)\n".utf8))
        }
        _ = try? await cluster.kubectl(["delete", "job", "-l", "app.kubernetes.io/managed-by=airlock", "--field-selector", "status.successful=0",
                                        "--ignore-not-found"], what: "Deleting unfinished schema Jobs")
    }

    // MARK: Helpers

    /// The UI/API Service's ClusterIP (reachable from the node through kube-proxy) and the health URL.
    private func healthEndpoint(for release: ReleaseRecord) async throws(AirlockError) -> (base: String, health: String) {
        let airflow3 = Self.isAirflow3(release)
        let service = "\(kubernetes.release)-\(airflow3 ? "api-server" : "webserver")"
        let address = try await cluster.kubectl(["get", "service", service, "-o", "jsonpath={.spec.clusterIP}:{.spec.ports[0].port}"],
                                                what: "Reading the Service `\(service)`").trimmingCharacters(in: .whitespacesAndNewlines)
        let base = "http://\(address)"
        return (base, base + (airflow3 ? "/api/v2/monitor/health" : "/health"))
    }

    static func isAirflow3(_ release: ReleaseRecord) -> Bool { (Version(release.airflowVersion)?.release.first ?? 2) >= 3 }

    /// What must be healthy: the DB, the scheduler and the triggerer; on 3.x also the dag-processor (a
    /// component of its own there; 2.x's chart runs none by default).
    static func requiredHealth(_ release: ReleaseRecord) -> [String] {
        ["metadatabase", "scheduler", "triggerer"] + (isAirflow3(release) ? ["dag_processor"] : [])
    }

    static func minorVersion(_ python: String) -> String { python.split(separator: ".").prefix(2).joined(separator: ".") }

    /// A release's host environment: the one it was prepared with, else rebuilt from its lock.
    func environment(_ release: ReleaseRecord) async throws(AirlockError) -> PythonEnvironment {
        if let known = environments[release.deployId] { return known }
        let environment = try await releases.environment(of: release)
        environments[release.deployId] = environment
        return environment
    }
}
