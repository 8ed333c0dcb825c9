import AirlockCore
import AirlockLocalTarget
import AirlockStorage
import AirlockToolchain
import AirlockUpgradeTest
import Foundation
import PythonPackaging

/// Runs deploys and rollbacks on the local target and keeps each deployment's Airflow running.
///
/// One coordinator per server. Work for one deployment is queued and runs one at a time (SPEC §4.2:
/// concurrent deploys are serialised, never interleaved); different deployments proceed in parallel.
/// A deploy is `DEPLOYED` only once Airflow reports healthy on it; any failure after the running
/// deploy was stopped restores the metadata-DB backup and starts the previous deploy again.
public actor DeployCoordinator {
    let store: any DeployHistoryStore
    let artifacts: ArtifactStore
    let dataDirectory: URL
    let paths: AirlockPaths
    /// Seconds a start may take to become healthy before the deploy fails: a first 2.x start on a loaded
    /// 2-core machine was measured at 115–125 s (FAB syncs its permissions), so the default leaves room.
    let healthTimeout: Double

    private var supervisors: [String: AirflowSupervisor] = [:]
    private var queues: [String: Task<Void, Never>] = [:]
    /// The step a deploy is at, or why it failed: what `GET …/deploys/{id}` shows as `statusMessage`.
    private var messages: [String: String] = [:]
    /// Every step a deploy went through, in order (`steps`), so a client polling now and then misses none.
    private var steps: [String: [String]] = [:]

    public init(store: any DeployHistoryStore, artifacts: ArtifactStore, dataDirectory: URL,
                paths: AirlockPaths = .fromEnvironment(), healthTimeout: Double = 480) {
        self.store = store
        self.artifacts = artifacts
        self.dataDirectory = dataDirectory
        self.paths = paths
        self.healthTimeout = healthTimeout
    }

    // MARK: Public API

    /// What a deploy is doing now (or why it failed), while this server knows it.
    public func statusMessage(deployId: String) -> String? { messages[deployId] }

    /// The steps a deploy went through so far, while this server knows it.
    public func steps(deployId: String) -> [String] { steps[deployId] ?? [] }

    /// Queues a created deploy to run with the uploaded artifacts and returns at once.
    ///
    /// Checks what can be checked before queueing: the deploy is new, its artifacts are stored, and a
    /// DAG-only or image-only deploy has a current deploy to take the other half from.
    public func finalize(deployId: String, deployment: Deployment, imageDigest: String?, dagsDigest: String?,
                         constraintsSource: String?, actor: String) async throws(AirlockError) -> Deploy {
        guard var deploy = try await store.deploy(id: deployId), deploy.deploymentId == deployment.id else {
            throw .notFound("No deploy `\(deployId)` in deployment `\(deployment.name)`")
        }
        guard deploy.status == .initialized, messages[deployId] == nil else {
            throw .usage("Deploy \(deploy.label) was already finalized (it is \(deploy.status.rawValue))")
        }
        var current: Deploy?
        if let id = deployment.currentDeployId { current = try await store.deploy(id: id) }
        var image = imageDigest, dags = dagsDigest
        switch deploy.type {
        case .imageAndDag:
            guard image != nil else { throw .usage("An IMAGE_AND_DAG deploy needs `imageDigest`") }
        case .imageOnly:
            guard image != nil else { throw .usage("An IMAGE_ONLY deploy needs `imageDigest`") }
            dags = current?.dagBundleVersion
        case .dagOnly:
            guard dags != nil else { throw .usage("A DAG_ONLY deploy needs `dagsDigest`") }
            guard let currentImage = current?.image?.projectDigest else {
                throw .usage("A DAG-only deploy needs a current deploy with an image; deploy the whole project first")
            }
            image = currentImage
        }
        guard let image, artifacts.contains(.image, digest: image) else {
            throw .usage("The image artifact `\(imageDigest ?? "")` is not stored; upload it first (PUT …/artifacts/image)")
        }
        if let dags, !artifacts.contains(.dags, digest: dags) {
            throw .usage("The DAG bundle `\(dags)` is not stored; upload it first (PUT …/artifacts/dags)")
        }
        deploy.dagBundleVersion = dags
        deploy.image = deploy.type == .dagOnly ? current?.image : nil
        deploy = try await store.updateDeploy(deploy)
        messages[deployId] = "Waiting for the deployment's previous operation to finish"
        let reuse = deploy.type == .dagOnly ? current?.id : nil
        let job = Job(deployId: deployId, deploymentId: deployment.id, imageDigest: image, dagsDigest: dags,
                      reuseReleaseOf: reuse, restoreBackupOf: nil, constraintsSource: constraintsSource, actor: actor,
                      after: nil)
        enqueue(deployment.id) { await self.run(job) }
        return deploy
    }

    /// Marks a created deploy that never ran as `FAILED` (its upload or finalize failed), so the
    /// history never keeps a deploy `INITIALIZED`. A deploy that is queued or running cannot be cancelled.
    public func cancel(deployId: String, reason: String, actor: String) async throws(AirlockError) -> Deploy {
        guard let deploy = try await store.deploy(id: deployId) else { throw .notFound("No deploy `\(deployId)`") }
        guard deploy.status == .initialized, messages[deployId] == nil else {
            throw .usage("Deploy \(deploy.label) is \(deploy.status.rawValue) and queued or running; it cannot be cancelled")
        }
        let trimmed = String(reason.prefix(1000))
        say(deployId, trimmed)
        return try await store.markFailed(deployId: deployId, reason: trimmed, actor: actor)
    }

    /// Records the rollback deploy of `plan` and queues it (rule 5, 7); returns the new record at once.
    public func rollback(plan: RollbackPlan, deployment: Deployment, actor: String, pin: Bool,
                         constraintsSource: String?) async throws(AirlockError) -> Deploy {
        guard let imageDigest = plan.toDeploy.image?.projectDigest else {
            throw .usage("\(plan.toDeploy.label) has no image to roll back to")
        }
        let created = try await store.createDeploy(plan.newDeploy(id: UUID().uuidString.lowercased(), now: Date(), actor: actor))
        FaultInjection.crashIfRequested("after-record")
        messages[created.id] = "Waiting for the deployment's previous operation to finish"
        let restore = plan.database.chosen == .restoreBackup ? plan.database.choices.first { $0.option == .restoreBackup }?.backupId : nil
        let after = AfterRollback(settings: plan.settingsAfterRollback(deployment.settings),
                                  pin: pin ? Deployment.Pin(reason: "Pinned after rolling back to \(plan.toDeploy.label): \(plan.description ?? "")",
                                                            by: actor, at: Date()) : nil)
        let job = Job(deployId: created.id, deploymentId: deployment.id, imageDigest: imageDigest,
                      dagsDigest: plan.toDeploy.dagBundleVersion, reuseReleaseOf: plan.toDeploy.id, restoreBackupOf: restore,
                      constraintsSource: constraintsSource, actor: actor, after: after)
        enqueue(deployment.id) { await self.run(job) }
        return created
    }

    /// The backup taken just before the upgrade that a rollback to `target` undoes: the newest backup
    /// whose schema head is the target's, taken after the target was deployed.
    public nonisolated func backupBeforeUpgrade(deploymentId: String, target: Deploy) -> BackupInfo? {
        DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deploymentId).backupList()
            .first { $0.info.schemaHead == target.dbSchemaHead && $0.info.takenAt >= target.createdAt }?.info
    }

    /// The pins of a deploy's release, when it ran here: the input of the preview's package diff.
    public nonisolated func pins(deploymentId: String, deployId: String) -> PinnedSet? {
        let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deploymentId)
        return (DeploymentWorkspace.read(workspace.releaseRecord(deployId)) as ReleaseRecord?).map { PinnedSet(freezeText: $0.lock) }
    }

    /// The migrations a rollback from `current` to `target` crosses, newest first, read from the newer
    /// release's environment (its Airflow facts are cached per environment); empty when unknown.
    public nonisolated func migrations(deploymentId: String, current: Deploy, target: Deploy) async -> [DatabaseMigration] {
        let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deploymentId)
        guard let from: ReleaseRecord = DeploymentWorkspace.read(workspace.releaseRecord(current.id)),
              let to: ReleaseRecord = DeploymentWorkspace.read(workspace.releaseRecord(target.id)),
              from.schemaHead != to.schemaHead,
              let old = Version(from.airflowVersion), let new = Version(to.airflowVersion) else { return [] }
        let newer = new > old ? to : from
        guard let environment = EnvironmentBuilder.existing(lockHash: newer.lockHash, python: newer.python, paths: paths),
              let info = try? await DagParseHarness(environment: environment).info()
        else { return [] }
        return new > old ? info.migrations(from: to.schemaHead, downTo: from.schemaHead)
                         : info.migrations(from: from.schemaHead, downTo: to.schemaHead)
    }

    /// Health, URL and live schema head of a deployment (`airlock deployment show`).
    public func status(of deployment: Deployment) async -> LiveStatus {
        let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deployment.id)
        let ports: AirflowPorts? = DeploymentWorkspace.read(workspace.portsFile)
        var health = LiveStatus.Health(status: "stopped", components: [:])
        if let supervisor = supervisors[deployment.id], await supervisor.isRunning {
            if let document = await supervisor.health() {
                // Only what this deployment runs: 2.x reports a standalone dag_processor it never started.
                let required = await supervisor.current.map { AirflowSupervisor.requiredHealth(for: $0, in: document) } ?? ["metadatabase"]
                health.components = document.components.filter { required.contains($0.key) }.mapValues { $0.status ?? "unknown" }
                health.status = document.unhealthy(required: required).isEmpty ? "healthy" : "unhealthy"
            } else {
                health.status = "unhealthy"
            }
        }
        var head: String?
        if let current = deployment.currentDeployId,
           let record: ReleaseRecord = DeploymentWorkspace.read(workspace.releaseRecord(current)) {
            let python = EnvironmentBuilder.existing(lockHash: record.lockHash, python: record.python, paths: paths)?.python ?? "python3"
            head = try? await MetadataDatabase.currentRevision(of: workspace.database(deployment.settings), python: python)
        }
        return LiveStatus(airflowUrl: ports.map { "http://127.0.0.1:\($0.web)" }, health: health, dbSchemaHead: head)
    }

    /// Brings every local deployment back after a server start: kills Airflow processes a killed
    /// server left behind, finishes or undoes an interrupted switch (journal), marks deploys that were
    /// in flight as `FAILED`, and starts each deployment's current deploy again.
    public func reconcile() async throws(AirlockError) {
        for deployment in try await store.listDeployments() where deployment.target == .local {
            try await reconcile(deployment)
        }
    }

    /// Rule 11, the retention prune: deletes the artifacts and release folders of deploys past the
    /// deployment's window (never the current deploy, nor the latest earlier one, which stays
    /// eligible) and marks them "artifacts expired"; the records stay. Artifacts are shared by
    /// content, so one still used by any kept deploy of any deployment stays.
    /// - Returns: the ids of the deploys pruned.
    @discardableResult
    public func prune(deploymentId: String, now: Date = Date()) async throws(AirlockError) -> [String] {
        guard let deployment = try await store.deployment(id: deploymentId) else { return [] }
        let history = try await store.history(deploymentId: deployment.id)
        let ids = Set(RollbackPolicy.prunable(history: history, deployment: deployment, now: now))
        guard !ids.isEmpty else { return [] }
        var keptImages: Set<String> = [], keptDags: Set<String> = []
        for other in try await store.listDeployments() {
            let deploys = other.id == deployment.id ? history : try await store.history(deploymentId: other.id)
            for deploy in deploys where deploy.artifactsStored && !ids.contains(deploy.id) {
                if let digest = deploy.image?.projectDigest { keptImages.insert(digest) }
                if let digest = deploy.dagBundleVersion { keptDags.insert(digest) }
            }
        }
        let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deployment.id)
        for deploy in history where ids.contains(deploy.id) {
            if let digest = deploy.image?.projectDigest, !keptImages.contains(digest) { artifacts.remove(.image, digest: digest) }
            if let digest = deploy.dagBundleVersion, !keptDags.contains(digest) { artifacts.remove(.dags, digest: digest) }
            try? FileManager.default.removeItem(at: workspace.release(deploy.id))
        }
        try await store.markArtifactsExpired(deployIds: Array(ids))
        let labels = history.filter { ids.contains($0.id) }.map(\.label).sorted()
        try await store.appendAudit(AuditEvent(
            id: UUID().uuidString.lowercased(), at: now, actor: "airlock", action: .deployPrune, deploymentId: deployment.id,
            beforeDeployId: nil, afterDeployId: nil, beforeRuntime: nil, afterRuntime: nil, outcome: .succeeded, requestId: nil,
            detail: "Artifacts expired after \(deployment.settings.retentionDays) days: \(labels.joined(separator: ", "))"))
        return Array(ids)
    }

    /// Waits until every queued operation of the deployment has finished (tests, shutdown).
    public func waitForIdle(deploymentId: String) async {
        await queues[deploymentId]?.value
    }

    /// Stops every deployment's Airflow (a graceful server stop). An operation still running is cut
    /// short like a crash: its journal makes the next start undo it.
    public func shutdown() async {
        for queue in queues.values { queue.cancel() }
        for supervisor in supervisors.values { await supervisor.stop() }
    }

    // MARK: Queue

    private func enqueue(_ deploymentId: String, _ work: @escaping @Sendable () async -> Void) {
        let previous = queues[deploymentId]
        queues[deploymentId] = Task {
            await previous?.value
            await work()
        }
    }

    private func supervisor(_ deploymentId: String) -> AirflowSupervisor {
        if let existing = supervisors[deploymentId] { return existing }
        let created = AirflowSupervisor()
        supervisors[deploymentId] = created
        return created
    }

    private func say(_ deployId: String, _ message: String) {
        messages[deployId] = message
        steps[deployId, default: []].append(message)
    }

    // MARK: Running a deploy

    /// One queued deploy or rollback.
    struct Job: Sendable {
        var deployId: String
        var deploymentId: String
        var imageDigest: String
        var dagsDigest: String?
        /// Reuse this deploy's release lock (rollbacks, DAG-only deploys) instead of resolving.
        var reuseReleaseOf: String?
        /// `--restore-backup`: the id of the backup (`before-N`) to put back instead of downgrading.
        var restoreBackupOf: String?
        var constraintsSource: String?
        var actor: String
        var after: AfterRollback?
    }

    /// What changes on the deployment once a rollback succeeded.
    struct AfterRollback: Sendable {
        var settings: DeploymentSettings
        var pin: Deployment.Pin?
    }

    private func run(_ job: Job) async {
        do throws(AirlockError) {
            guard var deploy = try await store.deploy(id: job.deployId),
                  let deployment = try await store.deployment(id: job.deploymentId) else { return }
            deploy.status = .deploying
            deploy = try await store.updateDeploy(deploy)
            try await store.appendAudit(AuditEvent(
                id: UUID().uuidString.lowercased(), at: Date(), actor: job.actor, action: .deployStart,
                deploymentId: deployment.id, beforeDeployId: deployment.currentDeployId, afterDeployId: deploy.id,
                beforeRuntime: nil, afterRuntime: nil, outcome: .succeeded, requestId: nil, detail: "\(deploy.label) started"))
            let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deployment.id)

            let prepared: (record: ReleaseRecord, environment: PythonEnvironment)
            do throws(AirlockError) {
                prepared = try await prepareRelease(job, deploy: deploy, settings: deployment.settings, workspace: workspace)
            } catch {
                try await fail(deploy, job, "The release could not be prepared: \(error.message)")
                return
            }
            deploy.image = DeployImage(runtimeVersion: prepared.record.runtimeVersion, airflowVersion: prepared.record.airflowVersion,
                                       python: prepared.record.python, lockHash: prepared.record.lockHash, projectDigest: job.imageDigest)
            deploy.dagBundleVersion = job.dagsDigest
            deploy = try await store.updateDeploy(deploy)
            try await switchTo(deploy, job, release: prepared.record, environment: prepared.environment,
                               deployment: deployment, workspace: workspace)
        } catch {
            // The store itself failed: nothing more can be recorded.
            say(job.deployId, "The deploy could not be recorded: \(error)")
        }
    }

    private func fail(_ deploy: Deploy, _ job: Job, _ reason: String) async throws(AirlockError) {
        say(deploy.id, reason)
        try await store.markFailed(deployId: deploy.id, reason: reason, actor: job.actor)
    }

    /// Unpacks the deploy's files into its release folder and gets its environment: the lock of the
    /// reused release when there is one (nothing is resolved or rebuilt), else a fresh resolution.
    private func prepareRelease(_ job: Job, deploy: Deploy, settings: DeploymentSettings,
                                workspace: DeploymentWorkspace) async throws(AirlockError) -> (record: ReleaseRecord, environment: PythonEnvironment) {
        say(deploy.id, "Unpacking the release")
        let release = workspace.release(deploy.id)
        try? FileManager.default.removeItem(at: release)
        try copyArtifact(.image, job.imageDigest, into: release)
        if let dags = job.dagsDigest { try copyArtifact(.dags, dags, into: release) }
        try createDirectory(release.appendingPathComponent("dags"))

        let builder = ProjectImageBuilder(paths: paths, constraintsSource: job.constraintsSource, progress: { event in
            guard case .note(let text) = event else { return }
            Task { await self.say(deploy.id, text) }
        })
        if let source = job.reuseReleaseOf, let reused: ReleaseRecord = DeploymentWorkspace.read(workspace.releaseRecord(source)) {
            say(deploy.id, "Reusing the environment of the earlier release (\(reused.lockHash.prefix(12)))")
            let environment = try await builder.environment(pins: PinnedSet(freezeText: reused.lock), python: reused.python,
                                                            indexOptions: reused.indexOptions)
            var record = reused
            record.deployId = deploy.id
            try DeploymentWorkspace.write(record, to: workspace.releaseRecord(deploy.id))
            return (record, environment)
        }
        say(deploy.id, "Resolving and building the environment")
        let image = try await builder.build(projectAt: release) { airflow in
            MetadataDatabaseLocation.requirements(for: workspace.database(settings), airflowMajor: airflow.release.first ?? 2)
        }
        say(deploy.id, "Reading the schema head of Airflow \(image.side.airflowVersion)")
        guard let head = try await DagParseHarness(environment: image.environment).info().alembicHeads?.first else {
            throw .environment("Airflow \(image.side.airflowVersion) in `\(image.environment.root.path)` reports no database schema head")
        }
        let record = ReleaseRecord(deployId: deploy.id, runtimeVersion: image.side.runtime?.version.description,
                                   airflowVersion: image.side.airflowVersion.description, python: image.side.python,
                                   indexOptions: image.indexOptions, lock: image.pins.freezeText,
                                   lockHash: image.environment.lockHash, schemaHead: head)
        try DeploymentWorkspace.write(record, to: workspace.releaseRecord(deploy.id))
        return (record, image.environment)
    }

    /// Stops the running deploy, brings the metadata DB to the release's schema head (backup first),
    /// starts the release and waits for health; undoes everything on failure.
    private func switchTo(_ deploy: Deploy, _ job: Job, release: ReleaseRecord, environment: PythonEnvironment,
                          deployment: Deployment, workspace: DeploymentWorkspace) async throws(AirlockError) {
        let supervisor = supervisor(deployment.id)
        let ports = try workspace.ports()
        let database = workspace.database(deployment.settings)
        let target = instance(release, environment, workspace: workspace, ports: ports, database: database)
        let previous = try await runningRelease(deployment, workspace: workspace)
        var journal = OperationJournal(deployId: deploy.id, previousDeployId: previous?.record.deployId, backupFile: nil)
        try DeploymentWorkspace.write(journal, to: workspace.journalFile)

        say(deploy.id, "Stopping the running deploy")
        await supervisor.stop()
        FaultInjection.crashIfRequested("after-stop")

        var backup: URL?
        do throws(AirlockError) {
            let revision = try await MetadataDatabase.currentRevision(of: database, python: environment.python)
            if let revision, revision != release.schemaHead {
                say(deploy.id, "Backing up the metadata database (schema \(revision))")
                let file = workspace.backupFile(deploy.id, of: database)
                try await MetadataDatabase.backup(database, to: file, python: environment.python)
                try DeploymentWorkspace.write(BackupRecord(info: BackupInfo(id: "before-\(deploy.sequence)", takenAt: Date(), schemaHead: revision),
                                                           takenBeforeDeployId: deploy.id, file: file.lastPathComponent),
                                              to: workspace.backupRecord(deploy.id))
                backup = file
                journal.backupFile = file.lastPathComponent
                try DeploymentWorkspace.write(journal, to: workspace.journalFile)
                FaultInjection.crashIfRequested("after-backup")
                try await changeSchema(from: revision, to: release, deploy: deploy, job: job, target: target,
                                       previous: previous, workspace: workspace)
                FaultInjection.crashIfRequested("after-database")
                try FaultInjection.failIfRequested("after-database")
            } else if revision == nil {
                say(deploy.id, "Creating the metadata database (airflow db migrate)")
                try await MetadataDatabase.createDatabaseIfMissing(database, python: environment.python)
                try await MetadataDatabase.migrate(target, expectedHead: release.schemaHead)
            }
            say(deploy.id, "Starting Airflow \(release.airflowVersion)")
            try await supervisor.start(target, variables: deployment.settings.environmentVariables)
            FaultInjection.crashIfRequested("after-start")
            try FaultInjection.failIfRequested("after-start")
            say(deploy.id, "Waiting for Airflow to report healthy")
            try await supervisor.waitUntilHealthy(timeout: healthTimeout)
        } catch {
            let restored = await undo(supervisor: supervisor, backup: backup, database: database, python: environment.python, previous: previous)
            try await fail(deploy, job, "\(error.message)\n\(restored)")
            try? FileManager.default.removeItem(at: workspace.journalFile)
            return
        }

        let head = try await MetadataDatabase.currentRevision(of: database, python: environment.python)
        try await store.markDeployed(deployId: deploy.id, deploymentId: deployment.id, dbSchemaHead: head, actor: job.actor)
        FaultInjection.crashIfRequested("after-mark")
        if let after = job.after {
            if after.settings != deployment.settings {
                try await store.updateSettings(deploymentId: deployment.id, settings: after.settings, actor: job.actor)
            }
            if let pin = after.pin { try await store.setPin(deploymentId: deployment.id, pin: pin, actor: job.actor) }
        }
        try? FileManager.default.removeItem(at: workspace.journalFile)
        say(deploy.id, "Deployed: Airflow \(release.airflowVersion) is healthy")
        _ = try? await prune(deploymentId: deployment.id)
    }

    /// Rule 7: restore the chosen backup, or downgrade with the *running* (newer) environment before
    /// switching, or migrate up with the new one.
    private func changeSchema(from revision: String, to release: ReleaseRecord, deploy: Deploy, job: Job, target: AirflowInstance,
                              previous: RunningRelease?, workspace: DeploymentWorkspace) async throws(AirlockError) {
        if let backupId = job.restoreBackupOf {
            guard let record = workspace.backupList().first(where: { $0.info.id == backupId }) else {
                throw .environment("The backup `\(backupId)` is no longer there")
            }
            say(deploy.id, "Restoring the metadata database from backup \(backupId)")
            try await MetadataDatabase.restore(workspace.backups.appendingPathComponent(record.file), to: target.database,
                                               python: target.environment.python)
            let restored = try await MetadataDatabase.currentRevision(of: target.database, python: target.environment.python)
            guard restored == release.schemaHead else {
                throw .environment("The restored backup is at schema \(restored ?? "none"), not the release's \(release.schemaHead)")
            }
            return
        }
        let goesDown: Bool
        if let previous, let old = Version(previous.record.airflowVersion), let new = Version(release.airflowVersion) {
            goesDown = new < old
        } else {
            goesDown = false
        }
        if goesDown, let previous {
            say(deploy.id, "Downgrading the metadata database to \(release.schemaHead) with Airflow \(previous.record.airflowVersion)")
            try await MetadataDatabase.downgrade(previous.instance, toRevision: release.schemaHead)
            let moved = try await MetadataDatabase.moveDanglingRows(of: target.database, python: target.environment.python)
            if !moved.isEmpty {
                let counts = moved.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                say(deploy.id, "Moved rows the downgrade left without their parent row to `_airflow_moved__airlock_…__dangling__*` tables (\(counts)), so a later upgrade can migrate the database")
            }
        } else {
            say(deploy.id, "Migrating the metadata database to \(release.schemaHead) (airflow db migrate)")
            try await MetadataDatabase.migrate(target, expectedHead: release.schemaHead)
        }
    }

    /// Puts the deployment back as it was before a failed switch; returns what it did, for the message.
    private func undo(supervisor: AirflowSupervisor, backup: URL?, database: MetadataDatabaseLocation, python: String,
                      previous: RunningRelease?) async -> String {
        await supervisor.stop()
        var notes: [String] = []
        if let backup {
            do throws(AirlockError) {
                try await MetadataDatabase.restore(backup, to: database, python: python)
                notes.append("The metadata database was restored from its backup.")
            } catch {
                notes.append("Restoring the metadata database backup failed: \(error.message)")
            }
        }
        guard let previous else { return (notes + ["No earlier deploy was running."]).joined(separator: " ") }
        do throws(AirlockError) {
            try await supervisor.start(previous.instance, variables: previous.variables)
            try await supervisor.waitUntilHealthy(timeout: healthTimeout)
            notes.append("The previous deploy runs again.")
        } catch {
            notes.append("The previous deploy could not be started again: \(error.message)")
        }
        return notes.joined(separator: " ")
    }

    // MARK: Releases and instances

    struct RunningRelease: Sendable {
        var record: ReleaseRecord
        var instance: AirflowInstance
        var variables: [String: String]
    }

    /// The deployment's current deploy as an Airflow instance (its environment rebuilt from the lock if it was pruned).
    private func runningRelease(_ deployment: Deployment, workspace: DeploymentWorkspace) async throws(AirlockError) -> RunningRelease? {
        guard let current = deployment.currentDeployId,
              let record: ReleaseRecord = DeploymentWorkspace.read(workspace.releaseRecord(current)) else { return nil }
        let environment = try await ProjectImageBuilder(paths: paths).environment(
            pins: PinnedSet(freezeText: record.lock), python: record.python, indexOptions: record.indexOptions)
        return RunningRelease(record: record, instance: instance(record, environment, workspace: workspace, ports: try workspace.ports(),
                                                                 database: workspace.database(deployment.settings)),
                              variables: deployment.settings.environmentVariables)
    }

    private func instance(_ record: ReleaseRecord, _ environment: PythonEnvironment, workspace: DeploymentWorkspace,
                          ports: AirflowPorts, database: MetadataDatabaseLocation) -> AirflowInstance {
        AirflowInstance(environment: environment, airflowHome: workspace.home,
                        dagsFolder: workspace.release(record.deployId).appendingPathComponent("dags"), ports: ports,
                        airflowMajor: Version(record.airflowVersion)?.release.first ?? 2, database: database)
    }

    private func copyArtifact(_ kind: ArtifactStore.Kind, _ digest: String, into release: URL) throws(AirlockError) {
        guard artifacts.contains(kind, digest: digest) else {
            throw .usage("The \(kind.rawValue) artifact `\(digest)` is no longer stored (artifacts expired)")
        }
        let source = artifacts.folder(kind, digest: digest)
        let manager = FileManager.default
        guard let walker = manager.enumerator(atPath: source.path) else {
            throw .environment("Cannot read `\(source.path)`")
        }
        try createDirectory(release)
        // Written through `ConfinedFolder`: a link from one artifact can never lead another's files
        // (or a later deploy's) out of the release folder.
        let destination = ConfinedFolder(root: release)
        do {
            for case let relative as String in walker where relative != ".airlock-manifest.json" {
                let file = source.appendingPathComponent(relative)
                let attributes = try manager.attributesOfItem(atPath: file.path)
                switch attributes[.type] as? FileAttributeType {
                case .typeDirectory?:
                    try destination.createDirectory(relative)
                case .typeSymbolicLink?:
                    try destination.createSymlink(relative, target: try manager.destinationOfSymbolicLink(atPath: file.path), replacing: true)
                case .typeRegular?:
                    let executable = ((attributes[.posixPermissions] as? Int) ?? 0) & 0o111 != 0
                    try destination.writeFile(relative, contents: Array(try Data(contentsOf: file)), executable: executable, replacing: true)
                default:
                    continue
                }
            }
        } catch let error as AirlockError {
            throw error
        } catch {
            throw .environment("Cannot unpack the \(kind.rawValue) artifact into `\(release.path)`: \(error.localizedDescription)")
        }
    }

    private func createDirectory(_ folder: URL) throws(AirlockError) {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw .environment("Cannot create `\(folder.path)`: \(error.localizedDescription)")
        }
    }

    // MARK: Restart

    private func reconcile(_ deployment: Deployment) async throws(AirlockError) {
        let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deployment.id)
        AirflowSupervisor.killOrphans(home: workspace.home)
        var deployment = deployment
        if let journal: OperationJournal = DeploymentWorkspace.read(workspace.journalFile) {
            if deployment.currentDeployId != journal.deployId {
                // Cut short before it was recorded: put the database back as the previous deploy left it.
                if let file = journal.backupFile, let previous = try await runningRelease(deployment, workspace: workspace) {
                    let revision = try? await MetadataDatabase.currentRevision(of: previous.instance.database, python: previous.instance.environment.python)
                    if revision != previous.record.schemaHead {
                        try await MetadataDatabase.restore(workspace.backups.appendingPathComponent(file), to: previous.instance.database,
                                                           python: previous.instance.environment.python)
                    }
                }
            }
            try? FileManager.default.removeItem(at: workspace.journalFile)
            deployment = try await store.deployment(id: deployment.id) ?? deployment
        }
        for deploy in try await store.listDeploys(deploymentId: deployment.id, offset: 0, limit: 20).deploys
        where deploy.status == .initialized || deploy.status == .deploying {
            try await store.markFailed(deployId: deploy.id, reason: "Interrupted: the Airlock server stopped during this deploy; the deployment runs its current deploy again",
                                       actor: "airlock")
        }
        try await prune(deploymentId: deployment.id)
        guard deployment.currentDeployId != nil else { return }
        let current = deployment
        enqueue(deployment.id) {
            do throws(AirlockError) {
                guard let running = try await self.runningRelease(current, workspace: workspace) else { return }
                let supervisor = await self.supervisor(current.id)
                try await supervisor.start(running.instance, variables: running.variables)
                try await supervisor.waitUntilHealthy(timeout: self.healthTimeout)
            } catch {
                FileHandle.standardError.write(Data("airlock: deployment `\(current.name)` could not be started again: \(error)\n".utf8))
            }
        }
    }
}

/// A deployment as it runs now: for `GET /deployments/{name}/status` and `airlock deployment show`.
public struct LiveStatus: Codable, Sendable {
    public struct Health: Codable, Sendable {
        /// `healthy`, `unhealthy` or `stopped`.
        public var status: String
        public var components: [String: String]
    }
    public var airflowUrl: String?
    public var health: Health
    /// Read from the live metadata DB's `alembic_version`.
    public var dbSchemaHead: String?
}
