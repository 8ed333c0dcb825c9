import AirlockCore
@testable import AirlockDeployer
import AirlockLocalTarget
import AirlockStorage
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing

/// The coordinator's rules through the `DeployTarget` seam: the real coordinator over a real SQLite
/// store drives a target that records each step it is told to do and keeps a schema head as a metadata
/// DB would. What is under test is the coordinator's order of steps and its undo (rule 7), which every
/// target gets, so no Airflow runs here (the local target's own tests run real Airflow).
@Suite struct DeployTargetSeamTests {
    /// A target that records the steps and keeps the DB's schema head, backups as files in the workspace.
    actor RecordingTarget: DeployTarget {
        let workspace: DeploymentWorkspace
        /// Airflow version and schema head of each project artifact.
        let releases: [String: (airflow: String, head: String)]
        private(set) var steps: [String] = []
        private(set) var head: String?
        private var running: ReleaseRecord?
        private var unhealthy: Set<String> = []
        /// Like the Kubernetes target (rolling updates, pods that outlive the server), or like the local one.
        nonisolated let replacesInPlace: Bool
        nonisolated var keepsRunningWithoutServer: Bool { replacesInPlace }

        init(workspace: DeploymentWorkspace, releases: [String: (airflow: String, head: String)], replacesInPlace: Bool = false) {
            self.workspace = workspace
            self.releases = releases
            self.replacesInPlace = replacesInPlace
        }

        /// How long `start` takes: long enough that two unserialised switches would interleave their steps.
        private var startDelay: Duration = .zero

        func failHealth(of deployId: String) { unhealthy.insert(deployId) }
        func clearSteps() { steps = [] }
        func slowStarts(_ delay: Duration) { startDelay = delay }

        /// How long `status` takes to answer: a cluster that does not answer (kubectl waits up to 60 s).
        private var statusDelay: Duration = .zero
        func slowStatus(_ delay: Duration) { statusDelay = delay }

        func prepare(_ request: ReleaseRequest, settings: DeploymentSettings,
                     progress: @escaping @Sendable (String) async -> Void) async throws(AirlockError) -> ReleaseRecord {
            var record: ReleaseRecord
            if let source = request.reuseReleaseOf, let reused: ReleaseRecord = DeploymentWorkspace.read(workspace.releaseRecord(source)) {
                record = reused
                record.deployId = request.deployId
                steps.append("prepare reusing \(source)")
            } else {
                guard let release = releases[request.imageDigest] else { throw .usage("unknown image \(request.imageDigest)") }
                record = ReleaseRecord(deployId: request.deployId, runtimeVersion: nil, airflowVersion: release.airflow, python: "3.11",
                                       indexOptions: [], lock: "apache-airflow==\(release.airflow)\n", lockHash: release.airflow,
                                       schemaHead: release.head)
                steps.append("prepare \(release.airflow)")
            }
            try DeploymentWorkspace.write(record, to: workspace.releaseRecord(request.deployId))
            return record
        }

        func stop() async {
            steps.append("stop")
            running = nil
        }

        func start(_ release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
            steps.append("start \(release.airflowVersion)")
            if startDelay > .zero { try? await Task.sleep(for: startDelay) }
            running = release
        }

        func waitUntilHealthy(timeout: Double) async throws(AirlockError) {
            steps.append("health")
            guard let running, !unhealthy.contains(running.deployId) else { throw .environment("scheduler: unhealthy") }
        }

        func schemaRevision(using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) -> String? {
            steps.append("revision")
            return head
        }

        func backupDatabase(beforeDeploy deployId: String, using release: ReleaseRecord,
                            settings: DeploymentSettings) async throws(AirlockError) -> URL {
            steps.append("backup at \(head ?? "none")")
            let file = workspace.backups.appendingPathComponent("\(deployId).db")
            try DeploymentWorkspace.write(["head": head ?? ""], to: file)
            return file
        }

        func restoreDatabase(from backup: URL, using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
            guard let saved = (DeploymentWorkspace.read(backup) as [String: String]?)?["head"] else {
                throw .environment("No backup at `\(backup.path)`")
            }
            steps.append("restore to \(saved)")
            head = saved
        }

        func createDatabaseIfMissing(using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
            steps.append("create")
        }

        func migrateDatabase(with release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
            steps.append("migrate to \(release.schemaHead) with \(release.airflowVersion)")
            head = release.schemaHead
        }

        func downgradeDatabase(to release: ReleaseRecord, with current: ReleaseRecord,
                               settings: DeploymentSettings) async throws(AirlockError) -> [String: Int] {
            steps.append("downgrade to \(release.schemaHead) with \(current.airflowVersion)")
            head = release.schemaHead
            return [:]
        }

        func status(current: ReleaseRecord?, settings: DeploymentSettings) async -> LiveStatus {
            if statusDelay > .zero { try? await Task.sleep(for: statusDelay) }
            return LiveStatus(airflowUrl: nil, health: LiveStatus.Health(status: running == nil ? "stopped" : "healthy", components: [:]),
                       dbSchemaHead: head)
        }

        /// How long the repair after a restart takes: a Kubernetes one waits out an orphan Helm (up to 30 s).
        private var reconcileDelay: Duration = .zero
        func slowReconcile(_ delay: Duration) { reconcileDelay = delay }

        func reconcileAfterRestart() async {
            steps.append("reconcile")
            if reconcileDelay > .zero { try? await Task.sleep(for: reconcileDelay) }
        }
    }

    static func bundle(_ text: String) -> [UInt8] {
        TarArchive(entries: [TarArchive.Entry(path: "Dockerfile", kind: .file, contents: Array(text.utf8))]).bytes()
    }

    /// What every coordinator test here stands on: a scratch data folder with a real SQLite store and artifact
    /// store, and one deployment `dep` (`prod`) in it; deploys go through the real coordinator.
    struct Seam {
        let data: URL
        let store: SQLiteDeployHistoryStore
        let artifacts: ArtifactStore

        init(_ label: String, settings: DeploymentSettings) async throws {
            data = try TestSupport.scratchFolder(label)
            store = try SQLiteDeployHistoryStore(path: data.appendingPathComponent("airlock.sqlite").path)
            artifacts = ArtifactStore(root: data.appendingPathComponent("artifacts"))
            _ = try await store.createDeployment(Deployment(id: "dep", name: "prod", settings: settings))
        }

        var workspace: DeploymentWorkspace { DeploymentWorkspace(dataDirectory: data, deploymentId: "dep") }

        /// Stores a project artifact whose Dockerfile is `dockerfile`; returns its digest.
        func image(_ dockerfile: String) throws -> String {
            try artifacts.store(.image, tar: DeployTargetSeamTests.bundle(dockerfile), limits: TarArchive.Limits()).digest
        }

        /// The real coordinator, with every deployment on `target`.
        func coordinator(_ target: any DeployTarget, statusDeadline: Double = 20) -> DeployCoordinator {
            DeployCoordinator(store: store, artifacts: artifacts, dataDirectory: data, paths: .fromEnvironment(),
                              healthTimeout: 1, constraintsSource: nil, statusDeadline: statusDeadline) { _, _ throws(AirlockError) in target }
        }

        /// Records deploy `id` of `image` and runs it to its end through `coordinator`; returns it as stored.
        func deploy(_ image: String, _ id: String, through coordinator: DeployCoordinator) async throws -> Deploy {
            _ = try await store.createDeploy(Deploy(
                id: id, deploymentId: "dep", sequence: 0, type: .imageAndDag, status: .initialized, description: id, createdAt: Date(),
                createdBy: "ci", image: nil, dagBundleVersion: nil, dagDeployEnabled: true, dbSchemaHead: nil, everDeployed: false))
            let deployment = try #require(try await store.deployment(id: "dep"))
            _ = try await coordinator.finalize(deployId: id, deployment: deployment, imageDigest: image, dagsDigest: nil, actor: "ci")
            await coordinator.waitForIdle(deploymentId: "dep")
            return try #require(try await store.deploy(id: id))
        }

        func remove() { try? FileManager.default.removeItem(at: data) }
    }

    @Test func aDowngradingRollbackBacksUpThenDowngradesWithTheCurrentReleaseBeforeTheSwitchAndAFailedHealthCheckIsUndone() async throws {
        let seam = try await Seam("airlock-seam", settings: DeploymentSettings(rollbackEnabled: true))
        defer { seam.remove() }
        let store = seam.store
        let old = try seam.image("FROM apache/airflow:2.10.5\n")
        let new = try seam.image("FROM apache/airflow:3.0.6\n")
        let target = RecordingTarget(workspace: seam.workspace, releases: [old: ("2.10.5", "5f2621c13b39"), new: ("3.0.6", "29ce7909c52b")])
        let coordinator = seam.coordinator(target)

        func deploy(_ image: String, _ id: String, failingHealth: Bool = false) async throws -> Deploy {
            if failingHealth { await target.failHealth(of: id) }
            await target.clearSteps()
            return try await seam.deploy(image, id, through: coordinator)
        }

        // #1 on an empty DB: created and migrated, then started.
        let first = try await deploy(old, "d1")
        let firstSteps = await coordinator.steps(deployId: "d1")
        #expect(first.status == .deployed, "\(firstSteps)")
        #expect(await target.steps == ["prepare 2.10.5", "stop", "revision", "create", "migrate to 5f2621c13b39 with 2.10.5",
                                       "start 2.10.5", "health", "revision"])
        // #2 upgrades: backup first, then migrate up with the new release.
        let second = try await deploy(new, "d2")
        #expect(second.status == .deployed && second.dbSchemaHead == "29ce7909c52b")
        #expect(await target.steps == ["prepare 3.0.6", "stop", "revision", "backup at 5f2621c13b39",
                                       "migrate to 29ce7909c52b with 3.0.6", "start 3.0.6", "health", "revision"])

        // Roll back to #1 (rule 7): backup, downgrade with the CURRENT (3.0.6) release before the switch,
        // then start #1's release (its lock reused) and wait for health.
        await target.clearSteps()
        var deployment = try #require(try await store.deployment(id: "dep"))
        let plan = try RollbackPlanner.plan(deployment: deployment, history: try await store.history(deploymentId: "dep"), targetId: "1",
                                            now: Date(), description: "3.0.6 breaks our DAGs", role: .admin)
        #expect(plan.database.chosen == .downgrade)
        let rollback = try await coordinator.rollback(plan: plan, deployment: deployment, actor: "ci", pin: false)
        await coordinator.waitForIdle(deploymentId: "dep")
        #expect(await target.steps == ["prepare reusing d1", "stop", "revision", "backup at 29ce7909c52b",
                                       "downgrade to 5f2621c13b39 with 3.0.6", "start 2.10.5", "health", "revision"])
        let rolledBack = try #require(try await store.deploy(id: rollback.id))
        let rollbackSteps = await coordinator.steps(deployId: rollback.id)
        #expect(rolledBack.status == .deployed && rolledBack.dbSchemaHead == "5f2621c13b39", "\(rollbackSteps)")
        deployment = try #require(try await store.deployment(id: "dep"))
        #expect(deployment.currentDeployId == rollback.id)

        // #4 upgrades again but never gets healthy: the backup is restored and #3's release runs again.
        let failed = try await deploy(new, "d4", failingHealth: true)
        #expect(failed.status == .failed)
        #expect(await target.steps == ["prepare 3.0.6", "stop", "revision", "backup at 5f2621c13b39",
                                       "migrate to 29ce7909c52b with 3.0.6", "start 3.0.6", "health",
                                       "stop", "restore to 5f2621c13b39", "start 2.10.5", "health"])
        #expect(await target.head == "5f2621c13b39")
        #expect(try await store.deployment(id: "dep")?.currentDeployId == rollback.id)
        let message = await coordinator.statusMessage(deployId: "d4") ?? ""
        #expect(message.contains("restored from its backup") && message.contains("previous deploy runs again"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: seam.workspace.journalFile.path))
    }

    /// After a restart the server serves while it repairs (`beginReconcile`): it is not ready until the repair has
    /// run, a deploy asked for meanwhile runs after the repair (never beside it), and the repair marks `FAILED` only
    /// the `INITIALIZED` deploy the previous server left, not the one uploaded to this server while it repaired.
    @Test func aDeployAskedForWhileTheServerRepairsRunsAfterTheRepairAndIsNotTakenForALeftover() async throws {
        let seam = try await Seam("airlock-seam-repair", settings: DeploymentSettings())
        defer { seam.remove() }
        let old = try seam.image("FROM apache/airflow:2.10.5\n")
        let changed = try seam.image("FROM apache/airflow:2.10.5\n# a code change\n")
        let target = RecordingTarget(workspace: seam.workspace, releases: [old: ("2.10.5", "5f2621c13b39"), changed: ("2.10.5", "5f2621c13b39")])
        #expect(try await seam.deploy(old, "d1", through: seam.coordinator(target)).status == .deployed)
        // The previous server died with an upload under way.
        _ = try await seam.store.createDeploy(Deploy(
            id: "left", deploymentId: "dep", sequence: 0, type: .imageAndDag, status: .initialized, description: "left", createdAt: Date(),
            createdBy: "ci", image: nil, dagBundleVersion: nil, dagDeployEnabled: true, dbSchemaHead: nil, everDeployed: false))

        // The restart: a new coordinator whose repair takes a while.
        await target.clearSteps()
        await target.slowReconcile(.seconds(2))
        let restarted = seam.coordinator(target)
        try await restarted.beginReconcile()
        #expect(!restarted.isReconciled, "ready before the repair ran")
        _ = try await seam.store.createDeploy(Deploy(
            id: "d2", deploymentId: "dep", sequence: 0, type: .imageAndDag, status: .initialized, description: "d2", createdAt: Date(),
            createdBy: "ci", image: nil, dagBundleVersion: nil, dagDeployEnabled: true, dbSchemaHead: nil, everDeployed: false))
        let deployment = try #require(try await seam.store.deployment(id: "dep"))
        _ = try await restarted.finalize(deployId: "d2", deployment: deployment, imageDigest: changed, dagsDigest: nil, actor: "ci")
        await restarted.waitForIdle(deploymentId: "dep")

        #expect(restarted.isReconciled)
        let steps = await target.steps
        #expect(steps.first == "reconcile" && steps.filter { $0 == "reconcile" }.count == 1, "\(steps)")
        #expect(steps.firstIndex(of: "prepare 2.10.5").map { $0 > 0 } == true, "the deploy ran after the repair: \(steps)")
        #expect(try await seam.store.deploy(id: "left")?.status == .failed)
        #expect(try await seam.store.deploy(id: "d2")?.status == .deployed)
        #expect(try await seam.store.deployment(id: "dep")?.currentDeployId == "d2")
    }

    /// A tool a killed server left changing the deployment's metadata DB (a `psql` restore, an `airflow db
    /// downgrade`: here a process with the environment mark those tools run with) is stopped by the restarted
    /// server's repair, before anything else touches the DB; one changing another database is left alone.
    @Test func theRepairStopsAToolAKilledServerLeftChangingTheDatabaseAndNoOther() async throws {
        let seam = try await Seam("airlock-seam-db-tool", settings: DeploymentSettings())
        defer { seam.remove() }
        let target = RecordingTarget(workspace: seam.workspace, releases: [:])
        let ours = seam.workspace.database(DeploymentSettings())
        let other = MetadataDatabaseLocation.defaultSQLite(home: seam.data.appendingPathComponent("elsewhere"))
        func leftRunning(_ location: MetadataDatabaseLocation) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sleep")
            process.arguments = ["300"]
            process.environment = ProcessInfo.processInfo.environment.merging(location.changeMark) { $1 }
            // As a tool of ProcessRunner's is started: a child of a Dispatch thread would ignore SIGTERM.
            if let failure = ProcessRunner.spawnWithDefaultSignalMask(process) { throw AirlockError.environment(failure) }
            return process
        }
        let orphan = try leftRunning(ours)
        let bystander = try leftRunning(other)
        defer { bystander.terminate(); orphan.terminate() }

        try await seam.coordinator(target).reconcile()
        let deadline = Date().addingTimeInterval(15)
        while orphan.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!orphan.isRunning, "the tool left changing the deployment's DB still runs")
        #expect(orphan.terminationReason == .uncaughtSignal && orphan.terminationStatus == SIGTERM, "stopped gracefully first")
        #expect(bystander.isRunning, "a tool changing another database was stopped")
    }

    /// A target whose status does not answer (a cluster that is down) makes the live status `unknown` at the
    /// deadline, instead of holding `airlock deployment show` (30 s) or the deployment's page.
    @Test func aStatusThatDoesNotAnswerIsUnknownAtTheDeadline() async throws {
        let seam = try await Seam("airlock-seam-status", settings: DeploymentSettings())
        defer { seam.remove() }
        let target = RecordingTarget(workspace: seam.workspace, releases: [:])
        let coordinator = seam.coordinator(target, statusDeadline: 1)
        let deployment = try #require(try await seam.store.deployment(id: "dep"))
        #expect(await coordinator.status(of: deployment).health.status == "stopped")
        await target.slowStatus(.seconds(60))
        let asked = Date()
        let live = await coordinator.status(of: deployment)
        // Half the 60 s the target would take; loose because other suites in this process keep the 2 cores busy (5.4 s seen in CI).
        #expect(Date().timeIntervalSince(asked) < 30)
        #expect(live.health.status == "unknown" && live.health.components["target"] == "did not answer within 1 s", "\(live.health)")
    }

    /// Each step carries when the coordinator began it, so a client that sees several steps in one poll can still
    /// time each (the CLI printed "(0 ms)" for all but the last of such a batch): a start that takes 1.5 s is
    /// 1.5 s from "Starting Airflow" to the next step, and the steps around it take far less.
    @Test func eachStepIsTimedByTheServersClock() async throws {
        let seam = try await Seam("airlock-seam-step-times", settings: DeploymentSettings())
        defer { seam.remove() }
        let image = try seam.image("FROM apache/airflow:2.10.5\n")
        let target = RecordingTarget(workspace: seam.workspace, releases: [image: ("2.10.5", "5f2621c13b39")])
        await target.slowStarts(.milliseconds(1500))
        let coordinator = seam.coordinator(target)
        let before = Date()
        #expect(try await seam.deploy(image, "d1", through: coordinator).status == .deployed)
        let after = Date()
        let steps = await coordinator.steps(deployId: "d1")
        #expect(steps.count >= 4 && steps.allSatisfy { $0.startedAt >= before && $0.startedAt <= after }, "\(steps)")
        #expect(zip(steps, steps.dropFirst()).allSatisfy { $0.startedAt <= $1.startedAt }, "in order: \(steps)")
        let durations = DeployStep.durations(of: steps, end: nil)
        let start = try #require(steps.firstIndex { $0.message.hasPrefix("Starting Airflow 2.10.5") }, "\(steps)")
        let took = try #require(durations[start])
        #expect(took >= 1.45 && took < 10, "the start slept 1.5 s: \(took) s")
        #expect(durations.last == .some(nil), "the last step is where the deploy ended")
        let others = durations.enumerated().filter { $0.offset != start }.compactMap(\.element)
        #expect(others.allSatisfy { $0 < 1.45 }, "only the start was slow: \(others)")
    }

    /// On a target that replaces releases in place (Kubernetes), a switch that keeps the schema — here a code
    /// change on the same Airflow — does not stop the running deploy first (a rolling update, no downtime,
    /// no backup: nothing in the DB changes); one that changes the schema still stops, backs up and migrates
    /// first. A graceful server stop leaves such a target running.
    @Test func aSameSchemaSwitchReplacesInPlaceWhereTheTargetCanAndASchemaChangeStillStopsFirst() async throws {
        let seam = try await Seam("airlock-seam-in-place", settings: DeploymentSettings(rollbackEnabled: true))
        defer { seam.remove() }
        let old = try seam.image("FROM apache/airflow:2.10.5\n")
        let changed = try seam.image("FROM apache/airflow:2.10.5\n# a code change\n")
        let new = try seam.image("FROM apache/airflow:3.0.6\n")
        let target = RecordingTarget(workspace: seam.workspace,
                                     releases: [old: ("2.10.5", "5f2621c13b39"), changed: ("2.10.5", "5f2621c13b39"), new: ("3.0.6", "29ce7909c52b")],
                                     replacesInPlace: true)
        let coordinator = seam.coordinator(target)
        func deploy(_ image: String, _ id: String) async throws -> Deploy {
            await target.clearSteps()
            return try await seam.deploy(image, id, through: coordinator)
        }

        // The first deploy has nothing running to keep: as on any target.
        #expect(try await deploy(old, "d1").status == .deployed)
        #expect(await target.steps == ["prepare 2.10.5", "stop", "revision", "create", "migrate to 5f2621c13b39 with 2.10.5",
                                       "start 2.10.5", "health", "revision"])
        // A code change on the same Airflow: the schema stays, so no stop and no backup.
        #expect(try await deploy(changed, "d2").status == .deployed)
        #expect(await target.steps == ["prepare 2.10.5", "revision", "revision", "start 2.10.5", "health", "revision"])
        let said = await coordinator.steps(deployId: "d2")
        #expect(said.contains { $0.message.contains("replacing the running deploy in place") }, "\(said)")
        // An upgrade changes the schema: stopped, backed up and migrated before the new release starts.
        #expect(try await deploy(new, "d3").status == .deployed)
        #expect(await target.steps == ["prepare 3.0.6", "revision", "stop", "revision", "backup at 5f2621c13b39",
                                       "migrate to 29ce7909c52b with 3.0.6", "start 3.0.6", "health", "revision"])
        // A graceful server stop leaves what runs on a cluster running.
        await target.clearSteps()
        await coordinator.shutdown()
        #expect(await target.steps.isEmpty)
    }
}
