import AirlockCore
import AirlockLocalTarget
import AirlockToolchain
import Foundation

/// Where one deployment's Airflow runs: the operations a deploy, a rollback and a server restart need
/// from it, and nothing else (issue #13 item 1).
///
/// The rules stay in `DeployCoordinator`, once for every target: the queue, the history records, the
/// order of the steps, when to back up, whether to migrate, downgrade or restore (rule 7), the journal
/// and the undo of a failed switch. A target only carries out one step when it is told to, and throws
/// `AirlockError` when the step fails; it never decides what comes next.
///
/// Releases are named by their `ReleaseRecord` (written by `prepare`): the lock, the Airflow version and
/// the schema head a target needs to run a release again, also after a server restart. A target keeps
/// whatever else it needs (an environment, an image reference) itself, rebuilt from the record when it
/// no longer has it. Backups are files in the deployment workspace's `backups` folder, so the coordinator
/// can list and pick them (rollback preview, `--restore-backup`) whatever the target.
///
/// The deployment's settings are passed to each step (they can change between deploys: a rollback
/// puts the target's settings back once it succeeded).
///
/// The order a switch uses them in, for a target implementer (`DeployCoordinator.switchTo`):
///
///     [stop, unless `replacesInPlace` and the schema stays] → schemaRevision → [backupDatabase → migrateDatabase | downgradeDatabase(with: current)
///          | restoreDatabase] or [createDatabaseIfMissing → migrateDatabase] → start → waitUntilHealthy
///          → runningFacts (recorded on the deploy)
///     on failure: [runningFacts, when start was reached] → stop → restoreDatabase(backup) → start(previous)
///          → waitUntilHealthy
protocol DeployTarget: Sendable {
    /// Makes the deploy's release runnable: its files from the uploaded artifacts, its Python
    /// environment (the lock of `request.reuseReleaseOf` when given, never resolved again; else a fresh
    /// resolution), and whatever the target runs it from. Writes the release record and returns it.
    /// `progress` reports steps worth showing on the deploy.
    func prepare(_ request: ReleaseRequest, settings: DeploymentSettings,
                 progress: @escaping @Sendable (String) async -> Void) async throws(AirlockError) -> ReleaseRecord

    /// Stops what runs (the first half of a switch), so the metadata DB is still while it is backed up
    /// and changed. Stopping what is already stopped does nothing.
    func stop() async

    /// Starts `release` (the second half of a switch); returns once it was started, not once healthy.
    func start(_ release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError)

    /// Brings back `release`, the deployment's current one, at a server start: starts it, unless the target
    /// still runs it as its `start` left it (a release that outlives the server: starting it again would only
    /// add a Helm revision that belongs to no deploy, and roll pods for nothing).
    /// - Returns: whether it was started.
    func resume(_ release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) -> Bool

    /// Waits until every component the running release needs reports healthy; throws after `timeout` seconds.
    func waitUntilHealthy(timeout: Double) async throws(AirlockError)

    /// The schema revision (alembic head) the metadata DB is at now, read with `release`'s Airflow
    /// environment; nil when the DB has no schema yet.
    func schemaRevision(using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) -> String?

    /// Copies the metadata DB as it is now into the workspace's `backups` folder, as the backup taken
    /// before deploy `deployId`; returns the file.
    func backupDatabase(beforeDeploy deployId: String, using release: ReleaseRecord,
                        settings: DeploymentSettings) async throws(AirlockError) -> URL

    /// Replaces the metadata DB with a backup taken by `backupDatabase`.
    func restoreDatabase(from backup: URL, using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError)

    /// Creates the metadata database itself when it does not exist yet (a first deploy).
    func createDatabaseIfMissing(using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError)

    /// Migrates the metadata DB up to `release.schemaHead` with `release`'s Airflow (`airflow db migrate`).
    func migrateDatabase(with release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError)

    /// Downgrades the metadata DB to `release.schemaHead` with `current`'s (newer) Airflow, which knows
    /// the migrations to undo (`airflow db downgrade`); runs before the switch. Then sets aside rows the
    /// downgrade left without their parent row, so a later upgrade can migrate again.
    /// - Returns: rows set aside, by table.
    func downgradeDatabase(to release: ReleaseRecord, with current: ReleaseRecord,
                           settings: DeploymentSettings) async throws(AirlockError) -> [String: Int]

    /// Health, Airflow URL and live schema head, for `airlock deployment show` and `GET …/status`.
    func status(current: ReleaseRecord?, settings: DeploymentSettings) async -> LiveStatus

    /// Clears what a killed server left running (orphan processes, jobs) before the coordinator repairs
    /// a switch that was cut short and starts the current release again.
    func reconcileAfterRestart() async

    /// What this target's latest `start` of deploy `deployId`'s release ran it as — the image reference by
    /// digest, the Helm revision it made — which the coordinator keeps on the deploy (issue #13 items 3, 4).
    /// Empty when the latest `start` was another deploy's, and on targets without such facts (the default).
    func runningFacts(of deployId: String) async -> TargetFacts

    /// True when `start` can replace the running release in place while it keeps serving until the new one
    /// is ready (a rolling update), so a switch that leaves the metadata DB's schema as it is needs no
    /// `stop` first — code-only and DAG-only deploys and same-schema rollbacks then have no downtime.
    /// `waitUntilHealthy` must then not count what the replaced release still serves. False by default:
    /// the local target's components hold fixed ports, so the old ones must go before the new ones start.
    var replacesInPlace: Bool { get }

    /// True when what the target runs does not depend on this server's process (pods on a cluster): a
    /// graceful server stop leaves it running — other servers may serve the same deployment, and restarting
    /// Airlock must not take Airflow down. False by default: the local target's components are the server's
    /// children and stop with it.
    var keepsRunningWithoutServer: Bool { get }
}

extension DeployTarget {
    /// What runs under the server stopped with it: start it again.
    func resume(_ release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) -> Bool {
        try await start(release, settings: settings)
        return true
    }

    /// The local target runs an environment on this machine: no image, no Helm.
    func runningFacts(of deployId: String) async -> TargetFacts { TargetFacts() }

    var replacesInPlace: Bool { false }

    var keepsRunningWithoutServer: Bool { false }
}

/// What a target ran a release as, for the deploy's record (`Deploy.targetImage`, `Deploy.helmRevision`).
struct TargetFacts: Hashable, Sendable {
    /// The OCI reference by digest (`registry/repo@sha256:…`) the target was told to run.
    var image: String?
    /// The Helm revision the start made (also a failed one); nil when Helm made none.
    var helmRevision: Int?

    var isEmpty: Bool { image == nil && helmRevision == nil }
}

/// A target whose metadata DB Airlock reaches from this machine — SQLite in the workspace, or PostgreSQL by
/// its URL (the local target; the Kubernetes target, whose pods and host share the database) — so backup,
/// restore and schema reads run here with the release's host Python environment, the same for every such
/// target. Migrations stay the target's own: they run where Airflow runs (a local process, a Job).
protocol MetadataDatabaseOnHost: Actor {
    var workspace: DeploymentWorkspace { get }
    /// The host environment of `release`: the one it was prepared with, else rebuilt from its lock.
    func environment(_ release: ReleaseRecord) async throws(AirlockError) -> PythonEnvironment
}

extension MetadataDatabaseOnHost {
    func schemaRevision(using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) -> String? {
        try await MetadataDatabase.currentRevision(of: workspace.database(settings), python: try await environment(release).python)
    }

    func backupDatabase(beforeDeploy deployId: String, using release: ReleaseRecord,
                        settings: DeploymentSettings) async throws(AirlockError) -> URL {
        let database = workspace.database(settings)
        let file = workspace.backupFile(deployId, of: database)
        try await MetadataDatabase.backup(database, to: file, python: try await environment(release).python)
        return file
    }

    func restoreDatabase(from backup: URL, using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
        try await MetadataDatabase.restore(backup, to: workspace.database(settings), python: try await environment(release).python)
    }

    func createDatabaseIfMissing(using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
        try await MetadataDatabase.createDatabaseIfMissing(workspace.database(settings), python: try await environment(release).python)
    }
}

/// What `DeployTarget.prepare` makes a release from.
struct ReleaseRequest: Sendable {
    var deployId: String
    /// The project artifact (`ArtifactStore.Kind.image`).
    var imageDigest: String
    /// The DAG bundle artifact, if the deploy has one.
    var dagsDigest: String?
    /// Reuse this deploy's release lock (rollbacks, DAG-only deploys) instead of resolving.
    var reuseReleaseOf: String?
    /// Where version constraints come from (`--constraints-source`).
    var constraintsSource: String?
}
