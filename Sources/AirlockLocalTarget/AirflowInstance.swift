import AirlockCore
import AirlockToolchain
import Foundation

/// The loopback ports one running deployment listens on.
///
/// Chosen free on 127.0.0.1 rather than fixed, so several deployments (and parallel tests) can run
/// on one machine; the log-server ports matter too because the scheduler and the triggerer start log
/// servers on 8793 and 8794 by default, which would collide between deployments.
public struct AirflowPorts: Sendable, Hashable, Codable {
    /// 2.x webserver or 3.x api-server (which also serves the execution API tasks talk to).
    public var web: Int
    /// The scheduler's task-log server (`[logging] worker_log_server_port`).
    public var logServer: Int
    /// The triggerer's log server (`[logging] trigger_log_server_port`, Airflow 2.6+; ignored before).
    public var triggerLogServer: Int

    public init(web: Int, logServer: Int, triggerLogServer: Int) {
        self.web = web
        self.logServer = logServer
        self.triggerLogServer = triggerLogServer
    }

    /// Three distinct ports that are free on 127.0.0.1 right now, outside the ephemeral range so that
    /// nobody else's listener is handed them while the deployment is stopped (see `LoopbackPort.freeForService`).
    public static func free() throws(AirlockError) -> AirflowPorts {
        var chosen: [Int] = []
        while chosen.count < 3 {
            chosen.append(try LoopbackPort.freeForService(excluding: Set(chosen)))
        }
        return AirflowPorts(web: chosen[0], logServer: chosen[1], triggerLogServer: chosen[2])
    }

    /// Reads `ports.json`; a file written before deployments ran a triggerer has no `triggerLogServer`,
    /// which then gets a port free now (only the triggerer itself and the web UI on this machine use it).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        web = try container.decode(Int.self, forKey: .web)
        logServer = try container.decode(Int.self, forKey: .logServer)
        if let port = try container.decodeIfPresent(Int.self, forKey: .triggerLogServer) {
            triggerLogServer = port
        } else {
            triggerLogServer = try LoopbackPort.freeForService(excluding: [web, logServer])
        }
    }
}

/// One deployment as it runs on this machine: which environment, where its state lives, which DAGs.
///
/// The home is persistent per deployment (not per release) because it holds the metadata DB and
/// the logs, which must survive deploys and rollbacks; the DAGs folder is per release, so a switch
/// is just pointing the components at another folder.
public struct AirflowInstance: Sendable, Hashable {
    /// The uv environment with Airflow installed: the deployment's "image".
    public var environment: PythonEnvironment
    /// `AIRFLOW_HOME`: holds `airflow.cfg`, `logs/`, the secrets and (by default) `airflow.db`.
    public var airflowHome: URL
    /// The release's DAG files (`[core] dags_folder`).
    public var dagsFolder: URL
    public var ports: AirflowPorts
    /// 2 or 3: decides the components, the health endpoint and the settings.
    public var airflowMajor: Int
    /// The metadata DB. Belongs to the deployment, not to a release, like the home: every version
    /// of the deployment migrates the same DB.
    public var database: MetadataDatabaseLocation

    /// - Parameter database: nil means SQLite in the home (`airflowHome/airflow.db`), the default.
    public init(environment: PythonEnvironment, airflowHome: URL, dagsFolder: URL, ports: AirflowPorts, airflowMajor: Int,
                database: MetadataDatabaseLocation? = nil) {
        self.environment = environment
        self.airflowHome = airflowHome
        self.dagsFolder = dagsFolder
        self.ports = ports
        self.airflowMajor = airflowMajor
        self.database = database ?? .defaultSQLite(home: airflowHome)
    }

    /// The SQLite file of `database`, or `airflowHome/airflow.db` (which then does not exist) when the
    /// deployment uses PostgreSQL. Kept for SQLite-only callers; new code should use `database`.
    public var databaseFile: URL { database.sqliteFile ?? airflowHome.appendingPathComponent("airflow.db") }
    /// Where component output goes (`airlock-<component>.log`); Airflow's own task logs sit beside it.
    public var logsFolder: URL { airflowHome.appendingPathComponent("logs") }
    public var baseURL: String { "http://127.0.0.1:\(ports.web)" }
    /// 2.x serves `/health`; 3.x moved it to `/api/v2/monitor/health` (its `/health` is a 404).
    public var healthURL: String { airflowMajor >= 3 ? "\(baseURL)/api/v2/monitor/health" : "\(baseURL)/health" }

    /// The log file of one component.
    public func logFile(_ component: String) -> URL { logsFolder.appendingPathComponent("airlock-\(component).log") }

    /// The variables every `airflow` process of this deployment gets — components, `db migrate` and
    /// `db downgrade` alike — so they all share one configuration whatever `airflow.cfg` says.
    ///
    /// Why each one:
    /// - venv `bin` first on `PATH`: executors spawn `airflow` by name (facts gotcha 6).
    /// - Database: `database.sqlAlchemyURL` (`sqlite:///…`, or `postgresql+psycopg2://…` on both majors;
    ///   3.x derives its `asyncpg` URL from it, so its environment needs `asyncpg` too — see
    ///   `MetadataDatabaseLocation.requirements`).
    /// - Executor: SQLite allows only one writer, so 2.x on SQLite needs `SequentialExecutor` (it refuses
    ///   `LocalExecutor` there); on PostgreSQL 2.x runs `LocalExecutor`, tasks in parallel. 3.x removed
    ///   `SequentialExecutor` and runs `LocalExecutor` on either.
    /// - Auth manager set explicitly per major: the home's `airflow.cfg` is written by whichever
    ///   version ran first, and a 2.x file names `FabAuthManager`, which makes 3.x fail *after*
    ///   migrating (gotcha 2), while a 3.x file names `SimpleAuthManager`, which 2.x cannot import.
    ///   3.x uses `SimpleAuthManager` with everyone admin: the deployment listens on loopback only and
    ///   needs no user table. The FAB provider is still installed in 3.x environments, only because
    ///   `db downgrade` below 3.0 needs it (gotcha 3).
    /// - Secrets (JWT, web session, Fernet) come from one file in the home: a 2.x `airflow.cfg` has no
    ///   `jwt_secret`, and 3.x then makes a random one per process, so the api-server would reject the
    ///   scheduler's task tokens. A stable Fernet key keeps encrypted connections readable across versions.
    public func processEnvironment(secrets: DeploymentSecrets) -> [String: String] {
        let inherited = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var env: [String: String] = [
            "PATH": "\(environment.bin.path):\(inherited)",
            "VIRTUAL_ENV": environment.root.path,
            "AIRFLOW_HOME": airflowHome.path,
            "AIRFLOW__CORE__DAGS_FOLDER": dagsFolder.path,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": secrets.fernetKey,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database.sqlAlchemyURL,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": String(ports.logServer),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": String(ports.triggerLogServer),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            // `/health` calls the scheduler (and triggerer) unhealthy when its last heartbeat is older than
            // 30 s; a loaded 2-core machine delays heartbeats that long, and a deployment then reads
            // "unhealthy" right after it was DEPLOYED. A process that dies is seen by the supervisor anyway.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": String(Int(AirflowHealth.heartbeatTolerance)),
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": String(Int(AirflowHealth.heartbeatTolerance)),
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        ]
        if airflowMajor >= 3 {
            env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
            env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = "\(baseURL)/execution/"
            env["AIRFLOW__CORE__AUTH_MANAGER"] = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
            env["AIRFLOW__API_AUTH__JWT_SECRET"] = secrets.sessionSecret
            env["AIRFLOW__API__SECRET_KEY"] = secrets.sessionSecret
            env["AIRFLOW__API__BASE_URL"] = baseURL
        } else {
            env["AIRFLOW__CORE__EXECUTOR"] = database.isSQLite ? "SequentialExecutor" : "LocalExecutor"
            env["AIRFLOW__CORE__AUTH_MANAGER"] = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
            env["AIRFLOW__WEBSERVER__SECRET_KEY"] = secrets.sessionSecret
            env["AIRFLOW__WEBSERVER__BASE_URL"] = baseURL
            // gunicorn's master gives its worker 120 s to boot, then kills the whole webserver; on a
            // loaded 2-core machine the first 2.x boot (FAB permission sync) was measured at 115–125 s.
            // The deploy's own health wait is the limit that matters.
            env["AIRFLOW__WEBSERVER__WEB_SERVER_MASTER_TIMEOUT"] = "600"
            env["AIRFLOW__WEBSERVER__WEB_SERVER_WORKER_TIMEOUT"] = "600"
        }
        return env
    }
}

/// Secrets a deployment keeps across processes, versions and restarts, stored once in its home.
public struct DeploymentSecrets: Sendable, Hashable, Codable {
    /// A Fernet key (url-safe base64 of 32 random bytes) for encrypted connections and variables.
    public var fernetKey: String
    /// Signs 3.x JWTs and 2.x/3.x web sessions; must be identical in every component.
    public var sessionSecret: String

    static let fileName = "airlock-secrets.json"

    /// The home's secrets, created (mode 0600) on first use.
    public static func load(home: URL) throws(AirlockError) -> DeploymentSecrets {
        let file = home.appendingPathComponent(fileName)
        if let data = FileManager.default.contents(atPath: file.path),
           let secrets = try? JSONDecoder().decode(DeploymentSecrets.self, from: data) {
            return secrets
        }
        let secrets = DeploymentSecrets(fernetKey: randomBase64(32, urlSafe: true), sessionSecret: randomBase64(32, urlSafe: false))
        do {
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            let temporary = home.appendingPathComponent(".\(fileName).\(UUID().uuidString)")
            try JSONEncoder().encode(secrets).write(to: temporary)
            chmod(temporary.path, 0o600)
            if rename(temporary.path, file.path) != 0 { throw CocoaError(.fileWriteUnknown) }
        } catch {
            throw .environment("Cannot write the deployment secrets in `\(home.path)`: \(error.localizedDescription)")
        }
        return secrets
    }

    static func randomBase64(_ count: Int, urlSafe: Bool) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let text = Data(bytes).base64EncodedString()
        return urlSafe ? text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_") : text
    }
}
