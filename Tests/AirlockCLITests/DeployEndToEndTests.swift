import AirlockCore
import AirlockStorage
import AirlockTestSupport
import AirlockToolchain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Deploys and rollbacks for real: `airlock server` runs Airflow 2.10.5 and 3.0.6 on loopback, the
/// CLI deploys projects to it, and rollbacks downgrade the metadata DB. Serialized: two Airflow
/// deployments at once would compete for the 2 cores and make health timings meaningless.
@Suite(.serialized) struct DeployEndToEndTests {
    static let head2 = "5f2621c13b39"
    static let head3 = "fe199e1abd77"

    /// A project in Astro's layout on `airflow`, with one DAG that parses on 2.x and 3.x.
    static func project(airflow: String, dagBody: String = "pass", into root: URL? = nil) throws -> URL {
        let folder = try root ?? TestSupport.scratchFolder("airlock-deploy-project")
        try TestSupport.writeTree([
            "Dockerfile": "FROM apache/airflow:\(airflow)-python3.11\n",
            "requirements.txt": "",
            "dags/smoke.py": """
            from datetime import datetime
            from airflow import DAG

            with DAG("airlock_smoke", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
                \(dagBody)
            """,
        ], under: folder)
        return folder
    }

    struct Session {
        let server: RunningServer
        var env: [String: String]
        var admin: [String: String]

        func airlock(_ arguments: [String], admin useAdmin: Bool = true) async throws -> ProcessOutput {
            try await TestSupport.airlock(arguments, environment: useAdmin ? admin : env, timeout: 900)
        }

        func deploy(_ project: URL, _ description: String, extra: [String] = []) async throws -> ProcessOutput {
            try await airlock(["deploy", "--deployment", "prod", "--project", project.path, "--description", description] + extra)
        }

        func deploys() async throws -> [[String: Any]] {
            let page = try await server.json("/api/v1/deployments/prod/deploys?limit=100")
            return try #require(page["deploys"] as? [[String: Any]])
        }

        func status() async throws -> [String: Any] { try await server.json("/api/v1/deployments/prod/status") }
    }

    static func start(_ data: URL? = nil, environment: [String: String] = [:]) async throws -> Session {
        let server = try RunningServer(dataDirectory: data, environment: environment)
        try await server.waitUntilUp()
        let env = ["AIRLOCK_SERVER": server.url]
        return Session(server: server, env: env, admin: env.merging(["AIRLOCK_TOKEN": try server.adminToken]) { $1 })
    }

    static func health(_ status: [String: Any]) -> String? { (status["health"] as? [String: Any])?["status"] as? String }
    static func airflow(_ deploy: [String: Any]?) -> String? { (deploy?["image"] as? [String: Any])?["airflowVersion"] as? String }

    /// The issue's scenario: deploy 2.10.5, deploy 3.0.6 (migrated, backed up), refusals, preview, roll
    /// back to #1 (DB downgraded with 3.0.6 before the switch), then a DAG-only deploy and its rollback.
    @Test(.timeLimit(.minutes(40))) func deployUpgradeRollBackAndDagOnly() async throws {
        let session = try await Self.start()
        defer { session.server.stop() }
        #expect(try await session.airlock(["deployment", "create", "prod", "--target", "local"]).status == 0)
        let project = try Self.project(airflow: "2.10.5")

        // #1: Airflow 2.10.5 on a fresh metadata DB.
        let first = try await session.deploy(project, "First deploy")
        #expect(first.status == 0, "\(first.stderr)\n\(session.server.log)")
        try await Self.expectStepsTimedByTheServer(first, deploy: "1", session)
        var status = try await session.status()
        #expect(Self.health(status) == "healthy")
        #expect(status["dbSchemaHead"] as? String == Self.head2)
        let url = try #require(status["airflowUrl"] as? String)
        #expect(url.hasPrefix("http://127.0.0.1:"))

        // #2: 3.0.6. The schema migrates; the backup from just before it exists.
        _ = try Self.project(airflow: "3.0.6", into: project)
        let second = try await session.deploy(project, "Upgrade to Airflow 3")
        #expect(second.status == 0, "\(second.stderr)\n\(session.server.log)")
        status = try await session.status()
        #expect(Self.health(status) == "healthy")
        #expect(status["dbSchemaHead"] as? String == Self.head3)
        #expect(status["airflowUrl"] as? String == url, "the deployment keeps its URL across deploys")
        var deploys = try await session.deploys()
        #expect(deploys.count == 2)
        let (id1, id2) = (try #require(deploys[1]["id"] as? String), try #require(deploys[0]["id"] as? String))
        #expect(deploys.allSatisfy { $0["status"] as? String == "DEPLOYED" })
        #expect(deploys[0]["dbSchemaHead"] as? String == Self.head3 && deploys[1]["dbSchemaHead"] as? String == Self.head2)
        let backups = session.server.dataDirectory.appendingPathComponent("deployments")
        let backupFiles = try FileManager.default.subpathsOfDirectory(atPath: backups.path).filter { $0.hasSuffix("backups/\(id2).db") }
        #expect(backupFiles.count == 1, "a backup taken before #2 migrated the DB")

        // Refusals: disabled, missing description.
        let disabled = try await session.airlock(["rollback", "--deployment", "prod", "1", "--description", "Airflow 3 broke", "--yes"])
        #expect(disabled.status == 2)
        #expect(disabled.stderr.contains("Rollback is disabled"), "\(disabled.stderr)")
        #expect(try await session.airlock(["deployment", "settings", "prod", "--rollback-enabled", "true"]).status == 0)
        let undescribed = try await session.airlock(["rollback", "--deployment", "prod", "1", "--yes"])
        #expect(undescribed.status == 2)
        #expect(undescribed.stderr.lowercased().contains("description"), "\(undescribed.stderr)")

        // The preview: downgrade with both choices, and the package diff from the stored locks.
        let preview = try await session.airlock(["rollback", "--deployment", "prod", "1", "--dry-run", "--json"], admin: false)
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(preview.stdout.utf8)) as? [String: Any])
        let database = try #require(plan["database"] as? [String: Any])
        #expect(database["direction"] as? String == "downgrade")
        let choices = (database["choices"] as? [[String: Any]] ?? []).compactMap { $0["option"] as? String }
        #expect(choices.contains("downgrade") && choices.contains("restoreBackup"), "\(database)")
        let migrations = database["migrations"] as? [[String: Any]] ?? []
        #expect(migrations.count == 42, "the migrations between 2.10.5's and 3.0.6's heads: \(migrations.count)")
        #expect(migrations.first?["revision"] as? String == Self.head3)
        let packages = plan["packageDiff"] as? [[String: Any]] ?? []
        #expect(packages.contains { $0["name"] as? String == "apache-airflow" }, "the preview's package diff includes Airflow itself")

        // Roll back to #1 for real.
        let rollback = try await session.airlock(["rollback", "--deployment", "prod", "1", "--description", "Airflow 3 broke our DAGs", "--yes"])
        #expect(rollback.status == 0, "\(rollback.stderr)\n\(session.server.log)")
        deploys = try await session.deploys()
        #expect(deploys.count == 3)
        #expect(deploys[0]["sequence"] as? Int == 3)
        #expect(deploys[0]["status"] as? String == "DEPLOYED")
        #expect(deploys[0]["rollbackFromId"] as? String == id2)
        #expect(deploys[0]["rollbackToId"] as? String == id1)
        #expect(Self.airflow(deploys[0]) == "2.10.5")
        status = try await session.status()
        #expect(Self.health(status) == "healthy")
        #expect(status["dbSchemaHead"] as? String == Self.head2, "the DB was downgraded to 2.10.5's head")
        #expect(Self.airflow(status["currentDeploy"] as? [String: Any]) == "2.10.5")
        // Airflow itself answers on the deployment's URL, as 2.x (`/health`).
        let (healthData, _) = try await URLSession.shared.data(from: try #require(URL(string: url + "/health")))
        #expect(String(decoding: healthData, as: UTF8.self).contains("\"metadatabase\""))
        let audit = try await session.server.json("/api/v1/deployments/prod/audit-events")
        let rollbackEvent = (audit["events"] as? [[String: Any]] ?? []).first { $0["action"] as? String == "deploy.rollback" }
        #expect(rollbackEvent?["beforeRuntime"] as? String == "Airflow 3.0.6")
        #expect(rollbackEvent?["afterRuntime"] as? String == "Airflow 2.10.5")

        // DAG-only deploys: two at once are serialised, never interleaved.
        _ = try Self.project(airflow: "2.10.5", dagBody: "print('v2')", into: project)
        async let dagsA = session.deploy(project, "DAG change A", extra: ["--dags"])
        async let dagsB = session.deploy(project, "DAG change B", extra: ["--dags"])
        let (a, b) = try await (dagsA, dagsB)
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)\n\(b.stderr)\n\(session.server.log)")
        deploys = try await session.deploys()
        #expect(deploys.count == 5)
        #expect(deploys.prefix(2).allSatisfy { $0["type"] as? String == "DAG_ONLY" && $0["status"] as? String == "DEPLOYED" })
        #expect(deploys[0]["image"] as? NSDictionary == deploys[2]["image"] as? NSDictionary, "a DAG-only deploy keeps the image")
        let events = (try await session.server.json("/api/v1/deployments/prod/audit-events?limit=50")["events"] as? [[String: Any]] ?? []).reversed()
        let order = events.compactMap { event -> String? in
            guard let action = event["action"] as? String, ["deploy.start", "deploy.create"].contains(action) else { return nil }
            return "\(action):\(event["afterDeployId"] as? String ?? "")"
        }.suffix(4)
        let dagIds = Set([deploys[1]["id"] as? String ?? "", deploys[0]["id"] as? String ?? ""])
        let steps = Array(order)
        let ids = steps.map { String($0.split(separator: ":")[1]) }
        #expect(Set(ids) == dagIds && steps.map { String($0.split(separator: ":")[0]) } == ["deploy.start", "deploy.create", "deploy.start", "deploy.create"]
                && ids[0] == ids[1] && ids[2] == ids[3], "the second deploy started only after the first finished: \(steps)")

        // Roll the DAGs back: the same image, so a DAG-only rollback that needs only the DAG role.
        let dagRollback = try await session.airlock(["rollback", "--deployment", "prod", "3", "--description", "Revert the DAG change", "--yes", "--pin"])
        #expect(dagRollback.status == 0, "\(dagRollback.stderr)")
        deploys = try await session.deploys()
        #expect(deploys[0]["type"] as? String == "DAG_ONLY")
        #expect(deploys[0]["dagBundleVersion"] as? String == deploys[3]["dagBundleVersion"] as? String)
        let release = backups.appendingPathComponent("\(try #require(deploys[0]["deploymentId"] as? String))/releases/\(try #require(deploys[0]["id"] as? String))/dags/smoke.py")
        #expect(try String(contentsOf: release, encoding: .utf8).contains("pass"))
        #expect(Self.health(try await session.status()) == "healthy")

        // Pinned by the rollback: deploys are refused until unpinned, and both are audited.
        let whilePinned = try await session.deploy(project, "While pinned", extra: ["--dags"])
        #expect(whilePinned.status == 2 && whilePinned.stderr.contains("pinned"), "\(whilePinned.stderr)")
        #expect(try await session.airlock(["deployment", "settings", "prod", "--unpin"]).status == 0)
        let pinEvents = (try await session.server.json("/api/v1/deployments/prod/audit-events")["events"] as? [[String: Any]] ?? [])
            .compactMap { $0["action"] as? String }
        #expect(pinEvents.contains("deployment.pin") && pinEvents.contains("deployment.unpin"))

        // A deploy that cannot be built fails before anything running is touched.
        try "apache-airflow==2.9.0\n".write(to: project.appendingPathComponent("requirements.txt"), atomically: true, encoding: .utf8)
        let unresolvable = try await session.deploy(project, "Conflicting requirement")
        #expect(unresolvable.status == 1, "\(unresolvable.stderr)")
        #expect(unresolvable.stderr.contains("cannot be installed"), "\(unresolvable.stderr)")
        status = try await session.status()
        #expect(Self.health(status) == "healthy", "the previous deploy keeps running")
        #expect((status["currentDeploy"] as? [String: Any])?["id"] as? String == deploys[0]["id"] as? String)
        #expect(try await session.deploys().first?["status"] as? String == "FAILED")
    }

    /// SIGKILL of the server at each step of a rollback: after a restart the history is consistent
    /// (nothing left DEPLOYING) and the deployment runs a known deploy with a matching schema.
    @Test(.timeLimit(.minutes(40))) func serverKilledAtEachStepOfARollback() async throws {
        var session = try await Self.start()
        let data = session.server.dataDirectory
        defer { session.server.stop() }
        #expect(try await session.airlock(["deployment", "create", "prod"]).status == 0)
        #expect(try await session.airlock(["deployment", "settings", "prod", "--rollback-enabled", "true"]).status == 0)
        let project = try Self.project(airflow: "2.10.5")
        #expect(try await session.deploy(project, "2.10.5").status == 0)
        _ = try Self.project(airflow: "3.0.6", into: project)
        #expect(try await session.deploy(project, "3.0.6").status == 0)

        // Each restart that recovers from one crash point is armed with the next one, so every point
        // costs one crash and one recovery.
        let points = ["after-record", "after-stop", "after-backup", "after-database", "after-start", "after-mark"]
        session.server.stop()
        _ = try await session.server.waitUntilGone(timeout: 30)
        session = try await Self.start(data, environment: ["AIRLOCK_FAULT_CRASH_AT": points[0]])
        for (index, point) in points.enumerated() {
            #expect(Self.health(try await Self.waitForHealth(session)) == "healthy", "\(point): healthy before the rollback")
            // The rollback starts; the server kills itself at `point`.
            _ = try await session.airlock(["rollback", "--deployment", "prod", "1", "--description", "crash at \(point)", "--yes"])
            #expect(try await session.server.waitUntilGone(timeout: 300), "\(point): the server did not crash")

            let next = index + 1 < points.count ? ["AIRLOCK_FAULT_CRASH_AT": points[index + 1]] : [:]
            session = try await Self.start(data, environment: next)
            let status = try await Self.waitForHealth(session)
            #expect(Self.health(status) == "healthy", "\(point): \(status)\n\(session.server.log)")
            let deploys = try await session.deploys()
            #expect(!deploys.contains { ["DEPLOYING", "INITIALIZED"].contains($0["status"] as? String) }, "\(point): \(deploys.map { $0["status"] ?? "" })")
            #expect(deploys.count == 3 + index, "\(point): every attempt stays in the history")
            let current = try #require(status["currentDeploy"] as? [String: Any])
            #expect(current["status"] as? String == "DEPLOYED")
            #expect(status["dbSchemaHead"] as? String == current["dbSchemaHead"] as? String,
                    "\(point): the live schema matches the current deploy")
            let expectedAirflow = point == "after-mark" ? "2.10.5" : "3.0.6"
            #expect(Self.airflow(current) == expectedAirflow, "\(point)")
        }

        // An upgrade that fails after the DB migrated and the new version started: FAILED, the backup
        // is restored and the previous deploy (2.10.5, the last rollback) runs again.
        session.server.stop()
        _ = try await session.server.waitUntilGone(timeout: 30)
        session = try await Self.start(data, environment: ["AIRLOCK_FAULT_FAIL_AT": "after-start"])
        _ = try await Self.waitForHealth(session)
        let failed = try await session.deploy(project, "3.0.6 that fails to start")
        #expect(failed.status == 1, "\(failed.stderr)")
        #expect(failed.stderr.contains("Injected failure at after-start"), "\(failed.stderr)")
        let status = try await Self.waitForHealth(session)
        #expect(Self.health(status) == "healthy")
        #expect(Self.airflow(status["currentDeploy"] as? [String: Any]) == "2.10.5")
        #expect(status["dbSchemaHead"] as? String == Self.head2, "the backup from before the migration was restored")
        #expect(try await session.deploys().first?["status"] as? String == "FAILED")

        // Upgrade again for real, then undo it with `--restore-backup`: the backup taken just before
        // the upgrade goes back instead of a downgrade.
        session.server.stop()
        _ = try await session.server.waitUntilGone(timeout: 30)
        session = try await Self.start(data)
        _ = try await Self.waitForHealth(session)
        let upgrade = try await session.deploy(project, "3.0.6 again")
        #expect(upgrade.status == 0, "\(upgrade.stderr)")
        let target = try #require(try await session.deploys().first { Self.airflow($0) == "2.10.5" && $0["status"] as? String == "DEPLOYED" })
        let restore = try await session.airlock(["rollback", "--deployment", "prod", "\(target["sequence"] as? Int ?? 0)",
                                                 "--description", "Undo with the backup", "--restore-backup", "--yes"])
        #expect(restore.status == 0, "\(restore.stderr)\n\(session.server.log)")
        #expect(restore.stderr.contains("Restoring the metadata database from backup before-"), "\(restore.stderr)")
        let restored = try await Self.waitForHealth(session)
        #expect(Self.health(restored) == "healthy")
        #expect(restored["dbSchemaHead"] as? String == Self.head2)
        #expect(Self.airflow(restored["currentDeploy"] as? [String: Any]) == "2.10.5")
    }

    /// The same life on a PostgreSQL metadata DB: Airlock creates the database, migrates it 2.10.5 →
    /// 3.0.6 (pg_dump backup first), and the rollback downgrades it with 3.0.6 before the switch.
    @Test(.timeLimit(.minutes(30))) func deployAndRollBackOnAPostgresMetadataDatabase() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let base = environment["AIRLOCK_TEST_POSTGRES_URL"], var components = URLComponents(string: base) else {
            if environment["CI"] != nil { Issue.record("CI runs need AIRLOCK_TEST_POSTGRES_URL (scripts/test starts a private cluster)") }
            return
        }
        components.path = "/airlock_test_e2e_\(Int.random(in: 100_000..<999_999))"
        let url = try #require(components.string)
        let session = try await Self.start()
        defer { session.server.stop() }
        #expect(try await session.airlock(["deployment", "create", "prod", "--metadata-db", url]).status == 0)
        let project = try Self.project(airflow: "2.10.5")
        let first = try await session.deploy(project, "2.10.5 on PostgreSQL")
        #expect(first.status == 0, "\(first.stderr)\n\(session.server.log)")
        var status = try await session.status()
        #expect(Self.health(status) == "healthy" && status["dbSchemaHead"] as? String == Self.head2)
        let home = session.server.dataDirectory.appendingPathComponent("deployments")
        #expect(try FileManager.default.subpathsOfDirectory(atPath: home.path).allSatisfy { !$0.hasSuffix("airflow.db") }, "no SQLite DB")

        _ = try Self.project(airflow: "3.0.6", into: project)
        let second = try await session.deploy(project, "3.0.6 on PostgreSQL")
        #expect(second.status == 0, "\(second.stderr)\n\(session.server.log)")
        status = try await session.status()
        #expect(Self.health(status) == "healthy" && status["dbSchemaHead"] as? String == Self.head3)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: home.path).contains { $0.hasSuffix(".dump") }, "a pg_dump backup before the migration")

        #expect(try await session.airlock(["deployment", "settings", "prod", "--rollback-enabled", "true"]).status == 0)
        let rollback = try await session.airlock(["rollback", "--deployment", "prod", "1", "--description", "Back to 2.10.5", "--yes"])
        #expect(rollback.status == 0, "\(rollback.stderr)\n\(session.server.log)")
        status = try await session.status()
        #expect(Self.health(status) == "healthy")
        #expect(status["dbSchemaHead"] as? String == Self.head2)
        #expect(Self.airflow(status["currentDeploy"] as? [String: Any]) == "2.10.5")
    }

    static let head3_3 = "d2f4e1b3c5a7"

    /// Today's Airflow and back: 2.10.5 → 3.3.2 → roll back to 2.10.5 → upgrade to 3.0.6. The 2.10.5 and
    /// 3.0.6 environments are the other tests' (same project, same lock); 3.3.2, newer than the
    /// constraints mirror, resolves with `--exclude-newer`. Each version runs a real task (the 3.3.2
    /// one through the execution API and its JWT), and every component, the triggerer included,
    /// must be healthy. The rollback downgrades with 3.3.2; history survives as Airflow keeps it.
    @Test(.timeLimit(.minutes(35))) func deployAirflow3_3ThenRollBackTo2_10AndUpgradeAgain() async throws {
        let started = Date()
        let session = try await Self.start()
        defer { session.server.stop() }
        #expect(try await session.airlock(["deployment", "create", "prod"]).status == 0)
        #expect(try await session.airlock(["deployment", "settings", "prod", "--rollback-enabled", "true"]).status == 0)
        let project = try Self.project(airflow: "2.10.5")
        try TestSupport.writeTree(["dags/history.py": """
        from datetime import datetime
        from airflow import DAG
        try:
            from airflow.providers.standard.operators.bash import BashOperator
        except ImportError:
            from airflow.operators.bash import BashOperator

        with DAG("airlock_history", schedule="@once", start_date=datetime(2024, 1, 1), catchup=False,
                 is_paused_upon_creation=False):
            BashOperator(task_id="hello", bash_command="echo hello")
        """], under: project)

        // #1: 2.10.5; its scheduler runs the @once DAG.
        let first = try await session.deploy(project, "2.10.5")
        #expect(first.status == 0, "\(first.stderr)\n\(session.server.log)")
        let status1 = try await session.status()
        #expect(Self.health(status1) == "healthy")
        #expect((status1["health"] as? [String: Any])?["components"] as? [String: String]
                == ["metadatabase": "healthy", "scheduler": "healthy", "triggerer": "healthy"])
        let deploymentId = try #require(try await session.deploys().first?["deploymentId"] as? String)
        let database = session.server.dataDirectory.appendingPathComponent("deployments/\(deploymentId)/home/airflow.db")
        let scheduledRun = try await Self.waitForRow(database, "select run_id from dag_run where dag_id = 'airlock_history' and state = 'success'")
        #expect(scheduledRun?.hasPrefix("scheduled__") == true, "2.10.5 ran the @once DAG")

        // #2: 3.3.2, migrated from 2.10.5's head; a manual run goes through the api-server's execution API.
        _ = try Self.project(airflow: "3.3.2", into: project)
        let second = try await session.deploy(project, "Airflow 3.3.2")
        #expect(second.status == 0, "\(second.stderr)\n\(session.server.log)")
        let status2 = try await session.status()
        #expect(Self.health(status2) == "healthy")
        #expect(status2["dbSchemaHead"] as? String == Self.head3_3)
        #expect((status2["health"] as? [String: Any])?["components"] as? [String: String]
                == ["metadatabase": "healthy", "scheduler": "healthy", "dag_processor": "healthy", "triggerer": "healthy"])
        let url = try #require(status2["airflowUrl"] as? String)
        let manualRun = try await Self.triggerOnAirflow3(url, dag: "airlock_history")
        let manualState = try await Self.waitForRow(database, "select state from dag_run where run_id = '\(manualRun)' and state in ('success', 'failed')")
        #expect(manualState == "success", "the 3.3.2 task ran (JWT and execution API settings)")

        // #3: roll back to #1. The DB goes down with 3.3.2's environment before 2.10.5 starts.
        let rollback = try await session.airlock(["rollback", "--deployment", "prod", "1", "--description", "Back from 3.3.2", "--yes"])
        #expect(rollback.status == 0, "\(rollback.stderr)\n\(session.server.log)")
        #expect(rollback.stderr.contains("Downgrading the metadata database to \(Self.head2) with Airflow 3.3.2"), "\(rollback.stderr)")
        let deploys = try await session.deploys()
        #expect(deploys.count == 3)
        let (id1, id2) = (try #require(deploys[2]["id"] as? String), try #require(deploys[1]["id"] as? String))
        #expect(deploys[0]["status"] as? String == "DEPLOYED")
        #expect(deploys[0]["rollbackFromId"] as? String == id2 && deploys[0]["rollbackToId"] as? String == id1)
        #expect(deploys[1]["dbSchemaHead"] as? String == Self.head3_3 && deploys[2]["dbSchemaHead"] as? String == Self.head2)
        #expect(Self.airflow(deploys[0]) == "2.10.5" && Self.airflow(deploys[1]) == "3.3.2")
        let status3 = try await session.status()
        #expect(Self.health(status3) == "healthy")
        #expect(status3["dbSchemaHead"] as? String == Self.head2)
        #expect((status3["health"] as? [String: Any])?["components"] as? [String: String]
                == ["metadatabase": "healthy", "scheduler": "healthy", "triggerer": "healthy"])
        let (healthData, _) = try await URLSession.shared.data(from: try #require(URL(string: url + "/health")))
        #expect(String(decoding: healthData, as: UTF8.self).contains("\"metadatabase\""), "2.10.5 answers on the same URL")
        // History as Airflow keeps it: 2.10.5's run stays; the 3.x run without a logical date is moved by
        // Airflow's downgrade, its task instance by Airlock, so nothing dangles.
        #expect(try await Self.rows(database, "select run_id from dag_run where dag_id = 'airlock_history'") == [try #require(scheduledRun)])
        #expect(try await Self.rows(database, "select run_id from _airflow_moved__3_0_0__offending_dag_run") == [manualRun])
        #expect(try await Self.rows(database, "PRAGMA foreign_key_check").isEmpty)
        let moved = try await Self.rows(database, "select name from sqlite_master where name like '_airflow_moved__airlock_%__dangling__task_instance'")
        #expect(moved.count == 1, "\(moved)")
        let audit = try await session.server.json("/api/v1/deployments/prod/audit-events")
        let rollbackEvent = (audit["events"] as? [[String: Any]] ?? []).first { $0["action"] as? String == "deploy.rollback" }
        #expect(rollbackEvent?["beforeRuntime"] as? String == "Airflow 3.3.2")
        #expect(rollbackEvent?["afterRuntime"] as? String == "Airflow 2.10.5")

        // #4: the rolled-back database upgrades again (3.0.6's migrations stop at a dangling task instance).
        _ = try Self.project(airflow: "3.0.6", into: project)
        let again = try await session.deploy(project, "Airflow 3.0.6 after the rollback")
        #expect(again.status == 0, "\(again.stderr)\n\(session.server.log)")
        let status4 = try await session.status()
        #expect(Self.health(status4) == "healthy")
        #expect(status4["dbSchemaHead"] as? String == Self.head3)
        print("[deploy e2e] 2.10.5 → 3.3.2 → rollback → 3.0.6: \(String(format: "%.0f", Date().timeIntervalSince(started))) s")
    }

    /// Rows of one column from the deployment's SQLite DB, read with the system Python (no Airflow).
    /// The CLI times each server step by the server's `stepStartedAt`, not by when its poll saw it: every step
    /// it printed as done shows the length between the step's start and the next's, as the API gives them (before,
    /// steps that began between two polls were all "0 ms" but the last).
    static func expectStepsTimedByTheServer(_ output: ProcessOutput, deploy: String, _ session: Session) async throws {
        let view = try await session.server.json("/api/v1/deployments/prod/deploys/\(deploy)")
        let messages = try #require(view["steps"] as? [String]), stamps = try #require(view["stepStartedAt"] as? [String])
        let steps = try zip(messages, stamps).map { message, stamp in
            DeployStep(message, startedAt: try #require(DeployStep.date(fromTimestamp: stamp), "\(stamp)"))
        }
        #expect(steps.count == messages.count && steps.count >= 4, "\(view)")
        let durations = DeployStep.durations(of: steps, end: nil)
        for (step, seconds) in zip(steps, durations).dropLast() {
            let line = "done: \(step.message) (\(DeployStep.durationText(try #require(seconds))))"
            #expect(output.stderr.contains(line), "\(line)\n\(output.stderr)")
        }
    }

    static func rows(_ database: URL, _ query: String) async throws -> [String] {
        let script = "import sqlite3, sys\nc = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True, timeout=30)\n"
            + "print('\\n'.join(str(r[0]) for r in c.execute(sys.argv[2])))"
        let output = try await ProcessRunner.run("/usr/bin/env", ["python3", "-c", script, database.path, query], timeout: 60)
        #expect(output.succeeded, "\(query): \(output.stderr)")
        return output.stdout.split(separator: "\n").map(String.init)
    }

    /// Polls `query` until it returns a row (the first column of the first row), or nil after `timeout`.
    static func waitForRow(_ database: URL, _ query: String, timeout: Double = 240) async throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let row = try await rows(database, query).first { return row }
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
        return nil
    }

    /// Triggers a manual run through Airflow 3's REST API (the simple auth manager hands everyone an
    /// admin token), retrying while the DAG processor has not serialized the DAG yet; returns the run id.
    static func triggerOnAirflow3(_ url: String, dag: String, timeout: Double = 180) async throws -> String {
        let (tokenData, _) = try await URLSession.shared.data(from: try #require(URL(string: url + "/auth/token")))
        let token = try #require((try JSONSerialization.jsonObject(with: tokenData) as? [String: Any])?["access_token"] as? String)
        var request = URLRequest(url: try #require(URL(string: "\(url)/api/v2/dags/\(dag)/dagRuns")))
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"logical_date": null}"#.utf8)
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            let (data, response) = try await URLSession.shared.data(for: request)
            last = String(decoding: data, as: UTF8.self)
            if let code = (response as? HTTPURLResponse)?.statusCode, (200..<300).contains(code),
               let run = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["dag_run_id"] as? String {
                return run
            }
            try await Task.sleep(nanoseconds: 2_000_000_000)
        }
        throw AirlockError.environment("Triggering \(dag) on \(url) failed: \(last)")
    }

    /// Polls the deployment's status until Airflow is healthy (reconcile starts it in the background).
    static func waitForHealth(_ session: Session, timeout: Double = 300) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var status: [String: Any] = [:]
        while Date() < deadline {
            status = try await session.status()
            if health(status) == "healthy" { return status }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
        return status
    }
}
