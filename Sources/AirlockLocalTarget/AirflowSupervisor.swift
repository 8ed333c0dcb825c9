import AirlockCore
import AirlockToolchain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Runs one deployment's Airflow components as supervised child processes and judges their health.
///
/// 2.x: `scheduler` + `webserver` (one gunicorn worker: memory on a 2-core machine) + `triggerer`.
/// 3.x: `api-server` (one worker) + `scheduler` + `dag-processor` (standalone in 3.x) + `triggerer`.
/// The triggerer runs on every version because deferred tasks (deferrable operators, async sensors,
/// 3.x deadline callbacks) wait forever without one, while everything else looks healthy.
/// An actor because start, health polling and stop touch the same process table and must not interleave.
public actor AirflowSupervisor {
    /// One component: its name (also the log file's suffix), the program of the environment's `bin` it
    /// runs (`airflow` but for the 2.x webserver) and its arguments.
    public struct Component: Sendable, Hashable {
        public var name: String
        public var executable = "airflow"
        public var arguments: [String]
        /// The name `/health` reports it under, if it reports it at all (`webserver` is judged by answering).
        public var healthName: String?
    }

    private var processes: [SupervisedProcess] = []
    private var instance: AirflowInstance?
    private var startedAt: Date?

    public init() {}

    /// The components a deployment of `instance`'s major version runs.
    public static func components(for instance: AirflowInstance) -> [Component] {
        let port = String(instance.ports.web)
        let triggerer = Component(name: "triggerer", arguments: ["triggerer"], healthName: "triggerer")
        if instance.airflowMajor >= 3 {
            return [
                Component(name: "api-server", arguments: ["api-server", "--port", port, "--host", "127.0.0.1", "--workers", "1"], healthName: nil),
                Component(name: "scheduler", arguments: ["scheduler"], healthName: "scheduler"),
                Component(name: "dag-processor", arguments: ["dag-processor"], healthName: "dag_processor"),
                triggerer,
            ]
        }
        // The 2.x webserver is the gunicorn command `airflow webserver` would start (same application, config
        // hook and preloading), without the `GunicornMonitor` that `airflow webserver` wraps around it: the
        // monitor restarts the worker every 30 s, and on a loaded 2-core machine it was seen signalling a
        // master whose worker had not booted yet, which left the master stopped (state T) and the web port
        // dead for good ("[0/0] Some workers seem to have died"). One worker, never recycled, is what a
        // loopback deployment needs; its 600 s timeout covers the first boot's permission sync (115–125 s seen).
        let pidFile = instance.airflowHome.appendingPathComponent("airflow-webserver.pid").path
        let gunicorn = ["-m", "gunicorn", "--workers", "1", "--worker-class", "sync", "--timeout", "600",
                        "--bind", "127.0.0.1:\(port)", "--name", "airflow-webserver", "--pid", pidFile,
                        "--config", "python:airflow.www.gunicorn_config", "--preload", "airflow.www.app:cached_app()"]
        return [
            Component(name: "scheduler", arguments: ["scheduler"], healthName: "scheduler"),
            Component(name: "webserver", executable: "python", arguments: gunicorn, healthName: nil),
            triggerer,
        ]
    }

    /// The health entries that must be healthy for `instance` to count as up: the metadatabase and
    /// every component it runs that `document` reports on. A component the endpoint does not report
    /// at all (the triggerer before Airflow 2.6) is judged by its process staying alive instead.
    public static func requiredHealth(for instance: AirflowInstance, in document: AirflowHealth?) -> [String] {
        let names = components(for: instance).compactMap(\.healthName)
        guard let document else { return ["metadatabase"] + names }
        return ["metadatabase"] + names.filter { document[$0] != nil }
    }

    /// Whether any component (or a helper it forked) is still alive.
    public var isRunning: Bool {
        processes.contains { $0.groupAlive } || !Self.stragglers(of: processes).isEmpty
    }

    /// The running deployment, if any.
    public var current: AirflowInstance? { instance }

    /// Component name → process (group) id, for diagnostics and tests.
    public var processIDs: [String: Int32] {
        Dictionary(uniqueKeysWithValues: processes.map { ($0.name, $0.pid) })
    }

    /// Starts the components of `instance` and returns without waiting for health.
    ///
    /// - Parameter variables: the deployment's own environment variables. They may change Airflow
    ///   settings, but not the ones that define where the deployment lives (home, DAGs folder,
    ///   database, PATH): those always win, so a variable can never point a deployment at another's state.
    /// - Throws: when something already runs here, the web port is taken (refused before spawning,
    ///   which is clearer than a gunicorn/uvicorn bind error later), or a process cannot be spawned.
    public func start(_ instance: AirflowInstance, variables: [String: String] = [:]) async throws(AirlockError) {
        if isRunning {
            throw .environment("Airflow is already running for `\(self.instance?.airflowHome.path ?? instance.airflowHome.path)`; stop it first.")
        }
        processes = []
        guard FileManager.default.isExecutableFile(atPath: instance.environment.bin.appendingPathComponent("airflow").path) else {
            throw .environment("The environment `\(instance.environment.root.path)` has no `airflow` executable.")
        }
        for port in [instance.ports.web, instance.ports.logServer, instance.ports.triggerLogServer] where LoopbackPort.accepts(port) {
            throw .environment("Port \(port) on 127.0.0.1 is already in use; Airflow cannot listen there.",
                               hint: "Stop whatever listens on \(port), or choose other ports for the deployment.")
        }
        do {
            try FileManager.default.createDirectory(at: instance.logsFolder, withIntermediateDirectories: true)
        } catch {
            throw .environment("Cannot create `\(instance.logsFolder.path)`: \(error.localizedDescription)")
        }
        // Stale PID files from a killed run make the 2.x webserver refuse to start when the PID was reused.
        for name in ["airflow-webserver.pid", "airflow-webserver-monitor.pid", "airflow-scheduler.pid", "airflow-triggerer.pid"] {
            try? FileManager.default.removeItem(at: instance.airflowHome.appendingPathComponent(name))
        }
        let secrets = try DeploymentSecrets.load(home: instance.airflowHome)
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in variables { environment[key] = value }
        for (key, value) in instance.processEnvironment(secrets: secrets) {
            let pinned = EnvironmentVariables.deployOwnedKeys.contains(key)
            if pinned || variables[key] == nil { environment[key] = value }
        }

        self.instance = instance
        startedAt = Date()
        for component in Self.components(for: instance) {
            let log = instance.logFile(component.name)
            Self.rotate(log)
            do {
                let executable = instance.environment.bin.appendingPathComponent(component.executable)
                let process = try SupervisedProcess(name: component.name, executable: executable, arguments: component.arguments,
                                                    environment: environment, workingDirectory: instance.airflowHome, logFile: log)
                processes.append(process)
            } catch {
                await stop()
                throw error
            }
        }
    }

    /// Keeps the previous run's output as `.1` so a failed restart does not erase the evidence.
    private static func rotate(_ log: URL) {
        let previous = URL(fileURLWithPath: log.path + ".1")
        try? FileManager.default.removeItem(at: previous)
        try? FileManager.default.moveItem(at: log, to: previous)
    }

    /// The health document right now, or nil when the web component does not answer (yet).
    ///
    /// One read, so it waits longer than a poll of `waitUntilHealthy` does: a 1-worker api-server on a
    /// loaded 2-core machine was seen taking over 3 s to answer, and a status then said "unhealthy".
    public func health(timeout: Double = 10) async -> AirflowHealth? {
        guard let instance else { return nil }
        return await Self.fetchHealth(instance.healthURL, timeout: timeout)
    }

    /// Polls the health endpoint every 0.5 s until the metadatabase and every started component report
    /// healthy with a heartbeat from this start.
    ///
    /// Fails early when a component exits. On failure (exit or timeout) it stops everything it started,
    /// so a failed deploy never leaves processes holding the ports, and the error names the culprit
    /// with the tail of its log.
    /// - Returns: seconds from `start` to healthy.
    @discardableResult
    public func waitUntilHealthy(timeout: Double) async throws(AirlockError) -> Double {
        guard let instance, let startedAt, !processes.isEmpty else {
            throw .environment("Airflow is not running; nothing to wait for.")
        }
        let components = Self.components(for: instance)
        // Heartbeats are whole seconds in our parse; allow a little skew.
        let freshSince = startedAt.addingTimeInterval(-2)
        let deadline = Date().addingTimeInterval(timeout)
        var last: AirflowHealth?
        while true {
            if processes.contains(where: { !$0.leaderAlive }) {
                // A bad setting often ends several components, in whatever order the machine runs them (the
                // 2.x webserver, which builds its app in the gunicorn master, may go before the scheduler):
                // give the others a few seconds to show it, then name every one that exited, each with its log.
                let grace = Date().addingTimeInterval(5)
                while Date() < grace, processes.contains(where: \.leaderAlive) { try? await Task.sleep(nanoseconds: 200_000_000) }
                let dead = processes.filter { !$0.leaderAlive }
                let names = dead.map { process in "\(process.name)\(process.exited.map { " (status \($0))" } ?? "")" }
                let logs = dead.map { "--- last lines of \($0.logFile.path) ---\n\(Self.tail(of: $0.logFile))" }
                await stop()
                throw .environment("The Airflow \(names.joined(separator: " and ")) exited before the deployment became healthy.\n"
                                   + logs.joined(separator: "\n"),
                                   hint: "Read \(dead.map(\.logFile.path).joined(separator: " and ")) for the whole output.")
            }
            last = await Self.fetchHealth(instance.healthURL)
            if let health = last, health.unhealthy(required: Self.requiredHealth(for: instance, in: health), since: freshSince).isEmpty {
                return Date().timeIntervalSince(startedAt)
            }
            if Date() >= deadline { break }
            try? await Task.sleep(nanoseconds: 500_000_000)
        }

        // Timed out: name what is unhealthy, and show the log of the component responsible.
        let culprit: Component
        let what: String
        let web = components.first { $0.healthName == nil }!
        if let health = last {
            let bad = health.unhealthy(required: Self.requiredHealth(for: instance, in: health), since: freshSince)
            let name = bad.first { $0 != "metadatabase" } ?? bad.first ?? "?"
            culprit = components.first { $0.healthName == name } ?? web
            what = bad.map { name in
                let status = health[name]?.status ?? "not reported"
                return health[name]?.isHealthy == true ? "\(name) (heartbeat from an earlier run)" : "\(name) (\(status))"
            }.joined(separator: ", ")
        } else {
            culprit = web
            what = "\(web.name) (no answer from \(instance.healthURL))"
        }
        let log = instance.logFile(culprit.name)
        let tail = Self.tail(of: log)
        await stop()
        throw .environment("Airflow did not become healthy within \(Int(timeout)) s; unhealthy: \(what).\n--- last lines of \(log.path) ---\n\(tail)",
                           hint: "Read the component logs in \(instance.logsFolder.path).")
    }

    /// SIGTERM to every component's process group, up to `grace` seconds for everything to exit,
    /// then SIGKILL to whatever is left — including descendants that left the groups (found by the
    /// run marker, see `ProcessGroups.processes(withEnvironment:)`). Returns once all are gone and
    /// the leaders are reaped (their termination handlers ran), so no zombie of ours is left behind.
    public func stop(grace: Double = 15) async {
        let targets = processes
        guard !targets.isEmpty else { return }
        func stragglers() -> [Int32] { Self.stragglers(of: targets) }
        func anyAlive() -> Bool { targets.contains { $0.groupAlive } || !stragglers().isEmpty }

        for process in targets { process.signal(SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while anyAlive() && Date() < deadline {
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        if anyAlive() {
            for process in targets where process.groupAlive { process.signal(SIGKILL) }
            for pid in stragglers() {
                if getpgid(pid) == pid { kill(-pid, SIGKILL) }
                kill(pid, SIGKILL)
            }
            let killDeadline = Date().addingTimeInterval(5)
            while anyAlive() && Date() < killDeadline {
                try? await Task.sleep(nanoseconds: 50_000_000)
            }
        }
        // Foundation reaps a leader once every inherited copy of its status pipe is closed, i.e. just after the above.
        let reapDeadline = Date().addingTimeInterval(5)
        while targets.contains(where: { $0.exited == nil }) && Date() < reapDeadline {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        processes = []
        instance = nil
        startedAt = nil
    }

    /// Kills Airflow processes of `home` that outlived their supervisor (its server was killed):
    /// they hold the ports and the DB, so they must go before the deployment starts again. Found by
    /// the component log files they still write to, like `stragglers`.
    /// - Returns: how many processes were killed.
    @discardableResult
    public static func killOrphans(home: URL) -> Int {
        let logs = home.appendingPathComponent("logs")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? []
        let identities = Set(names.filter { $0.hasPrefix("airlock-") }
            .compactMap { ProcessGroups.FileIdentity(path: logs.appendingPathComponent($0).path) })
        var killed: Set<Int32> = []
        for _ in 0..<50 {
            let pids = ProcessGroups.processes(writingTo: identities)
            if pids.isEmpty { break }
            for pid in pids { kill(pid, SIGKILL) }
            killed.formUnion(pids)
            usleep(100_000)
        }
        return killed.count
    }

    /// Processes still writing to the components' log files (descendants that left the groups).
    static func stragglers(of processes: [SupervisedProcess]) -> [Int32] {
        ProcessGroups.processes(writingTo: Set(processes.compactMap(\.logIdentity)))
    }

    public static func fetchHealth(_ url: String, timeout: Double = 3) async -> AirflowHealth? {
        guard let url = URL(string: url) else { return nil }
        var request = URLRequest(url: url)
        request.timeoutInterval = timeout
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        guard let (data, response) = try? await session.data(for: request),
              (response as? HTTPURLResponse)?.statusCode == 200 else { return nil }
        return AirflowHealth(json: data)
    }

    /// The last `lines` lines of a log (at most the last 16 KB), for error messages.
    static func tail(of file: URL, lines: Int = 40) -> String {
        guard let handle = try? FileHandle(forReadingFrom: file) else { return "(no log)" }
        defer { try? handle.close() }
        let size = handle.seekToEndOfFile()
        handle.seek(toFileOffset: size > 16_384 ? size - 16_384 : 0)
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        let selected = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines)
        return selected.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
