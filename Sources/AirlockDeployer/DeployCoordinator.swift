import AirlockCore
import AirlockLocalTarget
import AirlockStorage
import AirlockToolchain
import AirlockUpgradeTest
import Foundation
import PythonPackaging
import Synchronization

/// Runs deploys and rollbacks and keeps each deployment's Airflow running, on the deployment's target.
///
/// The rules live here once for every target (`DeployTarget` only carries out steps): the queue, the
/// history records, the order of a switch, rule 7's backup/migrate/downgrade/restore choice, the journal
/// and the undo of a failed switch.
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
    /// Where deploys' environments get Airflow's constraints files (`airlock server --constraints-source`;
    /// nil: Apache's). The server decides: a folder or URL chosen by a client would let any deployer
    /// token make the server read its files or fetch any URL (issue 9).
    let constraintsSource: String?
    /// Seconds a deployment's live status may take (`status(of:)`).
    let statusDeadline: Double

    /// Makes a deployment's target from its `target` kind (tests give their own).
    let makeTarget: @Sendable (Deployment, DeploymentWorkspace) throws(AirlockError) -> any DeployTarget
    /// Each deployment's target, made on first use and kept (it knows what runs).
    private var targets: [String: any DeployTarget] = [:]
    private var queues: [String: Task<Void, Never>] = [:]
    /// When this coordinator (its server) started: an `INITIALIZED` deploy created before then was left by a server
    /// that died; one created since is an upload of this server's, made while the repairs ran (`repairLeftovers`).
    private let startedAt = Date()
    /// The repair of each deployment after the server's start (`beginReconcile`), queued in the deployment's queue.
    private var repairs: [Task<Void, Never>] = []
    /// How many of them have not run yet: read without the actor by every `GET /health` (`isReconciled`).
    private let repairsPending = Atomic<Int>(0)
    /// The first repair that failed, for `reconcile()`.
    private var repairFailure: AirlockError?
    /// The step a deploy is at, or why it failed: what `GET …/deploys/{id}` shows as `statusMessage`.
    private var messages: [String: String] = [:]
    /// Every step a deploy went through, in order, with when it began (`steps`), so a client polling now and then
    /// misses none and can time each.
    private var steps: [String: [DeployStep]] = [:]

    public init(store: any DeployHistoryStore, artifacts: ArtifactStore, dataDirectory: URL,
                paths: AirlockPaths = .fromEnvironment(), healthTimeout: Double = 480, constraintsSource: String? = nil) {
        self.init(store: store, artifacts: artifacts, dataDirectory: dataDirectory, paths: paths, healthTimeout: healthTimeout,
                  constraintsSource: constraintsSource) { deployment, workspace throws(AirlockError) in
            switch deployment.target {
            case .local:
                return LocalDeployTarget(workspace: workspace, artifacts: artifacts, paths: paths)
            case .kubernetes:
                return try KubernetesDeployTarget(workspace: workspace, artifacts: artifacts, paths: paths, deployment: deployment)
            }
        }
    }

    /// A coordinator whose deployments run on the targets `makeTarget` makes (the seam's tests).
    init(store: any DeployHistoryStore, artifacts: ArtifactStore, dataDirectory: URL, paths: AirlockPaths,
         healthTimeout: Double, constraintsSource: String?, statusDeadline: Double = 20,
         makeTarget: @escaping @Sendable (Deployment, DeploymentWorkspace) throws(AirlockError) -> any DeployTarget) {
        self.constraintsSource = constraintsSource
        self.statusDeadline = statusDeadline
        self.store = store
        self.artifacts = artifacts
        self.dataDirectory = dataDirectory
        self.paths = paths
        self.healthTimeout = healthTimeout
        self.makeTarget = makeTarget
    }

    // MARK: Public API

    /// What a deploy is doing now (or why it failed), while this server knows it.
    public func statusMessage(deployId: String) -> String? { messages[deployId] }

    /// The steps a deploy went through so far, while this server knows it.
    public func steps(deployId: String) -> [DeployStep] { steps[deployId] ?? [] }

    /// Queues a created deploy to run with the uploaded artifacts and returns at once.
    ///
    /// Checks what can be checked before queueing: the deploy is new, its artifacts are stored, and a
    /// DAG-only or image-only deploy has a current deploy to take the other half from.
    public func finalize(deployId: String, deployment: Deployment, imageDigest: String?, dagsDigest: String?,
                         actor: String) async throws(AirlockError) -> Deploy {
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
    public func rollback(plan: RollbackPlan, deployment: Deployment, actor: String, pin: Bool) async throws(AirlockError) -> Deploy {
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
    /// Bounded by `statusDeadline`: a cluster or database that does not answer (kubectl waits up to 60 s per
    /// request) makes the status `unknown` instead of holding `airlock deployment show` (30 s) or a page.
    public func status(of deployment: Deployment) async -> LiveStatus {
        let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deployment.id)
        let current: ReleaseRecord? = deployment.currentDeployId.flatMap { DeploymentWorkspace.read(workspace.releaseRecord($0)) }
        guard let target = try? target(for: deployment) else {
            return LiveStatus(airflowUrl: nil, health: LiveStatus.Health(status: "stopped", components: [:]), dbSchemaHead: nil)
        }
        let deadline = statusDeadline
        let answered = await withTaskGroup(of: LiveStatus?.self) { group -> LiveStatus? in
            group.addTask { await target.status(current: current, settings: deployment.settings) }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(deadline * 1_000_000_000))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()  // the target's tools are stopped (ProcessRunner ends a cancelled child)
            return first
        }
        return answered ?? LiveStatus(airflowUrl: nil, health: LiveStatus.Health(
            status: "unknown", components: ["target": "did not answer within \(Int(deadline)) s"]), dbSchemaHead: nil)
    }

    /// Brings every deployment back after a server start: clears what a killed server left running
    /// (the target's part), finishes or undoes an interrupted switch (journal), marks deploys that were
    /// in flight as `FAILED`, and starts each deployment's current deploy again. Deployments on a
    /// target this server cannot make are left alone.
    ///
    /// Queues each deployment's repair first in its queue and returns: the server serves while the repairs run
    /// (a Kubernetes repair waits out an orphan Helm and may restore a database: tens of seconds), its health
    /// says `starting` until they are done (`isReconciled`), and a deploy or rollback asked for meanwhile runs
    /// after its deployment's repair, as a deploy waits for the one before it.
    public func beginReconcile() async throws(AirlockError) {
        for deployment in try await store.listDeployments() {
            guard let target = try? target(for: deployment) else { continue }
            repairsPending.add(1, ordering: .relaxed)
            enqueue(deployment.id) {
                do throws(AirlockError) {
                    // Under the deployment's lock, read afresh: another server's switch ends first, and a repair another
                    // server already made (journal gone, deploys marked) is not made twice.
                    try await self.store.withDeploymentLock(deploymentId: deployment.id) { () async throws(AirlockError) in
                        guard let current = try await self.store.deployment(id: deployment.id) else { return }
                        try await self.reconcile(current, on: target)
                    }
                } catch {
                    await self.repairFailed(deployment, error)
                }
                self.repairsPending.subtract(1, ordering: .releasing)
            }
            if let queued = queues[deployment.id] { repairs.append(queued) }
        }
    }

    /// Whether every repair `beginReconcile` queued has run (failed ones included: they are reported on stderr).
    public nonisolated var isReconciled: Bool { repairsPending.load(ordering: .acquiring) == 0 }

    /// Repairs every deployment after a server start and waits for the repairs (`beginReconcile`); throws the
    /// first repair's failure.
    public func reconcile() async throws(AirlockError) {
        try await beginReconcile()
        for repair in repairs { await repair.value }
        if let repairFailure { throw repairFailure }
    }

    private func repairFailed(_ deployment: Deployment, _ error: AirlockError) {
        if repairFailure == nil { repairFailure = error }
        FileHandle.standardError.write(Data("airlock: deployment `\(deployment.name)` could not be repaired after the restart: \(error.message)\n".utf8))
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

    /// Stops every deployment's Airflow that runs as part of this server (a graceful server stop); Airflow on
    /// a cluster keeps running. An operation still running is cut short like a crash: its journal makes the
    /// next start undo it.
    public func shutdown() async {
        for queue in queues.values { queue.cancel() }
        for target in targets.values where !target.keepsRunningWithoutServer { await target.stop() }
    }

    // MARK: Queue

    private func enqueue(_ deploymentId: String, _ work: @escaping @Sendable () async -> Void) {
        let previous = queues[deploymentId]
        queues[deploymentId] = Task {
            await previous?.value
            await work()
        }
    }

    private func target(for deployment: Deployment) throws(AirlockError) -> any DeployTarget {
        if let existing = targets[deployment.id] { return existing }
        let created = try makeTarget(deployment, DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deployment.id))
        targets[deployment.id] = created
        return created
    }

    private func say(_ deployId: String, _ message: String) {
        messages[deployId] = message
        steps[deployId, default: []].append(DeployStep(message, startedAt: Date()))
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

    /// Runs a queued job holding the deployment's lock (`DeployHistoryStore.withDeploymentLock`) from its
    /// start to its end, so the jobs of one deployment take turns across every server on the history (the
    /// in-process queue only orders this server's). The whole job, not only the switch: a deploy is
    /// `DEPLOYING` only while a live server holds the lock, so a server that gets the lock and finds one
    /// `DEPLOYING` knows it was left by a server that died (`reconcile`). The deploy and the deployment
    /// are read after the lock is taken, so the switch starts from what the previous holder left.
    private func run(_ job: Job) async {
        do throws(AirlockError) {
            try await store.withDeploymentLock(deploymentId: job.deploymentId) { await self.runHoldingLock(job) }
        } catch {
            let reason = "The deployment's lock could not be taken: \(error.message)"
            say(job.deployId, reason)
            _ = try? await store.markFailed(deployId: job.deployId, reason: reason, actor: job.actor)
        }
    }

    private func runHoldingLock(_ job: Job) async {
        do throws(AirlockError) {
            guard var deploy = try await store.deploy(id: job.deployId),
                  let deployment = try await store.deployment(id: job.deploymentId) else { return }
            guard deploy.status == .initialized else {
                say(deploy.id, "\(deploy.label) became \(deploy.status.rawValue) while it waited; it does not run")
                return
            }
            deploy.status = .deploying
            deploy = try await store.updateDeploy(deploy)
            try await store.appendAudit(AuditEvent(
                id: UUID().uuidString.lowercased(), at: Date(), actor: job.actor, action: .deployStart,
                deploymentId: deployment.id, beforeDeployId: deployment.currentDeployId, afterDeployId: deploy.id,
                beforeRuntime: nil, afterRuntime: nil, outcome: .succeeded, requestId: nil, detail: "\(deploy.label) started"))
            let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deployment.id)
            let target: any DeployTarget
            let release: ReleaseRecord
            do throws(AirlockError) {
                target = try self.target(for: deployment)
                let request = ReleaseRequest(deployId: deploy.id, imageDigest: job.imageDigest, dagsDigest: job.dagsDigest,
                                             reuseReleaseOf: job.reuseReleaseOf, constraintsSource: job.constraintsSource)
                release = try await target.prepare(request, settings: deployment.settings) { [deployId = deploy.id] text in
                    await self.say(deployId, text)
                }
            } catch {
                try await fail(deploy, job, "The release could not be prepared: \(error.message)")
                return
            }
            deploy.image = DeployImage(runtimeVersion: release.runtimeVersion, airflowVersion: release.airflowVersion,
                                       python: release.python, lockHash: release.lockHash, projectDigest: job.imageDigest)
            deploy.dagBundleVersion = job.dagsDigest
            deploy = try await store.updateDeploy(deploy)
            // What a holder of the lock that died left half done (another server, on a shared history) is
            // repaired before this switch starts from it.
            let repaired = try await repairLeftovers(deployment, on: target, atServerStart: false, except: deploy.id)
            try await switchTo(deploy, job, release: release, on: target, deployment: repaired, workspace: workspace)
        } catch {
            // The store itself failed: nothing more can be recorded.
            say(job.deployId, "The deploy could not be recorded: \(error)")
        }
    }

    private func fail(_ deploy: Deploy, _ job: Job, _ reason: String) async throws(AirlockError) {
        say(deploy.id, reason)
        try await store.markFailed(deployId: deploy.id, reason: reason, actor: job.actor)
    }

    /// Stops the running deploy, brings the metadata DB to the release's schema head (backup first),
    /// starts the release and waits for health; undoes everything on failure.
    private func switchTo(_ deploy: Deploy, _ job: Job, release: ReleaseRecord, on target: any DeployTarget,
                          deployment: Deployment, workspace: DeploymentWorkspace) async throws(AirlockError) {
        let settings = deployment.settings
        let previous = currentRelease(deployment, workspace: workspace)
        var journal = OperationJournal(deployId: deploy.id, previousDeployId: previous?.deployId, backupFile: nil)
        try DeploymentWorkspace.write(journal, to: workspace.journalFile)

        // A switch that keeps the schema (a code-only or DAG-only deploy, a rollback within one Airflow version)
        // changes nothing in the DB: where the target can, the running deploy serves until the new one is
        // healthy. Read before anything stops; the pods never migrate on their own (the chart's job is off).
        if target.replacesInPlace, previous != nil, job.restoreBackupOf == nil,
           let revision = try? await target.schemaRevision(using: release, settings: settings), revision == release.schemaHead {
            say(deploy.id, "The metadata database stays at \(revision): replacing the running deploy in place (it serves until the new one is healthy)")
        } else {
            say(deploy.id, "Stopping the running deploy")
            await target.stop()
        }
        FaultInjection.crashIfRequested("after-stop")

        var backup: URL?
        do throws(AirlockError) {
            let revision = try await target.schemaRevision(using: release, settings: settings)
            if let revision, revision != release.schemaHead {
                say(deploy.id, "Backing up the metadata database (schema \(revision))")
                let file = try await target.backupDatabase(beforeDeploy: deploy.id, using: release, settings: settings)
                try DeploymentWorkspace.write(BackupRecord(info: BackupInfo(id: "before-\(deploy.sequence)", takenAt: Date(), schemaHead: revision),
                                                           takenBeforeDeployId: deploy.id, file: file.lastPathComponent),
                                              to: workspace.backupRecord(deploy.id))
                backup = file
                journal.backupFile = file.lastPathComponent
                try DeploymentWorkspace.write(journal, to: workspace.journalFile)
                FaultInjection.crashIfRequested("after-backup")
                try await changeSchema(from: revision, to: release, deploy: deploy, job: job, on: target, previous: previous,
                                       settings: settings, workspace: workspace)
                FaultInjection.crashIfRequested("after-database")
                try FaultInjection.failIfRequested("after-database")
            } else if revision == nil {
                say(deploy.id, "Creating the metadata database (airflow db migrate)")
                try await target.createDatabaseIfMissing(using: release, settings: settings)
                try await target.migrateDatabase(with: release, settings: settings)
            }
            say(deploy.id, "Starting Airflow \(release.airflowVersion)")
            try await target.start(release, settings: settings)
            FaultInjection.crashIfRequested("after-start")
            try FaultInjection.failIfRequested("after-start")
            say(deploy.id, "Waiting for Airflow to report healthy")
            try await target.waitUntilHealthy(timeout: healthTimeout)
        } catch {
            // Before the undo starts the previous release: which image and Helm revision failed, if it got that far.
            try await recordRunningFacts(of: deploy, on: target)
            let restored = await undo(on: target, backup: backup, release: release, previous: previous, settings: settings)
            try await fail(deploy, job, "\(error.message)\n\(restored)")
            try? FileManager.default.removeItem(at: workspace.journalFile)
            return
        }

        let head = try await target.schemaRevision(using: release, settings: settings)
        try await recordRunningFacts(of: deploy, on: target)
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

    /// Keeps on the deploy's record what the target ran it as (image by digest, Helm revision); nothing when the
    /// target has no such facts or did not start this deploy's release.
    private func recordRunningFacts(of deploy: Deploy, on target: any DeployTarget) async throws(AirlockError) {
        let facts = await target.runningFacts(of: deploy.id)
        guard !facts.isEmpty else { return }
        try await store.recordTargetRun(deployId: deploy.id, targetImage: facts.image, helmRevision: facts.helmRevision)
    }

    /// Rule 7: restore the chosen backup, or downgrade with the *running* (newer) release before
    /// switching, or migrate up with the new one.
    private func changeSchema(from revision: String, to release: ReleaseRecord, deploy: Deploy, job: Job, on target: any DeployTarget,
                              previous: ReleaseRecord?, settings: DeploymentSettings,
                              workspace: DeploymentWorkspace) async throws(AirlockError) {
        if let backupId = job.restoreBackupOf {
            guard let record = workspace.backupList().first(where: { $0.info.id == backupId }) else {
                throw .environment("The backup `\(backupId)` is no longer there")
            }
            say(deploy.id, "Restoring the metadata database from backup \(backupId)")
            try await target.restoreDatabase(from: workspace.backups.appendingPathComponent(record.file), using: release, settings: settings)
            let restored = try await target.schemaRevision(using: release, settings: settings)
            guard restored == release.schemaHead else {
                throw .environment("The restored backup is at schema \(restored ?? "none"), not the release's \(release.schemaHead)")
            }
            return
        }
        let goesDown: Bool
        if let previous, let old = Version(previous.airflowVersion), let new = Version(release.airflowVersion) {
            goesDown = new < old
        } else {
            goesDown = false
        }
        if goesDown, let previous {
            say(deploy.id, "Downgrading the metadata database to \(release.schemaHead) with Airflow \(previous.airflowVersion)")
            let moved = try await target.downgradeDatabase(to: release, with: previous, settings: settings)
            if !moved.isEmpty {
                let counts = moved.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                say(deploy.id, "Moved rows the downgrade left without their parent row to `_airflow_moved__airlock_…__dangling__*` tables (\(counts)), so a later upgrade can migrate the database")
            }
        } else {
            say(deploy.id, "Migrating the metadata database to \(release.schemaHead) (airflow db migrate)")
            try await target.migrateDatabase(with: release, settings: settings)
        }
    }

    /// Puts the deployment back as it was before a failed switch; returns what it did, for the message.
    private func undo(on target: any DeployTarget, backup: URL?, release: ReleaseRecord, previous: ReleaseRecord?,
                      settings: DeploymentSettings) async -> String {
        await target.stop()
        var notes: [String] = []
        if let backup {
            do throws(AirlockError) {
                try await target.restoreDatabase(from: backup, using: release, settings: settings)
                notes.append("The metadata database was restored from its backup.")
            } catch {
                notes.append("Restoring the metadata database backup failed: \(error.message)")
            }
        }
        guard let previous else { return (notes + ["No earlier deploy was running."]).joined(separator: " ") }
        do throws(AirlockError) {
            try await target.start(previous, settings: settings)
            try await target.waitUntilHealthy(timeout: healthTimeout)
            notes.append("The previous deploy runs again.")
        } catch {
            notes.append("The previous deploy could not be started again: \(error.message)")
        }
        return notes.joined(separator: " ")
    }

    /// The release of the deployment's current deploy, if it ran here.
    private nonisolated func currentRelease(_ deployment: Deployment, workspace: DeploymentWorkspace) -> ReleaseRecord? {
        deployment.currentDeployId.flatMap { DeploymentWorkspace.read(workspace.releaseRecord($0)) }
    }

    // MARK: Restart

    private func reconcile(_ deployment: Deployment, on target: any DeployTarget) async throws(AirlockError) {
        let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deployment.id)
        await stopWhatADeadHolderLeftRunning(deployment, on: target)
        let deployment = try await repairLeftovers(deployment, on: target, atServerStart: true, except: nil)
        try await prune(deploymentId: deployment.id)
        guard let running = currentRelease(deployment, workspace: workspace) else { return }
        let current = deployment
        enqueue(deployment.id) {
            do throws(AirlockError) {
                try await self.store.withDeploymentLock(deploymentId: current.id) { () async throws(AirlockError) in
                    // A deploy through another server may have replaced the current deploy in the meantime.
                    guard try await self.store.deployment(id: current.id)?.currentDeployId == running.deployId else { return }
                    if try await !target.resume(running, settings: current.settings) {
                        FileHandle.standardError.write(Data("airlock: deployment `\(current.name)` still runs deploy \(running.deployId) as deployed; left running\n".utf8))
                    }
                    try await target.waitUntilHealthy(timeout: self.healthTimeout)
                }
            } catch {
                FileHandle.standardError.write(Data("airlock: deployment `\(current.name)` could not be started again: \(error)\n".utf8))
            }
        }
    }

    /// Stops, holding the deployment's lock, what a server that died holding it left running: the target's own
    /// leftovers (`reconcileAfterRestart`), then any tool still changing the metadata DB on this host (a `psql`
    /// restore, an `airflow db downgrade`: its locks would hold the repair's restore until `lock_timeout`).
    private func stopWhatADeadHolderLeftRunning(_ deployment: Deployment, on target: any DeployTarget) async {
        await target.reconcileAfterRestart()
        let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deployment.id)
        let stopped = MetadataDatabase.stopChangesLeftRunning(on: workspace.database(deployment.settings))
        if stopped > 0 {
            FileHandle.standardError.write(Data("airlock: deployment `\(deployment.name)`: stopped \(stopped) process(es) a killed server left changing its metadata DB\n".utf8))
        }
    }

    /// Undoes what a holder of the deployment's lock left when it died mid-switch: the journal's switch (the
    /// metadata DB put back from its backup unless the deploy was recorded) and its `DEPLOYING` deploy marked
    /// `FAILED`. Runs holding the lock, at a server's start (`reconcile`) and before every switch, because on a
    /// shared history the server that died may not be this one and the next to take the lock repairs it, once:
    /// the journal is gone and the deploy `FAILED` for whoever comes after. `atServerStart` also marks the
    /// `INITIALIZED` deploys a lone server's death left; a job first stops what the dead holder left running.
    /// Returns the deployment as stored afterwards.
    private func repairLeftovers(_ deployment: Deployment, on target: any DeployTarget, atServerStart: Bool,
                                 except runningDeployId: String?) async throws(AirlockError) -> Deployment {
        let workspace = DeploymentWorkspace(dataDirectory: dataDirectory, deploymentId: deployment.id)
        let journal: OperationJournal? = DeploymentWorkspace.read(workspace.journalFile)
        // `DEPLOYING` under the lock: its server died (`run`). `INITIALIZED` before this server started: an upload or
        // queue that died with the previous server, unless other servers share the history (then it may be one of
        // theirs, still going); one created since is this server's, uploaded while the repairs ran.
        let interrupted = try await store.listDeploys(deploymentId: deployment.id, offset: 0, limit: 20).deploys.filter { deploy in
            deploy.id != runningDeployId
                && (deploy.status == .deploying || (atServerStart && deploy.status == .initialized && !store.isSharedByServers
                                                    && deploy.createdAt < startedAt))
        }
        guard journal != nil || !interrupted.isEmpty else { return deployment }
        if !atServerStart {
            // What the dead holder left running goes first: its Helm could otherwise switch the pods again after the stop.
            await stopWhatADeadHolderLeftRunning(deployment, on: target)
            await target.stop()
        }
        var deployment = deployment
        if let journal {
            if deployment.currentDeployId != journal.deployId {
                // Cut short before it was recorded: put the database back as the previous deploy left it.
                if let file = journal.backupFile, let previous = currentRelease(deployment, workspace: workspace) {
                    let revision = try? await target.schemaRevision(using: previous, settings: deployment.settings)
                    if revision != previous.schemaHead {
                        // Nothing may use the database while it is replaced: at a server start too, the cut-short
                        // release may still run (Kubernetes pods outlive the server that started them).
                        if atServerStart { await target.stop() }
                        try await target.restoreDatabase(from: workspace.backups.appendingPathComponent(file), using: previous,
                                                         settings: deployment.settings)
                    }
                }
            }
            try? FileManager.default.removeItem(at: workspace.journalFile)
            deployment = try await store.deployment(id: deployment.id) ?? deployment
        }
        for deploy in interrupted {
            try await store.markFailed(deployId: deploy.id, reason: "Interrupted: the Airlock server stopped during this deploy; the deployment runs its current deploy again",
                                       actor: "airlock")
        }
        return deployment
    }
}

/// A deployment as it runs now: for `GET /deployments/{name}/status` and `airlock deployment show`.
public struct LiveStatus: Codable, Sendable {
    public struct Health: Codable, Sendable {
        /// `healthy`, `unhealthy`, `stopped`, or `unknown` when the target did not answer in time.
        public var status: String
        public var components: [String: String]
    }
    public var airflowUrl: String?
    public var health: Health
    /// Read from the live metadata DB's `alembic_version`.
    public var dbSchemaHead: String?
}
