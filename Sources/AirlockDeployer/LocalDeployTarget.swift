import AirlockCore
import AirlockLocalTarget
import AirlockStorage
import AirlockToolchain
import Foundation
import PythonPackaging

/// The local target (SPEC §4.2): the deployment's Airflow as processes on this machine, supervised by
/// one `AirflowSupervisor`, each release run from its own Python environment in the shared
/// `AIRFLOW_HOME` of the deployment's workspace; the metadata DB is SQLite in that home, or the
/// PostgreSQL database the deployment's settings name.
actor LocalDeployTarget: DeployTarget, MetadataDatabaseOnHost {
    let workspace: DeploymentWorkspace
    let releases: ReleaseBuilder
    private let supervisor = AirflowSupervisor()
    /// Environments of releases prepared by this server run, so a fresh one is used as built.
    private var environments: [String: PythonEnvironment] = [:]

    init(workspace: DeploymentWorkspace, artifacts: ArtifactStore, paths: AirlockPaths) {
        self.workspace = workspace
        self.releases = ReleaseBuilder(artifacts: artifacts, workspace: workspace, paths: paths)
    }

    func prepare(_ request: ReleaseRequest, settings: DeploymentSettings,
                 progress: @escaping @Sendable (String) async -> Void) async throws(AirlockError) -> ReleaseRecord {
        let database = workspace.database(settings)
        let prepared = try await releases.prepare(request, progress: progress) { airflow in
            MetadataDatabaseLocation.requirements(for: database, airflowMajor: airflow.release.first ?? 2)
        }
        environments[request.deployId] = prepared.environment
        return prepared.record
    }

    func stop() async {
        await supervisor.stop()
    }

    func start(_ release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
        try await supervisor.start(try await instance(release, settings), variables: settings.environmentVariables)
    }

    func waitUntilHealthy(timeout: Double) async throws(AirlockError) {
        try await supervisor.waitUntilHealthy(timeout: timeout)
    }

    func migrateDatabase(with release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
        try await MetadataDatabase.migrate(try await instance(release, settings), expectedHead: release.schemaHead)
    }

    func downgradeDatabase(to release: ReleaseRecord, with current: ReleaseRecord,
                           settings: DeploymentSettings) async throws(AirlockError) -> [String: Int] {
        try await MetadataDatabase.downgrade(try await instance(current, settings), toRevision: release.schemaHead)
        return try await MetadataDatabase.moveDanglingRows(of: workspace.database(settings), python: try await environment(release).python)
    }

    func status(current: ReleaseRecord?, settings: DeploymentSettings) async -> LiveStatus {
        let ports: AirflowPorts? = DeploymentWorkspace.read(workspace.portsFile)
        var health = LiveStatus.Health(status: "stopped", components: [:])
        if await supervisor.isRunning {
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
        if let current {
            // Never builds: a status read uses the environment only if it is there.
            let python = EnvironmentBuilder.existing(lockHash: current.lockHash, python: current.python, paths: releases.paths)?.python ?? "python3"
            head = try? await MetadataDatabase.currentRevision(of: workspace.database(settings), python: python)
        }
        return LiveStatus(airflowUrl: ports.map { "http://127.0.0.1:\($0.web)" }, health: health, dbSchemaHead: head)
    }

    func reconcileAfterRestart() async {
        AirflowSupervisor.killOrphans(home: workspace.home)
    }

    // MARK: Releases as Airflow instances

    /// A release's environment: the one it was prepared with, else rebuilt from its lock (if pruned).
    func environment(_ release: ReleaseRecord) async throws(AirlockError) -> PythonEnvironment {
        if let known = environments[release.deployId] { return known }
        let environment = try await releases.environment(of: release)
        environments[release.deployId] = environment
        return environment
    }

    private func instance(_ release: ReleaseRecord, _ settings: DeploymentSettings) async throws(AirlockError) -> AirflowInstance {
        AirflowInstance(environment: try await environment(release), airflowHome: workspace.home,
                        dagsFolder: workspace.release(release.deployId).appendingPathComponent("dags"), ports: try workspace.ports(),
                        airflowMajor: Version(release.airflowVersion)?.release.first ?? 2, database: workspace.database(settings))
    }
}

/// The local target's part of a deployment's workspace:
///
///     deployments/<deployment id>/
///       home/        AIRFLOW_HOME: airflow.db, airflow.cfg, logs (survives deploys and rollbacks)
///       ports.json   the deployment's loopback ports, stable across deploys
///       backups/<deploy id>.db or .dump   a SQLite copy or a `pg_dump` archive
extension DeploymentWorkspace {
    var home: URL { root.appendingPathComponent("home") }
    /// Airflow's metadata DB: PostgreSQL when the deployment names one, else SQLite in the home.
    func database(_ settings: DeploymentSettings) -> MetadataDatabaseLocation {
        settings.metadataDatabaseUrl.map { .postgres(url: $0) } ?? .defaultSQLite(home: home)
    }
    /// A SQLite copy (`.db`) or a `pg_dump` archive (`.dump`).
    func backupFile(_ deployId: String, of database: MetadataDatabaseLocation) -> URL {
        backups.appendingPathComponent("\(deployId).\(database.isSQLite ? "db" : "dump")")
    }
    var portsFile: URL { root.appendingPathComponent("ports.json") }

    /// The deployment's ports: chosen once, then the same for every deploy, so its Airflow URL is stable.
    func ports() throws(AirlockError) -> AirflowPorts {
        if let ports: AirflowPorts = Self.read(portsFile) { return ports }
        let ports = try AirflowPorts.free()
        try Self.write(ports, to: portsFile)
        return ports
    }
}
