import AirlockCore
import Foundation

/// Facts an environment's Airflow reports about itself (`dag_parse_harness.py info`).
public struct AirflowEnvironmentInfo: Hashable, Sendable, Codable {
    public struct Migration: Hashable, Sendable, Codable {
        public var revision: String
        /// A revision id, or several for a merge migration.
        public var downRevision: JSONValue?
        public var description: String?
        public var airflowVersion: String?
    }

    public var airflowVersion: String?
    public var python: String?
    public var alembicHeads: [String]?
    public var migrations: [Migration]?
    public var ok: Bool?
    public var error: String?

    /// The migrations between `head` (included) and `base` (excluded) in this Airflow's chain, newest
    /// first. Ask the *newer* Airflow: only it knows both heads.
    public func migrations(from head: String, downTo base: String) -> [DatabaseMigration] {
        let chain = (migrations ?? []).map {
            MigrationLink(revision: $0.revision, downRevisions: $0.downRevision?.revisions ?? [],
                          migration: DatabaseMigration(revision: $0.revision, description: $0.description ?? "", airflowVersion: $0.airflowVersion))
        }
        return MigrationLink.path(from: head, downTo: base, in: chain)
    }
}

/// Runs the DAG-parse harness (`Python/Resources/dag_parse_harness.py`, compiled into the binary)
/// inside an environment: Airflow's own `DagBag`, one forked child per file, results over a file.
public struct DagParseHarness: Sendable {
    public var environment: PythonEnvironment

    public init(environment: PythonEnvironment) {
        self.environment = environment
    }

    /// The harness script inside the environment, written when missing or outdated.
    func scriptPath() throws(AirlockError) -> String {
        let url = environment.airlockFolder.appendingPathComponent("dag_parse_harness.py")
        let source = Data(EmbeddedPython.dagParseHarness.utf8)
        if FileManager.default.contents(atPath: url.path) != source {
            do {
                try CacheFile.writeAtomically(source, to: url)
            } catch {
                throw .environment("Cannot write the DAG-parse harness into `\(url.path)`: \(error.localizedDescription)")
            }
        }
        return url.path
    }

    /// Where the answer of `info` is kept for this environment and harness version.
    var infoCache: URL {
        environment.airlockFolder.appendingPathComponent("info-\(SHA256.hex(EmbeddedPython.dagParseHarness).prefix(16)).json")
    }

    /// Written by the harness once its canary DAG parsed in this environment (keyed by the harness
    /// version): later runs skip the canary. A failing canary is never cached.
    var canaryCache: URL {
        environment.airlockFolder.appendingPathComponent("canary-\(SHA256.hex(EmbeddedPython.dagParseHarness).prefix(16)).json")
    }

    /// The environment's migrated SQLite metadata DB, made by the first parse run in it.
    var databaseTemplate: URL { environment.airlockFolder.appendingPathComponent("airflow-template.db") }

    /// Parses the project's DAG files with a throw-away copy of the environment's migrated metadata DB
    /// (some DAGs touch the DB at parse time). The first run in an environment migrates the template
    /// and parses the canary DAG first. A run whose `harnessFailure` is set has no file results: the
    /// caller reports a tool failure (exit 3), never verdicts.
    public func parse(project: URL, environmentVariables: [String: String], timeoutSeconds: Int, parallelism: Int,
                      scratch: URL) async throws(AirlockError) -> DagParseRun {
        let home = scratch.appendingPathComponent("airflow-home")
        let databasePath = scratch.appendingPathComponent("airflow.db").path
        do {
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: environment.airlockFolder, withIntermediateDirectories: true)
            if FileManager.default.fileExists(atPath: databaseTemplate.path) {
                try FileManager.default.copyItem(atPath: databaseTemplate.path, toPath: databasePath)
            }
        } catch {
            throw .environment("Cannot prepare the DAG test folder `\(scratch.path)`: \(error.localizedDescription)")
        }
        var request: [String: JSONValue] = [
            "projectRoot": .string(project.path),
            "dagsFolder": .string(project.appendingPathComponent("dags").path),
            "airflowHome": .string(home.path),
            "environment": .object(environmentVariables.mapValues { .string($0) }),
            "timeoutSeconds": .number(Double(timeoutSeconds)),
            "parallelism": .number(Double(parallelism)),
            "files": .null,
        ]
        request["databasePath"] = .string(databasePath)
        request["databaseTemplate"] = .string(databaseTemplate.path)
        request["infoOut"] = .string(infoCache.path)  // the DB check's facts, written by the same Airflow start
        request["canaryCache"] = .string(canaryCache.path)
        let requestURL = scratch.appendingPathComponent("request.json")
        do {
            try JSONEncoder().encode(request).write(to: requestURL)
        } catch {
            throw .environment("Cannot write the DAG test request: \(error.localizedDescription)")
        }
        // The harness enforces per-file timeouts itself; this outer bound only catches a stuck harness.
        let data = try await runRaw(["parse", "--request", requestURL.path], timeout: max(3600, Double(timeoutSeconds) * 20))
        do {
            return try JSONDecoder().decode(DagParseRun.self, from: data)
        } catch {
            throw .environment("The DAG-parse harness returned an unreadable result: \(error)")
        }
    }

    /// Airflow version, alembic heads and the environment's whole migration chain.
    ///
    /// An environment never changes once built, so the answer is kept next to it (keyed by the
    /// harness version) and later runs do not start Airflow for it.
    public func info() async throws(AirlockError) -> AirflowEnvironmentInfo {
        let cached = infoCache
        if let data = FileManager.default.contents(atPath: cached.path),
           let info = try? JSONDecoder().decode(AirflowEnvironmentInfo.self, from: data) {
            return info
        }
        let data = try await runRaw(["info"], timeout: 300)
        let info: AirflowEnvironmentInfo
        do {
            info = try JSONDecoder().decode(AirflowEnvironmentInfo.self, from: data)
        } catch {
            throw .environment("The DAG-parse harness returned unreadable environment facts: \(error)")
        }
        if info.ok != false { try? CacheFile.writeAtomically(data, to: cached) }
        return info
    }

    /// The target environment's own relocation maps, and which of the bundled tables' new modules import
    /// there. Kept next to the environment (keyed by the harness version): later runs start no Python.
    public func relocations() async throws(AirlockError) -> EnvironmentRelocations {
        let modules = RelocationTable.bundledTargetModules
        let key = SHA256.hex(EmbeddedPython.dagParseHarness + "\n" + modules.joined(separator: "\n")).prefix(16)
        let cached = environment.airlockFolder.appendingPathComponent("relocations-\(key).json")
        if let data = FileManager.default.contents(atPath: cached.path),
           let relocations = try? JSONDecoder().decode(EnvironmentRelocations.self, from: data) {
            return relocations
        }
        let request = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-relocations-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: request) }
        do {
            try JSONEncoder().encode(["modules": modules]).write(to: request)
        } catch {
            throw .environment("Cannot write the relocation request: \(error.localizedDescription)")
        }
        let data = try await runRaw(["relocations", "--request", request.path], timeout: 300)
        let relocations: EnvironmentRelocations
        do {
            relocations = try JSONDecoder().decode(EnvironmentRelocations.self, from: data)
        } catch {
            throw .environment("The DAG-parse harness returned unreadable relocation maps: \(error)")
        }
        if relocations.ok != false {
            try? FileManager.default.createDirectory(at: environment.airlockFolder, withIntermediateDirectories: true)
            try? CacheFile.writeAtomically(data, to: cached)
        }
        return relocations
    }

    private func runRaw(_ arguments: [String], timeout: Double) async throws(AirlockError) -> Data {
        let script = try scriptPath()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-harness-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: out) }
        let output = try await ProcessRunner.run(
            environment.python, [script] + arguments + ["--out", out.path],
            environment: ["PATH": environment.bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? ""),
                          // Keep .pyc files in the environment's own folder: later runs import Airflow 2–3×
                          // faster, and nothing is written next to the project's sources.
                          "PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": environment.airlockFolder.appendingPathComponent("pycache").path,
                          "VIRTUAL_ENV": environment.root.path],
            timeout: timeout)
        guard let data = FileManager.default.contents(atPath: out.path), !data.isEmpty else {
            let detail = output.timedOut ? "it did not finish within its time limit of \(Int(timeout)) s and was stopped" : "it exited with status \(output.status)"
            throw .environment("The DAG-parse harness failed (\(detail)):\n\(String(output.stderr.suffix(2000)))")
        }
        return data
    }
}

/// A JSON value, for the few places where Airlock reads or writes loosely typed JSON.
public enum JSONValue: Hashable, Sendable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public var text: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}

extension JSONValue {
    /// A revision id, or the ids of a merge migration's parents.
    public var revisions: [String] {
        switch self {
        case .string(let value): [value]
        case .array(let values): values.compactMap(\.text)
        default: []
        }
    }
}
