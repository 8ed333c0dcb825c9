import AirlockCore
import Foundation
import PythonPackaging
import Testing

@Suite struct RollbackPlannerTests {
    typealias F = RollbackFixtures

    static let oldHead = "5f2621c13b39"   // Airflow 2.10.3 … 2.11
    static let newHead = "fe199e1abd77"   // Airflow 3.0.3 …
    static let airflow2 = F.image(runtime: nil, airflow: "2.10.5", lock: "lock-2105", digest: "project-1")
    static let airflow3 = F.image(runtime: nil, airflow: "3.0.6", lock: "lock-306", digest: "project-2")

    /// #1 on Airflow 2.10.5, then #2 upgraded to 3.0.6 (current).
    static let history = [
        F.deploy(1, age: 10 * F.day, image: airflow2, dags: "dags-1", head: oldHead),
        F.deploy(2, age: F.day, image: airflow3, dags: "dags-2", head: newHead),
    ]
    static let deployment = F.deployment(current: "d2", environment: ["SLACK_TOKEN": "x", "AIRFLOW__CORE__PARALLELISM": "8"],
                                         executor: "LocalExecutor")
    static let migrations = [
        DatabaseMigration(revision: newHead, description: "Delete import errors.", airflowVersion: "3.0.3"),
        DatabaseMigration(revision: "29ce7909c52b", description: "Change TI table to have unique UUID id/pk per attempt.", airflowVersion: "3.0.0"),
    ]
    static let backup = BackupInfo(id: "backup-7", takenAt: Date(timeIntervalSince1970: 1_759_913_000), schemaHead: oldHead)

    static func plan(history: [Deploy] = history, deployment: Deployment = deployment, target: String = "#1",
                     description: String? = "3.0.6 broke the S3 sensor", dryRun: Bool = false, restoreBackup: Bool = false,
                     role: Role = .rollbackImages, backup: BackupInfo? = nil) throws(AirlockError) -> RollbackPlan {
        try RollbackPlanner.plan(
            deployment: deployment, history: history, targetId: target, now: F.now, description: description, dryRun: dryRun,
            restoreBackup: restoreBackup, role: role,
            currentPins: PinnedSet(freezeText: "apache-airflow==3.0.6\napache-airflow-providers-standard==1.6.0\nrequests==2.32.3\n"),
            targetPins: PinnedSet(freezeText: "apache-airflow==2.10.5\nrequests==2.32.3\n"),
            currentManifest: ["Dockerfile": "a", "dags/etl.py": "e2", "dags/new.py": "n"],
            targetManifest: ["Dockerfile": "a", "dags/etl.py": "e1", "dags/old.py": "o"],
            migrations: migrations, backupBeforeUpgrade: backup)
    }

    // MARK: The 2.10.5 → 3.0.6 → rollback to #1 scenario

    @Test func rollbackFromAirflow3ToAirflow2() throws {
        let plan = try Self.plan()
        #expect(plan.deploymentId == "dep-1")
        #expect(plan.fromDeploy.id == "d2")
        #expect(plan.toDeploy.id == "d1")
        #expect(plan.newSequence == 3)
        #expect(plan.type == .imageAndDag)
        #expect(plan.requiredRole == .rollbackImages)
        #expect(plan.skippedDeploys == 0)
        #expect(plan.description == "3.0.6 broke the S3 sensor")
        #expect(plan.runtimeChange == RuntimeChange(fromRuntime: nil, toRuntime: nil, fromAirflow: "3.0.6", toAirflow: "2.10.5",
                                                    fromPython: "3.12", toPython: "3.12", direction: .downgrade))

        #expect(plan.database.direction == .downgrade)
        #expect(plan.database.fromHead == Self.newHead)
        #expect(plan.database.toHead == Self.oldHead)
        #expect(plan.database.migrations == Self.migrations)
        #expect(plan.database.choices.map(\.option) == [.downgrade])
        #expect(plan.database.chosen == .downgrade)
        #expect(plan.database.backupFirst)
        #expect(plan.database.choices.first?.loses.contains("running tasks fail") == true)

        #expect(plan.files == FileChanges(added: ["dags/old.py"], removed: ["dags/new.py"], changed: ["dags/etl.py"]))
        let diff = try #require(plan.packageDiff)
        #expect(diff.map(\.name) == ["apache-airflow", "apache-airflow-providers-standard"])
        #expect(diff.map(\.kind) == [.downgrade, .removed])

        #expect(plan.warnings.first == RollbackPlanner.lastResortWarning)
        #expect(plan.warnings.contains { $0.contains("goes down from `fe199e1abd77` to `5f2621c13b39`") && $0.contains("running tasks fail") })
        #expect(plan.warnings.contains { $0.contains("crosses Airflow major versions (3 → 2)") })
        #expect(!plan.warnings.contains { $0.contains("skips") })

        #expect(plan.notRolledBack == [
            "Environment variable `AIRFLOW__CORE__PARALLELISM`",
            "Environment variable `SLACK_TOKEN`",
            "Executor `LocalExecutor` and resources",
            "Every other deployment setting (name, retention, rollback and pin settings)",
        ])
        #expect(plan.rolledBack.contains("Image: Airflow 3.0.6 → Airflow 2.10.5"))
    }

    @Test func newDeployRecordsTheRollback() throws {
        let plan = try Self.plan()
        let deploy = plan.newDeploy(id: "d3", now: F.now, actor: "carol")
        #expect(deploy.id == "d3")
        #expect(deploy.deploymentId == "dep-1")
        #expect(deploy.sequence == 3)
        #expect(deploy.label == "#3")
        #expect(deploy.type == .imageAndDag)
        #expect(deploy.status == .initialized)
        #expect(!deploy.everDeployed)
        #expect(deploy.rollbackFromId == "d2")
        #expect(deploy.rollbackToId == "d1")
        #expect(deploy.isRollback)
        #expect(deploy.image == Self.airflow2)
        #expect(deploy.dagBundleVersion == "dags-1")
        #expect(deploy.dbSchemaHead == Self.oldHead)
        #expect(deploy.dagDeployEnabled == Self.history[0].dagDeployEnabled)
        #expect(deploy.description == "3.0.6 broke the S3 sensor")
        #expect(deploy.createdAt == F.now)
        #expect(deploy.createdBy == "carol")
        #expect(deploy.artifactsStored)
    }

    @Test func historyAfterTheRollbackTreatsItAsCurrent() throws {
        let plan = try Self.plan()
        var rollback = plan.newDeploy(id: "d3", now: F.now, actor: "carol")
        rollback.status = .deployed
        rollback.everDeployed = true
        var deployment = Self.deployment
        deployment.currentDeployId = rollback.id
        let history = Self.history + [rollback]
        // Undoing the rollback goes back to #2, which is now the latest earlier deploy.
        #expect(RollbackPolicy.latestEarlierDeploy(in: history, deployment: deployment)?.id == "d2")
        let forward = try Self.plan(history: history, deployment: deployment, target: "2")
        #expect(forward.newSequence == 4)
        #expect(forward.database.direction == .upgrade)
        #expect(forward.database.choices.isEmpty)
        #expect(forward.database.chosen == nil)
        #expect(forward.database.backupFirst)
        #expect(forward.warnings.contains { $0.contains("`airflow db migrate`") })
        // #1 and #3 have the same image and bundle: nothing changes.
        let same = try Self.plan(history: history, deployment: deployment, target: "1", role: .admin)
        #expect(same.type == .dagOnly)
        #expect(same.database.direction == .none)
        #expect(!same.database.backupFirst)
        #expect(same.skippedDeploys == 1)
        #expect(same.warnings.contains("The target has the same image and DAG bundle as the current deploy; nothing changes"))
    }

    // MARK: Restore-backup choice (rule 7)

    @Test func backupIsOfferedAndChosenOnRequest() throws {
        let offered = try Self.plan(backup: Self.backup)
        #expect(offered.database.choices.map(\.option) == [.downgrade, .restoreBackup])
        #expect(offered.database.chosen == .downgrade)
        let restore = try #require(offered.database.choices.last)
        #expect(restore.backupId == "backup-7")
        #expect(restore.loses.hasPrefix("Loses everything written to the metadata database since 2025-10-08T08:43:20Z"))

        let chosen = try Self.plan(restoreBackup: true, backup: Self.backup)
        #expect(chosen.database.chosen == .restoreBackup)
        #expect(chosen.warnings.contains { $0.contains("restored from a backup") && $0.contains("since 2025-10-08T08:43:20Z") })
        #expect(!chosen.warnings.contains { $0.contains("schema goes down") })
    }

    /// Downgrading below Airflow 3 moves its manual runs (no logical date) out of the run history, and on
    /// SQLite their dangling rows to Airlock's moved tables: every preview says so, unless a backup is restored.
    @Test func downgradeBelowAirflow3WarnsThatManualRunsAreMoved() throws {
        let sqlite = try Self.plan()
        #expect(sqlite.warnings.contains { $0.contains("_airflow_moved__3_0_0__offending_dag_run") && $0.contains("_airflow_moved__airlock_") })
        var settings = Self.deployment.settings
        settings.metadataDatabaseUrl = "postgresql://airflow@db/airflow"
        let postgres = try Self.plan(deployment: Deployment(id: "dep-1", name: "prod", settings: settings, currentDeployId: "d2"))
        #expect(postgres.warnings.contains { $0.contains("_airflow_moved__3_0_0__offending_dag_run") && !$0.contains("_airflow_moved__airlock_") })

        let restored = try Self.plan(restoreBackup: true, backup: Self.backup)
        #expect(!restored.warnings.contains { $0.contains("_airflow_moved__") })
        let upgrade = try Self.plan(history: [F.deploy(1, age: 10 * F.day, image: Self.airflow3, dags: "dags-1", head: Self.newHead),
                                              F.deploy(2, age: F.day, image: Self.airflow2, dags: "dags-2", head: Self.oldHead)])
        #expect(!upgrade.warnings.contains { $0.contains("_airflow_moved__") })
    }

    @Test func restoreBackupIsRefusedWithoutAMatchingBackup() throws {
        let none = #expect(throws: AirlockError.self) { try Self.plan(restoreBackup: true) }
        #expect(none?.message == "Cannot restore a backup: there is no backup from just before the upgrade being undone")

        let wrong = BackupInfo(id: "backup-1", takenAt: F.now, schemaHead: "22ed7efa9da2")
        let mismatch = #expect(throws: AirlockError.self) { try Self.plan(restoreBackup: true, backup: wrong) }
        #expect(mismatch?.message.contains("backup `backup-1` has schema head `22ed7efa9da2`") == true)
        // Without the flag, the unusable backup is simply not offered.
        #expect(try Self.plan(backup: wrong).database.choices.map(\.option) == [.downgrade])
    }

    @Test func restoreBackupIsRefusedWhenTheSchemaDoesNotGoDown() {
        let history = [F.deploy(1, age: 2 * F.day, dags: "dags-1"), F.deploy(2, age: F.day, dags: "dags-2")]
        let error = #expect(throws: AirlockError.self) {
            try Self.plan(history: history, restoreBackup: true, role: .admin, backup: Self.backup)
        }
        #expect(error?.message.contains("--restore-backup applies only") == true)
    }

    // MARK: Refusals

    @Test func ineligibleTargetsAreRefusedWithTheirReasons() {
        var deployment = Self.deployment
        deployment.settings.rollbackEnabled = false
        deployment.settings.deployMechanism = .nfs
        let error = #expect(throws: AirlockError.self) { try Self.plan(deployment: deployment) }
        #expect(error?.kind == .usage)
        #expect(error?.message == "Cannot roll back to #1: " + RollbackIneligibility.rollbackDisabled.message + "; "
            + RollbackIneligibility.unsupportedMechanism("nfs").message)

        let current = #expect(throws: AirlockError.self) { try Self.plan(target: "d2") }
        #expect(current?.message == "Cannot roll back to #2: " + RollbackIneligibility.isCurrentDeploy.message)
    }

    @Test func runtime30xPairIsRefused() {
        let history = [F.deploy(1, age: 10 * F.day, image: F.image(runtime: "12.7.1", airflow: "2.10.5"), head: Self.oldHead),
                       F.deploy(2, age: F.day, image: F.image(runtime: "3.0-6", airflow: "3.0.6"), head: Self.newHead)]
        let error = #expect(throws: AirlockError.self) { try Self.plan(history: history) }
        #expect(error?.message.contains("Runtime `3.0-6` is not supported") == true)
    }

    @Test(arguments: [
        (String?.none, false, true),
        ("", false, true),
        ("  ", false, true),
        (String(repeating: "x", count: 501), false, true),
        (String?.none, true, false),
        ("   ", true, false),
        (String(repeating: "x", count: 501), true, true),
        ("why", false, false),
    ])
    func descriptionIsRequiredUnlessDryRun(description: String?, dryRun: Bool, refused: Bool) {
        if refused {
            let error = #expect(throws: AirlockError.self) { try Self.plan(description: description, dryRun: dryRun) }
            #expect(error?.message.contains("description") == true)
        } else {
            #expect(throws: Never.self) { try Self.plan(description: description, dryRun: dryRun) }
        }
    }

    @Test func dryRunWithoutDescriptionGetsADefaultRecordText() throws {
        let plan = try Self.plan(description: nil, dryRun: true)
        #expect(plan.dryRun)
        #expect(plan.description == nil)
        #expect(plan.newDeploy(id: "d3", now: F.now, actor: "carol").description == "Rollback to #1")
    }

    @Test(arguments: [
        (Role.viewer, false, false),
        (.deployer, false, false),
        (.rollbackDags, false, false),
        (.rollbackImages, false, true),
        (.admin, false, true),
        (.viewer, true, true),        // anyone may preview
        (.rollbackDags, true, true),
    ])
    func imageRollbackNeedsRollbackImages(role: Role, dryRun: Bool, allowed: Bool) {
        if allowed {
            #expect(throws: Never.self) { try Self.plan(dryRun: dryRun, role: role) }
        } else {
            let error = #expect(throws: AirlockError.self) { try Self.plan(dryRun: dryRun, role: role) }
            #expect(error?.message == "This rollback needs the `rollback-images` role (or `admin`)")
        }
    }

    @Test(arguments: [(Role.rollbackDags, true), (.admin, true), (.rollbackImages, false), (.deployer, false)])
    func dagOnlyRollbackNeedsRollbackDags(role: Role, allowed: Bool) throws {
        let history = [F.deploy(1, age: 2 * F.day, dags: "dags-1"), F.deploy(2, age: F.day, dags: "dags-2")]
        if allowed {
            let plan = try Self.plan(history: history, role: role)
            #expect(plan.type == .dagOnly)
            #expect(plan.requiredRole == .rollbackDags)
            #expect(RollbackPolicy.requiredRole(for: plan) == .rollbackDags)
            #expect(plan.database.direction == .none)
            #expect(plan.runtimeChange.direction == .none)
            #expect(!plan.warnings.contains { $0.contains("database") })
        } else {
            let error = #expect(throws: AirlockError.self) { try Self.plan(history: history, role: role) }
            #expect(error?.message.contains("`rollback-dags`") == true)
        }
    }

    // MARK: Skipped deploys (rules 8–9)

    @Test(arguments: [("1", 2, true), ("2", 1, false), ("4", 0, false)])
    func skippedDeploysCountOnlyDeploysThatRan(target: String, skipped: Int, warned: Bool) throws {
        let history = [F.deploy(1, age: 5 * F.day, dags: "b1"), F.deploy(2, age: 4 * F.day, dags: "b2"),
                       F.deploy(3, age: 3 * F.day, status: .failed, dags: "b3"), F.deploy(4, age: 2 * F.day, dags: "b4"),
                       F.deploy(5, age: F.day, dags: "b5"), F.deploy(6, age: 0, status: .failed, dags: "b6")]
        let plan = try Self.plan(history: history, deployment: F.deployment(current: "d5"), target: target, role: .admin)
        #expect(plan.skippedDeploys == skipped)
        #expect(plan.newSequence == 7)
        #expect(plan.warnings.contains("This rollback skips 2 deploys (#2 … #4); rolling back across several deploys is disruptive") == warned)
        #expect(plan.warnings.filter { $0.contains("skips") }.count == (warned ? 1 : 0))
    }

    // MARK: Rule 6

    @Test func dagDeploySettingIsRolledBack() throws {
        let history = [F.deploy(1, age: 2 * F.day, dagDeployEnabled: false), F.deploy(2, age: F.day, dagDeployEnabled: true)]
        let plan = try Self.plan(history: history, role: .rollbackDags)
        #expect(plan.type == .dagOnly)
        #expect(plan.rolledBack.contains("DAG deploy setting: on → off"))
        #expect(plan.warnings.contains("The target has the same image and DAG bundle as the current deploy; only the DAG deploy setting changes"))
        #expect(!plan.newDeploy(id: "d3", now: F.now, actor: "carol").dagDeployEnabled)
        let settings = plan.settingsAfterRollback(Self.deployment.settings)
        #expect(!settings.dagDeployEnabled)
        #expect(settings.environmentVariables == Self.deployment.settings.environmentVariables)
        #expect(settings.executor == "LocalExecutor")
    }

    @Test func noEnvironmentVariablesIsSaidSo() throws {
        let plan = try Self.plan(deployment: F.deployment(current: "d2"))
        #expect(plan.notRolledBack.first == "Environment variables (none are set)")
        #expect(plan.notRolledBack.contains("Executor and resources"))
    }

    // MARK: Database direction edge cases

    @Test func missingSchemaHeadIsInferredAndWarned() throws {
        let history = [F.deploy(1, age: 10 * F.day, image: Self.airflow2, head: nil),
                       F.deploy(2, age: F.day, image: Self.airflow3, head: Self.newHead)]
        let plan = try Self.plan(history: history)
        #expect(plan.database.direction == .downgrade)
        #expect(plan.database.toHead == nil)
        #expect(plan.warnings.contains("The schema head of #1 is not recorded; the database direction is inferred from the Airflow versions"))
    }

    // MARK: Optional inputs

    @Test func missingPinsAndManifestsLeaveThoseSectionsEmpty() throws {
        let plan = try RollbackPlanner.plan(deployment: Self.deployment, history: Self.history, targetId: "d1", now: F.now,
                                            description: "why", role: .admin, currentPins: PinnedSet(), targetPins: nil,
                                            currentManifest: ["a": "1"], targetManifest: nil)
        #expect(plan.packageDiff == nil)
        #expect(plan.files == nil)
        #expect(plan.database.migrations.isEmpty)
    }

    // MARK: File changes

    @Test(arguments: [
        ([String: String](), [String: String](), FileChanges()),
        (["a.py": "1"], ["a.py": "1"], FileChanges()),
        ([:], ["b.py": "2", "a.py": "1"], FileChanges(added: ["a.py", "b.py"])),
        (["a.py": "1"], [:], FileChanges(removed: ["a.py"])),
        (["a.py": "1", "b.py": "2", "c.py": "3"], ["a.py": "1", "b.py": "9", "d.py": "4"],
         FileChanges(added: ["d.py"], removed: ["c.py"], changed: ["b.py"])),
        (["dags/x.py": "1", "Dockerfile": "1"], ["dags/x.py": "2", "Dockerfile": "2"], FileChanges(changed: ["Dockerfile", "dags/x.py"])),
    ])
    func fileChanges(old: [String: String], new: [String: String], expected: FileChanges) {
        let changes = FileChanges(from: old, to: new)
        #expect(changes == expected)
        #expect(changes.isEmpty == (expected.count == 0))
    }

    // MARK: Target references

    @Test(arguments: [("2", "d2"), ("#2", "d2"), (" #1 ", "d1"), ("d1", "d1"), ("d2", "d2")])
    func resolvesTargets(reference: String, id: String) throws {
        #expect(try RollbackPlanner.resolveTarget(reference, in: Self.history).id == id)
    }

    @Test(arguments: ["", "  ", "#", "#9", "9", "0", "-1", "d9", "#d1"])
    func unknownTargetsAreRefused(reference: String) {
        let error = #expect(throws: AirlockError.self) { try RollbackPlanner.resolveTarget(reference, in: Self.history) }
        #expect(error?.kind == .usage)
    }

    // MARK: JSON

    @Test func deployJSONKeysAreExact() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let deploy = F.deploy(1, age: 0, image: nil, dags: nil, head: nil)
        let object = try #require(try JSONSerialization.jsonObject(with: encoder.encode(deploy)) as? [String: Any])
        #expect(Set(object.keys) == [
            "id", "deploymentId", "sequence", "type", "status", "description", "createdAt", "createdBy", "image", "dagBundleVersion",
            "dagDeployEnabled", "dbSchemaHead", "git", "rollbackFromId", "rollbackToId", "artifactsStored", "everDeployed",
            "targetImage", "helmRevision", "runtimeVersion", "airflowVersion",
        ])
        #expect(object["runtimeVersion"] is NSNull && object["airflowVersion"] is NSNull)
        #expect(object["targetImage"] is NSNull && object["helmRevision"] is NSNull)
        #expect(object["type"] as? String == "IMAGE_AND_DAG")
        #expect(object["status"] as? String == "DEPLOYED")
        #expect(object["image"] is NSNull)
        #expect(object["createdAt"] as? String == "2025-10-09T08:53:20Z")

        let rollback = try Self.plan().newDeploy(id: "d3", now: F.now, actor: "carol")
        let full = try #require(try JSONSerialization.jsonObject(with: encoder.encode(rollback)) as? [String: Any])
        #expect(full["status"] as? String == "INITIALIZED")
        #expect(full["rollbackFromId"] as? String == "d2")
        #expect(full["rollbackToId"] as? String == "d1")
        let image = try #require(full["image"] as? [String: Any])
        #expect(Set(image.keys) == ["runtimeVersion", "airflowVersion", "python", "lockHash", "projectDigest"])

        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        #expect(try decoder.decode(Deploy.self, from: encoder.encode(rollback)) == rollback)
    }

    @Test(arguments: DeployType.allCases)
    func deployTypeRawValues(type: DeployType) {
        #expect(["IMAGE_AND_DAG", "IMAGE_ONLY", "DAG_ONLY"].contains(type.rawValue))
    }

    @Test func planRoundTripsThroughJSON() throws {
        let plan = try Self.plan(restoreBackup: true, backup: Self.backup)
        let data = try JSONEncoder().encode(plan)
        #expect(try JSONDecoder().decode(RollbackPlan.self, from: data) == plan)
    }

    @Test func auditEventRecordsBeforeAndAfterVersions() throws {
        let plan = try Self.plan()
        let event = AuditEvent.rollback(plan, id: "ev-1", at: F.now, actor: "carol", outcome: .succeeded, newDeployId: "d3", requestId: "req-9")
        #expect(event.action == .deployRollback)
        #expect(event.action.rawValue == "deploy.rollback")
        #expect(event.beforeDeployId == "d2")
        #expect(event.afterDeployId == "d3")
        #expect(event.beforeRuntime == "Airflow 3.0.6")
        #expect(event.afterRuntime == "Airflow 2.10.5")
        #expect(event.detail == "3.0.6 broke the S3 sensor")
        let object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(event)) as? [String: Any])
        #expect(Set(object.keys) == ["id", "at", "actor", "action", "deploymentId", "beforeDeployId", "afterDeployId",
                                     "beforeRuntime", "afterRuntime", "outcome", "requestId", "detail"])
        #expect(object["action"] as? String == "deploy.rollback")
        #expect(object["outcome"] as? String == "succeeded")
        #expect(try JSONDecoder().decode(AuditEvent.self, from: JSONEncoder().encode(event)) == event)
    }
}
