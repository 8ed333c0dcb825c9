import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import PythonPackaging
import Testing
@testable import AirlockLocalTarget

/// Environments shared by the slow tests: resolved and built once per run (from the shared cache).
actor SharedEnvironments {
    static let shared = SharedEnvironments()
    private var cache: [String: PythonEnvironment] = [:]

    func environment(airflow: String, extra: [String] = []) async throws -> PythonEnvironment {
        let key = ([airflow] + extra).joined(separator: "+")
        if let hit = cache[key] { return hit }
        let uv = try await UVTool.locate(paths: TestSupport.sharedCache)
        let constraints = try String(contentsOf: TestSupport.constraintsMirror
            .appendingPathComponent("constraints-\(airflow)/constraints-3.11.txt"), encoding: .utf8)
        let input = ResolutionInput(airflowVersion: Version(airflow)!, python: "3.11", requirementLines: extra,
                                    constraintsText: constraints, excludeNewer: nil)
        let (result, _) = try await UVResolver(uv: uv, paths: TestSupport.sharedCache).resolve(input)
        guard case .resolved(let pins) = result else { throw AirlockError.environment("cannot resolve \(key): \(result)") }
        let (environment, _) = try await EnvironmentBuilder(uv: uv, paths: TestSupport.sharedCache).environment(pins: pins, python: "3.11")
        cache[key] = environment
        return environment
    }

    func airflow2() async throws -> PythonEnvironment { try await environment(airflow: "2.10.5") }
    /// 3.x with FAB: needed to downgrade below 3.0 (facts gotcha 3).
    func airflow3() async throws -> PythonEnvironment { try await environment(airflow: "3.0.6", extra: ["apache-airflow-providers-fab"]) }
}

/// A DAG file that parses on 2.x and 3.x.
func makeDags(_ root: URL) throws -> URL {
    let dags = root.appendingPathComponent("release/dags")
    try TestSupport.writeTree(["smoke.py": """
    from datetime import datetime
    from airflow import DAG

    with DAG("airlock_smoke", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
        pass
    """], under: dags)
    return dags
}

func elapsed(_ since: Date) -> String { String(format: "%.1f s", Date().timeIntervalSince(since)) }

/// Every process the supervisor started, and every helper they forked, is gone.
func expectAllGone(_ pids: [String: Int32], home: URL, sourceLocation: SourceLocation = #_sourceLocation) {
    let logs = home.appendingPathComponent("logs")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? []
    let identities = Set(names.filter { $0.hasPrefix("airlock-") }.compactMap { ProcessGroups.FileIdentity(path: logs.appendingPathComponent($0).path) })
    #expect(!identities.isEmpty, sourceLocation: sourceLocation)
    let leftovers = ProcessGroups.processes(writingTo: identities)
    #expect(leftovers.isEmpty, "processes of the deployment still alive: \(leftovers)", sourceLocation: sourceLocation)
    for (name, pid) in pids {
        #expect(kill(pid, 0) != 0, "\(name) (pid \(pid)) is still alive", sourceLocation: sourceLocation)
        #expect(!ProcessGroups.hasLiveMembers(pid), "\(name)'s process group \(pid) still has members", sourceLocation: sourceLocation)
    }
}

/// Real Airflow, slow: one serialized suite so two deployments never compete for the 2 cores.
@Suite(.serialized) struct LocalTargetTests {
    /// (a) fresh 2.10.5 → (b) backup, upgrade to 3.0.6, run, downgrade with 3.0.6, run 2.10.5 → (c) restore the backup.
    @Test(.timeLimit(.minutes(30))) func upgradeRunDowngradeAndRestoreOneDeployment() async throws {
        let root = try TestSupport.scratchFolder("airlock-local")
        defer { try? FileManager.default.removeItem(at: root) }
        let home = root.appendingPathComponent("home")
        let dags = try makeDags(root)
        let env2 = try await SharedEnvironments.shared.airflow2()
        let env3 = try await SharedEnvironments.shared.airflow3()
        let af2 = AirflowInstance(environment: env2, airflowHome: home, dagsFolder: dags, ports: try .free(), airflowMajor: 2)
        var af3 = AirflowInstance(environment: env3, airflowHome: home, dagsFolder: dags, ports: try .free(), airflowMajor: 3)
        af3.ports = try .free()

        // (a) Fresh home: migrate, run, stop.
        #expect(try await MetadataDatabase.currentRevision(of: af2.databaseFile, python: env2.python) == nil)
        let migrate2 = try await MetadataDatabase.migrate(af2, expectedHead: MetadataDatabase.head2_10_5)
        #expect(try await MetadataDatabase.currentRevision(of: af2.databaseFile, python: env2.python) == "5f2621c13b39")
        let supervisor = AirflowSupervisor()
        try await supervisor.start(af2)
        let healthy2 = try await supervisor.waitUntilHealthy(timeout: 480)
        let health2 = await supervisor.health()
        #expect(health2?["scheduler"]?.isHealthy == true)
        #expect(health2?["metadatabase"]?.isHealthy == true)
        var pids = await supervisor.processIDs
        #expect(Set(pids.keys) == ["scheduler", "webserver", "triggerer"])
        for pid in pids.values { #expect(getpgid(pid) == pid, "each component leads its own process group") }
        var stopStart = Date()
        await supervisor.stop()
        let stop2 = elapsed(stopStart)
        #expect(await !supervisor.isRunning)
        expectAllGone(pids, home: home)
        #expect(FileManager.default.fileExists(atPath: af2.logFile("scheduler").path))

        // (b) Back up, migrate the same DB with 3.0.6, run it.
        let backup = root.appendingPathComponent("backups/before-3.0.6.db")
        let backupStart = Date()
        try await MetadataDatabase.backup(af2.databaseFile, to: backup, python: env2.python)
        let backupTime = elapsed(backupStart)
        #expect(try await MetadataDatabase.currentRevision(of: backup, python: env2.python) == "5f2621c13b39")
        let migrate3 = try await MetadataDatabase.migrate(af3, expectedHead: MetadataDatabase.head3_0_6)
        #expect(try await MetadataDatabase.currentRevision(of: af3.databaseFile, python: env3.python) == "fe199e1abd77")
        try await supervisor.start(af3)
        let healthy3 = try await supervisor.waitUntilHealthy(timeout: 480)
        let health3 = await supervisor.health()
        #expect(health3?["dag_processor"]?.isHealthy == true)
        pids = await supervisor.processIDs
        #expect(Set(pids.keys) == ["api-server", "scheduler", "dag-processor", "triggerer"])
        stopStart = Date()
        await supervisor.stop()
        let stop3 = elapsed(stopStart)
        expectAllGone(pids, home: home)

        // Downgrade with the newer (3.0.6) environment, then run 2.10.5 on it again.
        let downgrade = try await MetadataDatabase.downgrade(af3, toRevision: MetadataDatabase.head2_10_5)
        #expect(try await MetadataDatabase.currentRevision(of: af2.databaseFile, python: env2.python) == "5f2621c13b39")
        try await supervisor.start(af2)
        let healthy2again = try await supervisor.waitUntilHealthy(timeout: 480)
        pids = await supervisor.processIDs
        await supervisor.stop()
        expectAllGone(pids, home: home)

        // (c) Restore the pre-upgrade backup over the DB.
        try await MetadataDatabase.migrate(af3, expectedHead: MetadataDatabase.head3_0_6)  // something to undo
        try await MetadataDatabase.restore(backup, to: af2.databaseFile, python: env2.python)
        #expect(try await MetadataDatabase.currentRevision(of: af2.databaseFile, python: env2.python) == "5f2621c13b39")

        print("""
        [local-target timings] migrate fresh 2.10.5: \(String(format: "%.1f", migrate2)) s; 2.10.5 start→healthy: \(String(format: "%.1f", healthy2)) s; \
        stop: \(stop2); backup: \(backupTime); migrate 2.10.5→3.0.6: \(String(format: "%.1f", migrate3)) s; \
        3.0.6 start→healthy: \(String(format: "%.1f", healthy3)) s; stop: \(stop3); downgrade 3.0.6→2.10.5: \(String(format: "%.1f", downgrade)) s; \
        2.10.5 again start→healthy: \(String(format: "%.1f", healthy2again)) s
        """)
    }

    /// (d) Starts that cannot become healthy fail clearly, in time, and leave nothing running.
    @Test(.timeLimit(.minutes(12))) func startsThatCannotBecomeHealthyFailCleanly() async throws {
        let root = try TestSupport.scratchFolder("airlock-local")
        defer { try? FileManager.default.removeItem(at: root) }
        let env2 = try await SharedEnvironments.shared.airflow2()
        var instance = AirflowInstance(environment: env2, airflowHome: root.appendingPathComponent("home"),
                                       dagsFolder: try makeDags(root), ports: try .free(), airflowMajor: 2)
        try await MetadataDatabase.migrate(instance, expectedHead: MetadataDatabase.head2_10_5)
        let supervisor = AirflowSupervisor()

        // The web port is taken by someone else: refused before anything is spawned.
        let listener = try StaticHTTPServer(serving: root)
        defer { listener.stop() }
        instance.ports.web = Int(listener.baseURL.split(separator: ":").last!)!
        await #expect {
            try await supervisor.start(instance)
        } throws: { error in
            (error as? AirlockError)?.message.contains("Port \(instance.ports.web) on 127.0.0.1 is already in use") == true
        }
        #expect(await !supervisor.isRunning)
        #expect(await supervisor.processIDs.isEmpty)

        // A broken executor: the scheduler dies, the wait fails early naming it, everything is stopped.
        instance.ports = try .free()
        try await supervisor.start(instance, variables: ["AIRFLOW__CORE__EXECUTOR": "NoSuchExecutor"])
        let pids = await supervisor.processIDs
        let started = Date()
        var message = ""
        do {
            try await supervisor.waitUntilHealthy(timeout: 400)
            Issue.record("a broken executor became healthy")
        } catch {
            message = error.message
        }
        let failedAfter = Date().timeIntervalSince(started)
        #expect(message.contains("scheduler"), "\(message)")
        #expect(message.contains("NoSuchExecutor"), "the log tail shows the cause: \(message)")
        #expect(failedAfter < 400)
        #expect(await !supervisor.isRunning)
        expectAllGone(pids, home: instance.airflowHome)

        // A timeout too short to make it: names what is unhealthy, stops everything.
        try await supervisor.start(instance)
        let shortPids = await supervisor.processIDs
        do {
            try await supervisor.waitUntilHealthy(timeout: 3)
            Issue.record("healthy within 3 s")
        } catch {
            #expect(error.message.contains("did not become healthy within 3 s"), "\(error.message)")
            #expect(error.message.contains("webserver") || error.message.contains("scheduler"), "\(error.message)")
        }
        #expect(await !supervisor.isRunning)
        expectAllGone(shortPids, home: instance.airflowHome)
        print("[local-target timings] broken executor detected after \(String(format: "%.1f", failedAfter)) s")
    }
}

/// Fast checks of the health document parsing, no Airflow needed.
@Suite struct AirflowHealthTests {
    @Test func parsesBothVersionsAndRejectsStaleHeartbeats() throws {
        let json = """
        {"metadatabase":{"status":"healthy"},
         "scheduler":{"status":"healthy","latest_scheduler_heartbeat":"2025-06-01T10:00:05.123456+00:00"},
         "triggerer":{"status":null,"latest_triggerer_heartbeat":null},
         "dag_processor":{"status":"unhealthy","latest_dag_processor_heartbeat":null}}
        """
        let health = try #require(AirflowHealth(json: Data(json.utf8)))
        #expect(health["scheduler"]?.isHealthy == true)
        #expect(health["triggerer"]?.status == nil)
        let beat = try #require(health["scheduler"]?.latestHeartbeat)
        #expect(beat == Date(timeIntervalSince1970: 1_748_772_005))
        #expect(health.unhealthy(required: ["metadatabase", "scheduler"]).isEmpty)
        #expect(health.unhealthy(required: ["metadatabase", "scheduler", "dag_processor"]) == ["dag_processor"])
        #expect(health.unhealthy(required: ["scheduler"], since: beat.addingTimeInterval(10)) == ["scheduler"])
        #expect(AirflowHealth.parseTimestamp("2025-06-01T12:00:05+02:00") == beat)
        // Airflow's 10.5 s dag-processor threshold missed on a loaded machine: a heartbeat 30 s old is alive,
        // one 130 s old is not, and no heartbeat at all is never alive.
        let late = try #require(AirflowHealth(json: Data("""
        {"metadatabase":{"status":"healthy"},
         "dag_processor":{"status":"unhealthy","latest_dag_processor_heartbeat":"2025-06-01T10:00:05+00:00"}}
        """.utf8)))
        #expect(late.unhealthy(required: ["metadatabase", "dag_processor"], now: beat.addingTimeInterval(30)).isEmpty)
        #expect(late.unhealthy(required: ["dag_processor"], now: beat.addingTimeInterval(130)) == ["dag_processor"])
        #expect(health.unhealthy(required: ["dag_processor"], now: beat) == ["dag_processor"])
        #expect(AirflowHealth(json: Data("{\"detail\":\"Not Found\"}".utf8)) == nil)
    }

    @Test func processEnvironmentPinsTheDeploymentAndPicksExecutorsForSQLite() throws {
        let env = PythonEnvironment(root: URL(fileURLWithPath: "/envs/x"), lockHash: "h", pythonVersion: "3.11")
        let home = URL(fileURLWithPath: "/deployments/d")
        let secrets = DeploymentSecrets(fernetKey: "f", sessionSecret: "s")
        let two = AirflowInstance(environment: env, airflowHome: home, dagsFolder: URL(fileURLWithPath: "/r/dags"),
                                  ports: AirflowPorts(web: 18080, logServer: 18793, triggerLogServer: 18794), airflowMajor: 2).processEnvironment(secrets: secrets)
        #expect(two["PATH"]?.hasPrefix("/envs/x/bin:") == true)
        #expect(two["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "sqlite:////deployments/d/airflow.db")
        #expect(two["AIRFLOW__CORE__EXECUTOR"] == "SequentialExecutor")
        let three = AirflowInstance(environment: env, airflowHome: home, dagsFolder: URL(fileURLWithPath: "/r/dags"),
                                    ports: AirflowPorts(web: 18080, logServer: 18793, triggerLogServer: 18794), airflowMajor: 3).processEnvironment(secrets: secrets)
        #expect(three["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor")
        #expect(three["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/")
        #expect(three["AIRFLOW__API_AUTH__JWT_SECRET"] == "s")
        #expect(three["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] == "18794")
        #expect(AirflowSupervisor.components(for: AirflowInstance(environment: env, airflowHome: home, dagsFolder: home,
                                                                  ports: AirflowPorts(web: 1, logServer: 2, triggerLogServer: 3), airflowMajor: 3)).map(\.name)
                == ["api-server", "scheduler", "dag-processor", "triggerer"])
    }

    /// The triggerer must be healthy where `/health` reports it (2.6+, 3.x), and is judged by its process
    /// where it does not (2.3–2.5); 2.x never has to show the standalone dag_processor it does not run.
    @Test func requiredHealthFollowsWhatTheDeploymentRunsAndTheEndpointReports() throws {
        let env = PythonEnvironment(root: URL(fileURLWithPath: "/envs/x"), lockHash: "h", pythonVersion: "3.11")
        let home = URL(fileURLWithPath: "/deployments/d")
        func instance(_ major: Int) -> AirflowInstance {
            AirflowInstance(environment: env, airflowHome: home, dagsFolder: home,
                            ports: AirflowPorts(web: 1, logServer: 2, triggerLogServer: 3), airflowMajor: major)
        }
        let modern = try #require(AirflowHealth(json: Data("""
        {"metadatabase":{"status":"healthy"},"scheduler":{"status":"healthy"},"triggerer":{"status":null},"dag_processor":{"status":null}}
        """.utf8)))
        let old = try #require(AirflowHealth(json: Data("{\"metadatabase\":{\"status\":\"healthy\"},\"scheduler\":{\"status\":\"healthy\"}}".utf8)))
        #expect(AirflowSupervisor.requiredHealth(for: instance(2), in: modern) == ["metadatabase", "scheduler", "triggerer"])
        #expect(AirflowSupervisor.requiredHealth(for: instance(2), in: old) == ["metadatabase", "scheduler"])
        #expect(AirflowSupervisor.requiredHealth(for: instance(3), in: modern) == ["metadatabase", "scheduler", "dag_processor", "triggerer"])
        #expect(modern.unhealthy(required: AirflowSupervisor.requiredHealth(for: instance(3), in: modern)) == ["dag_processor", "triggerer"])
    }

    /// `ports.json` of a deployment created before the triggerer ran still reads, with a free trigger-log port.
    @Test func portsWrittenBeforeTheTriggererStillRead() throws {
        let ports = try JSONDecoder().decode(AirflowPorts.self, from: Data("{\"web\": 18080, \"logServer\": 18793}".utf8))
        #expect(ports.web == 18080 && ports.logServer == 18793)
        #expect(![18080, 18793].contains(ports.triggerLogServer) && ports.triggerLogServer > 0)
        let fresh = try AirflowPorts.free()
        #expect(Set([fresh.web, fresh.logServer, fresh.triggerLogServer]).count == 3)
        #expect(try JSONDecoder().decode(AirflowPorts.self, from: JSONEncoder().encode(fresh)) == fresh)
    }

    /// What a downgrade below 3.0 leaves on SQLite: a task instance whose DAG run Airflow moved away,
    /// and an XCom of that task instance. Both move (in turn) to `_airflow_moved__airlock_…` tables;
    /// consistent rows, and rows whose parent *table* is missing, stay.
    @Test func danglingRowsMoveToAirflowMovedTables() async throws {
        let root = try TestSupport.scratchFolder("airlock-dangling")
        defer { try? FileManager.default.removeItem(at: root) }
        let db = root.appendingPathComponent("airflow.db")
        let python = try #require(ProcessRunner.which("python3"))
        let setup = """
        import sqlite3, sys
        c = sqlite3.connect(sys.argv[1])
        c.executescript(\"\"\"
        create table dag_run (id integer primary key, run_id text);
        create table task_instance (id integer primary key, run_id integer references dag_run(id) on delete cascade);
        create table xcom (id integer primary key, ti integer references task_instance(id) on delete cascade);
        create table note (id integer primary key, user_id integer references ab_user(id));
        insert into dag_run values (1, 'kept');
        insert into task_instance values (10, 1), (11, 2);
        insert into xcom values (100, 10), (101, 11);
        insert into note values (1, 7);
        \"\"\")
        c.commit()
        """
        #expect(try await ProcessRunner.run(python, ["-c", setup, db.path], timeout: 60).succeeded)
        let moved = try await MetadataDatabase.moveDanglingRows(of: .sqlite(file: db), python: python)
        #expect(moved == ["task_instance": 1, "xcom": 1])
        let check = """
        import sqlite3, sys
        c = sqlite3.connect(sys.argv[1])
        print([r[0] for r in c.execute("select id from task_instance")], [r[0] for r in c.execute("select id from xcom")],
              [r[0] for r in c.execute("PRAGMA foreign_key_check")])
        for (name,) in c.execute("select name from sqlite_master where name like '_airflow_moved__airlock_%' order by name").fetchall():
            print(name.split("__", 3)[-1], [r[0] for r in c.execute(f'select id from "{name}"')])
        """
        let after = try await ProcessRunner.run(python, ["-c", check, db.path], timeout: 60).stdout
        #expect(after == "[10] [100] ['note']\ntask_instance [11]\nxcom [101]\n", "\(after)")
        #expect(try await MetadataDatabase.moveDanglingRows(of: .sqlite(file: db), python: python).isEmpty, "a clean DB is left alone")
        #expect(try await MetadataDatabase.moveDanglingRows(of: .sqlite(file: root.appendingPathComponent("none.db")), python: python).isEmpty)
    }

    @Test func secretsAreCreatedOnceAndKept() throws {
        let home = try TestSupport.scratchFolder("airlock-secrets")
        defer { try? FileManager.default.removeItem(at: home) }
        let first = try DeploymentSecrets.load(home: home)
        #expect(try DeploymentSecrets.load(home: home) == first)
        #expect(Data(base64Encoded: first.fernetKey.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/"))?.count == 32)
    }
}
