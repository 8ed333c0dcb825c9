import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing

/// What goes wrong on real pods (issue #13 item 8), in one namespace and one PostgreSQL, in the same
/// `.serialized` suite as the deploy/rollback scenario (the cluster runs one of them at a time):
/// two servers on one history deploying at once, a deploy whose scheduler cannot start, and a server
/// killed during a rollback.
extension KubernetesDeployEndToEndTests {
    /// The deployment's values (as a user writes them): a loaded 2-core machine migrates and starts slowly.
    static let slowMachineValues = """
    apiServer:
      waitForMigrations: {migrationsWaitTimeout: 600}
      env: [{name: AIRFLOW__API__WORKERS, value: "1"}]
    webserver:
      waitForMigrations: {migrationsWaitTimeout: 600}
      env: [{name: AIRFLOW__WEBSERVER__WORKERS, value: "1"}]
    scheduler: {waitForMigrations: {migrationsWaitTimeout: 600}}
    triggerer: {waitForMigrations: {migrationsWaitTimeout: 600}}
    dagProcessor: {waitForMigrations: {migrationsWaitTimeout: 600}}
    """

    /// 1. Two `airlock server`s on one PostgreSQL history and data folder, one deploy through each at once:
    ///    they take turns (no overlap of their runs in the audit log, one Helm revision each, in that order).
    /// 2. An upgrade to 3.0.6 whose scheduler cannot start (the project's `config/airflow_local_settings.py`
    ///    ends `airflow scheduler`, not the migration Job): `FAILED` with the container's log as the reason,
    ///    well before Helm's 900 s wait; the backup is restored, the previous release runs again, and
    ///    Helm's history shows the failed revision and the restored one.
    /// 3. SIGKILL of the server during a rollback, once the DB was downgraded (`after-database`, the pods
    ///    stopped) and once the target's release was started on the cluster (`after-start`): after each restart
    ///    on the same data folder, nothing is left `DEPLOYING`, the 3.0.6 deploy runs again on its digest, and
    ///    the live schema is its head.
    /// 4. The rollback again with `--restore-backup`: the backup from before the upgrade is restored (no downgrade
    ///    Job), and the pods run #previous's digest on 2.10.5's schema.
    /// 5. A deploy whose webserver never becomes ready, with the start timeout set to 60 s: `FAILED` naming the
    ///    timeout, the previous deploy runs on.
    @Test(.timeLimit(.minutes(75))) func failuresOnPods() async throws {
        let data = try TestSupport.scratchFolder("airlock-k8s-failures")
        defer { try? FileManager.default.removeItem(at: data) }
        try await Self.onPods("airlock-fail") { pods in try await failureScenario(pods, data: data) }
    }

    private func failureScenario(_ pods: Pods, data: URL) async throws {
        let (tools, postgres, namespace, suffix) = (pods.tools, pods.postgres, pods.namespace, pods.suffix)
        let kubectl = pods.kubectl, helm = pods.helm
        func helmHistory() async throws -> [[String: Any]] {
            try JSONSerialization.jsonObject(with: Data(try await helm(["history", "prod", "-o", "json"]).utf8)) as? [[String: Any]] ?? []
        }
        func revisionDigest(_ revision: Int) async throws -> String? {
            let values = try JSONSerialization.jsonObject(with: Data(try await helm(["get", "values", "prod", "--revision", "\(revision)", "-o", "json"]).utf8)) as? [String: Any]
            return ((values?["images"] as? [String: Any])?["airflow"] as? [String: Any])?["digest"] as? String
        }
        let repository = "localhost:5000/airlock/fail-\(suffix)"
        // Both servers share the history (a database on the node's PostgreSQL) and the data folder.
        let history = try PostgresTestTools.createDatabase(base: "postgresql://airlock@10.99.0.1:\(postgres.port)/postgres", label: "k8s_history")
        let environment = ["AIRLOCK_KUBECTL": tools.kubectl, "AIRLOCK_HELM": tools.helm]
        func server(_ extra: [String: String] = [:]) async throws -> DeployEndToEndTests.Session {
            let server = try RunningServer(dataDirectory: data, environment: environment.merging(extra) { $1 }, arguments: ["--database-url", history])
            try await server.waitUntilUp()
            let env = ["AIRLOCK_SERVER": server.url]
            return DeployEndToEndTests.Session(server: server, env: env, admin: env.merging(["AIRLOCK_TOKEN": try server.adminToken]) { $1 })
        }
        var a = try await server()
        defer { a.server.stop() }
        let b = try await server()
        defer { b.server.stop() }

        let values = data.appendingPathComponent("values.yaml")
        try Self.slowMachineValues.write(to: values, atomically: true, encoding: .utf8)
        let chart = TestSupport.repositoryRoot.appendingPathComponent("Tests/Fixtures/airflow-chart").path
        let created = try await a.airlock(["deployment", "create", "prod", "--target", "kubernetes", "--kubeconfig", Self.kubeconfig,
                                           "--namespace", namespace, "--release", "prod", "--chart", chart, "--registry", repository,
                                           "--metadata-db", postgres.url, "--values", values.path])
        #expect(created.status == 0, "\(created.stderr)")

        // 1. Two deploys of one deployment at once, through different servers.
        var started = Date()
        let projectA = try DeployEndToEndTests.project(airflow: "2.10.5")
        let projectB = try DeployEndToEndTests.project(airflow: "2.10.5", dagBody: "print('through B')")
        let sessionA = a
        async let throughA = sessionA.deploy(projectA, "2.10.5 through server A")
        async let throughB = b.deploy(projectB, "2.10.5 through server B")
        let (deployedA, deployedB) = try await (throughA, throughB)
        let concurrentSeconds = Date().timeIntervalSince(started)
        #expect(deployedA.status == 0, "\(deployedA.stderr)\n\(a.server.log)")
        #expect(deployedB.status == 0, "\(deployedB.stderr)\n\(b.server.log)")
        let firstTwo = try await a.deploys()
        #expect(firstTwo.count == 2 && firstTwo.allSatisfy { $0["status"] as? String == "DEPLOYED" }, "\(firstTwo)")
        #expect(Set(firstTwo.compactMap { $0["sequence"] as? Int }) == [1, 2], "#N sequential: \(firstTwo)")
        // Each deploy's run, from its turn (deploy.start) to its outcome: the runs do not overlap.
        let audit = try await a.server.json("/api/v1/audit-events?deployment=prod&limit=100")["events"] as? [[String: Any]] ?? []
        func runSpan(_ id: String) -> (start: String, end: String)? {
            let events = audit.filter { $0["afterDeployId"] as? String == id }
            guard let start = events.first(where: { $0["action"] as? String == "deploy.start" })?["at"] as? String,
                  let end = events.first(where: { $0["action"] as? String == "deploy.create" && $0["outcome"] as? String == "succeeded" })?["at"] as? String
            else { return nil }
            return (start, end)
        }
        let spans = firstTwo.compactMap { ($0["id"] as? String).flatMap(runSpan) }.sorted { $0.start < $1.start }
        #expect(spans.count == 2, "a start and an outcome for each deploy: \(audit)")
        if spans.count == 2 {
            #expect(spans[0].end <= spans[1].start, "serialised, never interleaved: \(spans)")
        }
        var revisions = try await helmHistory()
        #expect(revisions.count == 2, "one Helm revision per deploy: \(revisions)")
        let current = try #require(try await a.status()["currentDeploy"] as? [String: Any])
        let secondRun = firstTwo.first { ($0["id"] as? String).flatMap(runSpan)?.start == spans.last?.start }
        #expect(current["id"] as? String == secondRun?["id"] as? String, "the deploy that ran last is current")
        let digest2 = try await helmDigest(helm)
        #expect(try await revisionDigest(1) != digest2)
        #expect(try await podImages(kubectl) == ["\(repository)@\(digest2)"])
        let previous = try #require(current["sequence"] as? Int)
        b.server.stop()

        // 2. An upgrade whose scheduler cannot start: the migration Job runs (the DB is backed up first), the
        // scheduler container exits at once and crash-loops.
        started = Date()
        let broken = try DeployEndToEndTests.project(airflow: "3.0.6")
        try TestSupport.writeTree(["config/airflow_local_settings.py": """
            # Airflow imports this in every process of the image; this image's scheduler cannot start.
            import sys

            if sys.argv[1:2] == ["scheduler"]:
                raise SystemExit("this image's scheduler cannot start")
            """], under: broken)
        let failed = try await a.deploy(broken, "3.0.6 whose scheduler cannot start")
        let failedSeconds = Date().timeIntervalSince(started)
        #expect(failed.status == 1, "\(failed.stderr)\n\(a.server.log)")
        #expect(failed.stderr.contains("scheduler") && failed.stderr.contains("cannot start"), "the reason names the container: \(failed.stderr)")
        #expect(failed.stderr.contains("The previous deploy runs again"), "\(failed.stderr)")
        #expect(failedSeconds < 900, "failed before Helm's 900 s wait ran out: \(Int(failedSeconds)) s")
        var status = try await DeployEndToEndTests.waitForHealth(a, timeout: 300)
        #expect(DeployEndToEndTests.health(status) == "healthy", "\(status)")
        #expect(status["dbSchemaHead"] as? String == DeployEndToEndTests.head2, "the backup from before the migration was restored")
        #expect((status["currentDeploy"] as? [String: Any])?["sequence"] as? Int == previous)
        #expect(try await a.deploys().first?["status"] as? String == "FAILED")
        #expect(try await helmDigest(helm) == digest2, "Helm runs the previous release's digest again")
        #expect(try await podImages(kubectl) == ["\(repository)@\(digest2)"])
        revisions = try await helmHistory()
        #expect(revisions.map { $0["status"] as? String ?? "" } == ["superseded", "superseded", "failed", "deployed"], "\(revisions)")
        let failedDigest = try await revisionDigest(3)
        #expect(failedDigest != nil && failedDigest != digest2, "revision 3 ran the failed image")

        // 3. SIGKILL during a rollback. First a 3.0.6 deploy that works (the same project without the local settings).
        try FileManager.default.removeItem(at: broken.appendingPathComponent("config"))
        started = Date()
        let upgrade = try await a.deploy(broken, "3.0.6")
        let upgradeSeconds = Date().timeIntervalSince(started)
        #expect(upgrade.status == 0, "\(upgrade.stderr)\n\(a.server.log)")
        let digest3 = try await helmDigest(helm)
        let upgraded = try #require(try await a.deploys().first)
        #expect(try await a.airlock(["deployment", "settings", "prod", "--rollback-enabled", "true"]).status == 0)

        // Rollbacks to the 2.10.5 deploy that the server cuts short with SIGKILL: once the DB was downgraded (the
        // pods stopped), once while its Helm upgrade waits for the pods (that Helm goes on without the server), and
        // once Helm switched to #previous's image. Each restart that recovers from one crash is armed with the next
        // one (as `serverKilledAtEachStepOfARollback` on the local target).
        let points = ["after-database", "during-start", "after-start"]
        let revisionsBeforeRestart = try await helmHistory().count
        a.server.stop()
        _ = try await a.server.waitUntilGone(timeout: 30)
        a = try await server(["AIRLOCK_FAULT_CRASH_AT": points[0]])
        // A restart leaves the release running as it was deployed: no Helm upgrade, no revision of no deploy.
        let resumed = Date().addingTimeInterval(120)
        while !a.server.log.contains("still runs deploy \(upgraded["id"] as? String ?? "?") as deployed"), Date() < resumed {
            try await Task.sleep(nanoseconds: 500_000_000)
        }
        #expect(a.server.log.contains("still runs deploy"), "\(a.server.log)")
        #expect(try await helmHistory().count == revisionsBeforeRestart, "a server restart made a Helm revision")
        var timings: [String] = []
        for (index, point) in points.enumerated() {
            started = Date()
            _ = try await a.airlock(["rollback", "--deployment", "prod", "\(previous)", "--description", "killed at \(point)", "--yes"])
            #expect(try await a.server.waitUntilGone(timeout: 900), "\(point): the server did not crash: \(a.server.log)")
            let crashSeconds = Date().timeIntervalSince(started)
            if point == "after-start" {
                #expect(try await helmDigest(helm) == digest2, "the crash came after Helm switched to the rollback's image")
            } else if point == "during-start" {
                #expect(try await helmHistory().last?["status"] as? String == "pending-upgrade", "the crash came while Helm upgraded")
            } else {
                #expect(try await podImages(kubectl).isEmpty, "the crash came while the release was stopped for the downgrade")
            }

            started = Date()
            a = try await server(index + 1 < points.count ? ["AIRLOCK_FAULT_CRASH_AT": points[index + 1]] : [:])
            status = try await DeployEndToEndTests.waitForHealth(a, timeout: 900)
            var images: Set<String> = []
            let deadline = Date().addingTimeInterval(300)
            repeat {
                images = try await podImages(kubectl)
                if images == ["\(repository)@\(digest3)"] { break }
                try await Task.sleep(nanoseconds: 2_000_000_000)
            } while Date() < deadline
            if point == "during-start" {
                #expect(a.server.log.contains("stopped 1 Helm process a killed server left running"), "\(a.server.log)")
                // No revision stays pending. One may be for a while: the restart's Helm upgrade back to the current
                // deploy (the killed Helm's revision, failed on its SIGTERM, holds the rollback's image) still waits
                // when its pods are already healthy (CI: checked once, it was pending-upgrade).
                var pending: [String] = []
                let settled = Date().addingTimeInterval(300)
                repeat {
                    pending = try await helmHistory().compactMap { $0["status"] as? String }.filter { $0.hasPrefix("pending-") }
                    if pending.isEmpty { break }
                    try await Task.sleep(nanoseconds: 2_000_000_000)
                } while Date() < settled
                let history = try await helmHistory()
                #expect(pending.isEmpty, "\(history)\n\(a.server.log)")
            }
            timings.append("\(point): rollback until SIGKILL \(Int(crashSeconds)) s, recovery \(Int(Date().timeIntervalSince(started))) s")
            #expect(DeployEndToEndTests.health(status) == "healthy", "\(point): \(status)\n\(a.server.log)")
            let deploys = try await a.deploys()
            #expect(!deploys.contains { ["DEPLOYING", "INITIALIZED"].contains($0["status"] as? String) }, "\(point): \(deploys.map { $0["status"] ?? "" })")
            #expect(deploys.count == 5 + index && deploys.first?["status"] as? String == "FAILED", "\(point): \(deploys.map { $0["status"] ?? "" })")
            let now = try #require(status["currentDeploy"] as? [String: Any])
            #expect(now["id"] as? String == upgraded["id"] as? String && now["status"] as? String == "DEPLOYED", "\(point): the 3.0.6 deploy runs again: \(now)")
            #expect(status["dbSchemaHead"] as? String == DeployEndToEndTests.head3 && now["dbSchemaHead"] as? String == DeployEndToEndTests.head3,
                    "\(point): the live schema matches the current deploy: \(status)")
            #expect(try await helmDigest(helm) == digest3, "\(point)")
            #expect(images == ["\(repository)@\(digest3)"], "\(point): the pods run the current deploy's digest")
        }

        // 4. The same rollback with `--restore-backup`: the backup taken just before the 3.0.6 upgrade goes back
        // (pg_dump's archive, restored while the release is stopped) instead of a downgrade Job.
        started = Date()
        let restore = try await a.airlock(["rollback", "--deployment", "prod", "\(previous)", "--description", "Undo with the backup",
                                           "--restore-backup", "--yes"])
        let restoreSeconds = Date().timeIntervalSince(started)
        #expect(restore.status == 0, "\(restore.stderr)\n\(a.server.log)")
        #expect(restore.stderr.contains("Restoring the metadata database from backup before-"), "\(restore.stderr)")
        #expect(!restore.stderr.contains("Downgrading the metadata database"), "\(restore.stderr)")
        status = try await DeployEndToEndTests.waitForHealth(a, timeout: 300)
        #expect(DeployEndToEndTests.health(status) == "healthy", "\(status)")
        #expect(status["dbSchemaHead"] as? String == DeployEndToEndTests.head2, "the backup from before the upgrade is back")
        #expect(DeployEndToEndTests.airflow(status["currentDeploy"] as? [String: Any]) == "2.10.5")
        #expect(try await helmDigest(helm) == digest2, "Helm runs the rollback target's digest")
        #expect(try await podImages(kubectl) == ["\(repository)@\(digest2)"])

        // 5. A start that does not end within the deployment's start timeout, set to 60 s: a code change whose
        // webserver hangs before it serves. Nothing crashes (no CrashLoopBackOff to fail fast on), so only Helm's
        // `--timeout` ends it: FAILED with the timeout named, and the previous deploy, never stopped by this
        // rolling switch, runs on.
        let lowered = try await a.airlock(["deployment", "settings", "prod", "--start-timeout", "60"])
        #expect(lowered.status == 0, "\(lowered.stderr)")
        let hanging = try DeployEndToEndTests.project(airflow: "2.10.5", dagBody: "print('a webserver that hangs')")
        try TestSupport.writeTree(["config/airflow_local_settings.py": """
            # Airflow imports this in every process of the image; this image's webserver never serves.
            import sys
            import time

            if sys.argv[1:2] == ["webserver"]:
                time.sleep(86400)
            """], under: hanging)
        started = Date()
        let timedOut = try await a.deploy(hanging, "2.10.5 whose webserver never serves")
        let timedOutSeconds = Date().timeIntervalSince(started)
        #expect(timedOut.status == 1, "\(timedOut.stderr)\n\(a.server.log)")
        #expect(timedOut.stderr.contains("not ready within the deployment's start timeout (60 s)") && timedOut.stderr.contains("airlock deployment settings prod --start-timeout SECONDS"),
                "\(timedOut.stderr)")
        #expect(timedOutSeconds < 600, "the 60 s start timeout ended it, not Helm's default: \(Int(timedOutSeconds)) s")
        status = try await DeployEndToEndTests.waitForHealth(a, timeout: 300)
        #expect(DeployEndToEndTests.health(status) == "healthy", "\(status)")
        #expect(try await a.deploys().first?["status"] as? String == "FAILED")
        #expect(try await helmDigest(helm) == digest2, "Helm runs the previous deploy's digest again")
        #expect(try await podImages(kubectl) == ["\(repository)@\(digest2)"])
        print("kubernetes failures: two deploys at once \(Int(concurrentSeconds)) s, failing upgrade \(Int(failedSeconds)) s, upgrade \(Int(upgradeSeconds)) s; "
              + timings.joined(separator: "; ") + "; rollback with --restore-backup \(Int(restoreSeconds)) s; start timeout 60 s: \(Int(timedOutSeconds)) s")
    }
}
