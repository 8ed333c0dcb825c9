import AirlockCore
@testable import AirlockDeployer
import AirlockStorage
import AirlockTestSupport
import Foundation
import Testing

/// Two servers on one PostgreSQL history (issue 13 item 6): two coordinators, each with its own store
/// connection pool, on one data folder and one deployment, driving one recording target (the Airflow
/// both servers control). Through the `DeployTarget` seam, so the order of the steps is the evidence and
/// no Airflow runs. Skipped without `AIRLOCK_TEST_POSTGRES_URL` (a failure on CI).
@Suite struct SeveralServersTests {
    typealias RecordingTarget = DeployTargetSeamTests.RecordingTarget
    static let (head2, head3) = ("5f2621c13b39", "29ce7909c52b")

    struct Servers {
        let data: URL
        let a: DeployCoordinator, b: DeployCoordinator
        let storeA: PostgresDeployHistoryStore, storeB: PostgresDeployHistoryStore
        let target: RecordingTarget
        let old: String, new: String
    }

    static func servers() async throws -> Servers? {
        guard let base = PostgresTestTools.baseURL else {
            #expect(!PostgresTestTools.runsInCI, "CI runs need AIRLOCK_TEST_POSTGRES_URL (scripts/test starts a private cluster)")
            return nil
        }
        let url = try PostgresTestTools.createDatabase(base: base, label: "servers")
        let data = try TestSupport.scratchFolder("airlock-servers")
        let artifacts = ArtifactStore(root: data.appendingPathComponent("artifacts"))
        let old = try artifacts.store(.image, tar: DeployTargetSeamTests.bundle("FROM apache/airflow:2.10.5\n"), limits: TarArchive.Limits()).digest
        let new = try artifacts.store(.image, tar: DeployTargetSeamTests.bundle("FROM apache/airflow:3.0.6\n"), limits: TarArchive.Limits()).digest
        let target = RecordingTarget(workspace: DeploymentWorkspace(dataDirectory: data, deploymentId: "dep"),
                                     releases: [old: ("2.10.5", head2), new: ("3.0.6", head3)])
        let storeA = try await PostgresDeployHistoryStore.connect(url: url)
        let storeB = try await PostgresDeployHistoryStore.connect(url: url)
        func coordinator(_ store: PostgresDeployHistoryStore) -> DeployCoordinator {
            DeployCoordinator(store: store, artifacts: artifacts, dataDirectory: data, paths: .fromEnvironment(), healthTimeout: 1,
                              constraintsSource: nil) { _, _ throws(AirlockError) in target }
        }
        _ = try await storeA.createDeployment(Deployment(id: "dep", name: "prod", settings: DeploymentSettings(rollbackEnabled: true)))
        return Servers(data: data, a: coordinator(storeA), b: coordinator(storeB), storeA: storeA, storeB: storeB, target: target,
                       old: old, new: new)
    }

    static func create(_ id: String, in store: any DeployHistoryStore) async throws {
        _ = try await store.createDeploy(Deploy(
            id: id, deploymentId: "dep", sequence: 0, type: .imageAndDag, status: .initialized, description: id, createdAt: Date(),
            createdBy: "ci", image: nil, dagBundleVersion: nil, dagDeployEnabled: true, dbSchemaHead: nil, everDeployed: false))
    }

    /// The steps of one switch on the recording target, given the DB's schema head before it.
    static func switchSteps(to airflow: String, from head: String, previous: String) -> [String] {
        let (releaseHead, goesDown) = airflow == "3.0.6" ? (head3, false) : (head2, previous == "3.0.6")
        var steps = ["prepare \(airflow)", "stop", "revision"]
        if head != releaseHead {
            steps.append("backup at \(head)")
            steps.append(goesDown ? "downgrade to \(releaseHead) with \(previous)" : "migrate to \(releaseHead) with \(airflow)")
        }
        return steps + ["start \(airflow)", "health", "revision"]
    }

    /// Deploys of one deployment sent at once through two servers run one after the other, each switch
    /// whole, and the second starts from what the first left: the deployment's current deploy and DB head
    /// as the first server recorded them, read after the lock was taken (not when the deploy was queued).
    @Test(.timeLimit(.minutes(3))) func twoDeploysThroughTwoServersAtOnceAreSerialisedNeverInterleaved() async throws {
        guard let servers = try await Self.servers() else { return }
        defer { try? FileManager.default.removeItem(at: servers.data) }
        let (a, b, target) = (servers.a, servers.b, servers.target)

        // #1 through server A: 2.10.5 runs.
        try await Self.create("d1", in: servers.storeA)
        let deployment = try #require(try await servers.storeA.deployment(id: "dep"))
        _ = try await a.finalize(deployId: "d1", deployment: deployment, imageDigest: servers.old, dagsDigest: nil, actor: "ci")
        await a.waitForIdle(deploymentId: "dep")
        #expect(try await servers.storeB.deploy(id: "d1")?.status == .deployed)

        // #2 (3.0.6) through A and #3 (2.10.5) through B, both finalized against #1 as the current deploy.
        // A slow start leaves room for the other server's steps if nothing serialised them.
        try await Self.create("d2", in: servers.storeA)
        try await Self.create("d3", in: servers.storeB)
        await target.clearSteps()
        await target.slowStarts(.milliseconds(500))
        let seenByA = try #require(try await servers.storeA.deployment(id: "dep"))
        let seenByB = try #require(try await servers.storeB.deployment(id: "dep"))
        async let viaA = a.finalize(deployId: "d2", deployment: seenByA, imageDigest: servers.new, dagsDigest: nil, actor: "ci")
        async let viaB = b.finalize(deployId: "d3", deployment: seenByB, imageDigest: servers.old, dagsDigest: nil, actor: "ci")
        _ = try await (viaA, viaB)
        await a.waitForIdle(deploymentId: "dep")
        await b.waitForIdle(deploymentId: "dep")

        let steps = await target.steps
        let upgradeFirst = steps.first == "prepare 3.0.6"
        let expected = upgradeFirst
            ? Self.switchSteps(to: "3.0.6", from: Self.head2, previous: "2.10.5") + Self.switchSteps(to: "2.10.5", from: Self.head3, previous: "3.0.6")
            : Self.switchSteps(to: "2.10.5", from: Self.head2, previous: "2.10.5") + Self.switchSteps(to: "3.0.6", from: Self.head2, previous: "2.10.5")
        #expect(steps == expected, "two whole switches, one after the other")
        let (first, second) = upgradeFirst ? ("d2", "d3") : ("d3", "d2")
        let stepsA = await a.steps(deployId: "d2"), stepsB = await b.steps(deployId: "d3")
        for id in [first, second] {
            #expect(try await servers.storeA.deploy(id: id)?.status == .deployed, "\(stepsA) \(stepsB)")
        }
        #expect(try await servers.storeA.deployment(id: "dep")?.currentDeployId == second)
        #expect(await target.head == (upgradeFirst ? Self.head2 : Self.head3))
        // The history's record of the two: #2 and #3 deployed, in the order they ran.
        let audit = try await servers.storeB.auditEvents(deploymentId: "dep").filter { $0.action == .deployCreate }.map(\.afterDeployId)
        #expect(audit == [second, first, "d1"])
        await servers.storeA.shutdown()
        await servers.storeB.shutdown()
    }

    /// #1 (2.10.5) deployed through server A, then what a server that died mid-switch leaves (here: after
    /// the backup, during the migration): #2 `DEPLOYING`, a backup of #1's DB head, the journal naming
    /// both, and a DB no longer at #1's head. Returns the deployment's workspace.
    static func leaveADeadServersSwitch(_ servers: Servers) async throws -> DeploymentWorkspace {
        let (a, target) = (servers.a, servers.target)
        try await Self.create("d1", in: servers.storeA)
        let deployment = try #require(try await servers.storeA.deployment(id: "dep"))
        _ = try await a.finalize(deployId: "d1", deployment: deployment, imageDigest: servers.old, dagsDigest: nil, actor: "ci")
        await a.waitForIdle(deploymentId: "dep")
        try await Self.create("d2", in: servers.storeA)
        var dying = try #require(try await servers.storeA.deploy(id: "d2"))
        dying.status = .deploying
        try await servers.storeA.updateDeploy(dying)
        let workspace = DeploymentWorkspace(dataDirectory: servers.data, deploymentId: "dep")
        let release = try #require(DeploymentWorkspace.read(workspace.releaseRecord("d1")) as ReleaseRecord?)
        let backup = try await target.backupDatabase(beforeDeploy: "d2", using: release, settings: DeploymentSettings())
        try await target.migrateDatabase(with: ReleaseRecord(deployId: "d2", runtimeVersion: nil, airflowVersion: "3.0.6", python: "3.11",
                                                             indexOptions: [], lock: "", lockHash: "3.0.6", schemaHead: Self.head3),
                                         settings: DeploymentSettings())
        try DeploymentWorkspace.write(OperationJournal(deployId: "d2", previousDeployId: "d1", backupFile: backup.lastPathComponent),
                                      to: workspace.journalFile)
        await target.clearSteps()
        return workspace
    }

    /// Two servers start at once after another died mid-switch and reconcile: the repair is made once —
    /// one restore, one `FAILED` — and the other server finds nothing left to repair.
    @Test(.timeLimit(.minutes(3))) func reconciliationOfADeadServersSwitchRunsOnce() async throws {
        guard let servers = try await Self.servers() else { return }
        defer { try? FileManager.default.removeItem(at: servers.data) }
        let (a, b, target) = (servers.a, servers.b, servers.target)
        let workspace = try await Self.leaveADeadServersSwitch(servers)

        async let reconcileA: Void = a.reconcile()
        async let reconcileB: Void = b.reconcile()
        _ = try await (reconcileA, reconcileB)
        await a.waitForIdle(deploymentId: "dep")
        await b.waitForIdle(deploymentId: "dep")

        let steps = await target.steps
        #expect(steps.filter { $0 == "restore to \(Self.head2)" }.count == 1, "\(steps)")
        #expect(await target.head == Self.head2)
        #expect(try await servers.storeA.deploy(id: "d2")?.status == .failed)
        let failures = try await servers.storeB.auditEvents(deploymentId: "dep").filter { $0.outcome == .failed && $0.afterDeployId == "d2" }
        #expect(failures.count == 1, "one server marked the dead server's deploy FAILED")
        #expect(try await servers.storeA.deployment(id: "dep")?.currentDeployId == "d1")
        #expect(!FileManager.default.fileExists(atPath: workspace.journalFile.path))
        await servers.storeA.shutdown()
        await servers.storeB.shutdown()
    }

    /// A server that keeps running repairs a dead server's switch when it next takes the deployment's lock,
    /// not only at its own restart: the next deploy through it stops what ran, puts the DB back from the
    /// backup, marks the dead server's deploy `FAILED`, and then switches from #1's state.
    @Test(.timeLimit(.minutes(3))) func theNextDeployThroughAnotherServerRepairsADeadServersSwitchFirst() async throws {
        guard let servers = try await Self.servers() else { return }
        defer { try? FileManager.default.removeItem(at: servers.data) }
        let (b, target) = (servers.b, servers.target)
        let workspace = try await Self.leaveADeadServersSwitch(servers)

        try await Self.create("d3", in: servers.storeB)
        let deployment = try #require(try await servers.storeB.deployment(id: "dep"))
        _ = try await b.finalize(deployId: "d3", deployment: deployment, imageDigest: servers.new, dagsDigest: nil, actor: "ci")
        await b.waitForIdle(deploymentId: "dep")

        let steps = await target.steps
        // What the dead server left running is cleared before the stop (its Helm could start the pods again after it).
        #expect(steps == ["prepare 3.0.6", "reconcile", "stop", "revision", "restore to \(Self.head2)"]
                + Self.switchSteps(to: "3.0.6", from: Self.head2, previous: "2.10.5").dropFirst(), "\(steps)")
        #expect(try await servers.storeB.deploy(id: "d2")?.status == .failed)
        #expect(try await servers.storeB.deploy(id: "d3")?.status == .deployed)
        #expect(try await servers.storeA.deployment(id: "dep")?.currentDeployId == "d3")
        #expect(!FileManager.default.fileExists(atPath: workspace.journalFile.path))
        await servers.storeA.shutdown()
        await servers.storeB.shutdown()
    }
}
