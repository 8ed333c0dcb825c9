import AirlockCore
import AirlockToolchain
import Foundation
import PythonPackaging

/// The DAG test, lint and DB check: they need real environments (built or reused) and real Airflow.
struct EnvironmentStage: Sendable {
    var builder: EnvironmentBuilder
    var project: AirflowProject
    var options: UpgradeTestOptions
    var progress: ProgressHandler

    /// Builds (or reuses) one environment per side, all at once.
    func environments(for sides: [ResolvedSide]) async throws(AirlockError) -> [UpgradeSide: PythonEnvironment] {
        let indexOptions = project.requirements?.options.compactMap(SideResolver.optionLine) ?? []
        return try await concurrently(sides) { side in
            let started = Date()
            let name = "Environment for Airflow \(side.side.airflowVersion)"
            progress(.started(name))
            let (environment, reused) = try await builder.environment(pins: side.pins, python: side.side.python, indexOptions: indexOptions,
                                                                      progress: { progress(.note($0)) })
            builder.touch(environment)
            progress(.finished("\(name): \(reused ? "reused" : "built") \(environment.lockHash.prefix(12))", seconds: Date().timeIntervalSince(started)))
            return (side.side, environment)
        }
    }

    /// Parses the project's DAGs in each environment with Airflow's own DagBag.
    func parse(_ environments: [UpgradeSide: PythonEnvironment]) async throws(AirlockError) -> [UpgradeSide: DagParseRun] {
        let dotEnv = FileManager.default.contents(atPath: project.root.appendingPathComponent(".env").path)
            .map { DotEnv.parse(String(decoding: $0, as: UTF8.self)) } ?? [:]
        var isDirectory: ObjCBool = false
        let dags = project.root.appendingPathComponent("dags")
        guard FileManager.default.fileExists(atPath: dags.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            progress(.note("The project has no dags/ folder: no DAG files to test"))
            return Dictionary(uniqueKeysWithValues: environments.keys.map { ($0, DagParseRun(ok: true, files: [])) })
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let parallelism = max(1, cores / max(1, environments.count)) + 1
        return try await concurrently(Array(environments)) { side, environment in
            let started = Date()
            let name = "Parsing DAGs on Airflow \(side.airflowVersion)"
            progress(.started(name))
            let harness = DagParseHarness(environment: environment)
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-dagtest-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: scratch) }
            let run = try await harness.parse(project: project.root, environmentVariables: dotEnv, timeoutSeconds: options.parseTimeout,
                                              parallelism: parallelism, scratch: scratch)
            guard run.ok else {
                throw AirlockError.environment("The DAG test could not run on Airflow \(side.airflowVersion): \(run.error ?? "unknown error")")
            }
            let files = run.files ?? []
            progress(.finished("\(name): \(files.count) files, \(files.filter(\.failed).count) failing", seconds: Date().timeIntervalSince(started)))
            return (side, run)
        }
    }

    /// Verdicts for one target against today's parse.
    func verdicts(target: ResolvedSide, targetRun: DagParseRun, currentRun: DagParseRun?) -> [DagFileVerdict] {
        let exempt = FileManager.default.contents(atPath: project.root.appendingPathComponent(".astro/dag_integrity_exceptions.txt").path)
            .map { DagIntegrityExceptions.parse(String(decoding: $0, as: UTF8.self)) } ?? []
        let classifier = FailureClassifier(targetPins: target.pins, targetAirflow: target.side.airflowVersion)
        return DagTestComparer.verdicts(target: targetRun.files ?? [], current: currentRun?.files, exempt: exempt) { file in
            classifier.classify(file, sourceLine: sourceLine(file))
        }
    }

    private func sourceLine(_ file: DagFileParse) -> String? {
        guard let line = file.error?.line, line > 0,
              let data = FileManager.default.contents(atPath: project.root.appendingPathComponent(file.path).path) else { return nil }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        return line <= lines.count ? String(lines[line - 1]) : nil
    }

    /// Schema heads of both environments and the migrations between them, from one (cached)
    /// `info` call per environment: the chain between the heads is walked here.
    func databaseCheck(current: PythonEnvironment, target: PythonEnvironment, currentVersion: Version,
                       targetVersion: Version) async throws(AirlockError) -> DatabaseCheck {
        let currentInfo = try await DagParseHarness(environment: current).info()
        let targetInfo = try await DagParseHarness(environment: target).info()
        let currentHead = currentInfo.alembicHeads?.first, targetHead = targetInfo.alembicHeads?.first
        guard let currentHead, let targetHead, currentHead != targetHead else {
            return DatabaseCheck(currentHead: currentHead, targetHead: targetHead, direction: .none, migrations: [], warning: nil)
        }
        // The newer Airflow knows both heads: walk its chain from its head down to the older one.
        let upgrade = targetVersion >= currentVersion
        let newer = upgrade ? targetInfo : currentInfo
        let chain = (newer.migrations ?? []).map {
            MigrationLink(revision: $0.revision, downRevisions: $0.downRevision?.revisions ?? [],
                          migration: DatabaseMigration(revision: $0.revision, description: $0.description ?? "", airflowVersion: $0.airflowVersion))
        }
        let migrations = MigrationLink.path(from: upgrade ? targetHead : currentHead, downTo: upgrade ? currentHead : targetHead, in: chain)
        return DatabaseCheck(currentHead: currentHead, targetHead: targetHead, direction: upgrade ? .upgrade : .downgrade,
                             migrations: migrations, warning: upgrade ? nil : DatabaseCheck.downgradeWarning)
    }
}

/// Runs `body` for every element at once and collects the pairs into a dictionary.
func concurrently<Element: Sendable, Key: Hashable & Sendable, Value: Sendable>(
    _ elements: [Element], _ body: @escaping @Sendable (Element) async throws -> (Key, Value)
) async throws(AirlockError) -> [Key: Value] {
    do {
        return try await withThrowingTaskGroup(of: (Key, Value).self) { group in
            for element in elements { group.addTask { try await body(element) } }
            var results: [Key: Value] = [:]
            for try await (key, value) in group { results[key] = value }
            return results
        }
    } catch let error as AirlockError {
        throw error
    } catch {
        throw .environment("\(error)")
    }
}
