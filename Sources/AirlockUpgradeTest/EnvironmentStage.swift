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

    /// Builds (or reuses) the environment of one side. A package whose sdist does not build is taken as
    /// a wheel by resolving the side again (said as a warning); a project requirement that does not build
    /// is reported against its line.
    /// - Returns: the side as finally installed (its pins may have changed) and its environment.
    func environment(for side: ResolvedSide, resolver: SideResolver) async throws(AirlockError) -> (ResolvedSide, PythonEnvironment) {
        let indexOptions = project.requirements?.options.compactMap(SideResolver.optionLine) ?? []
        let started = Date()
        let name = "Environment for Airflow \(side.side.airflowVersion)"
        progress(.started(name))
        var side = side
        while true {
            switch try await builder.build(pins: side.pins, python: side.side.python, indexOptions: indexOptions,
                                           progress: { progress(.note($0)) }) {
            case .ready(let environment, let reused):
                builder.touch(environment)
                progress(.finished("\(name): \(reused ? "reused" : "built") \(environment.lockHash.prefix(12))", seconds: Date().timeIntervalSince(started)))
                return (side, environment)
            case .buildFailed(let package, let version, let explanation):
                let entry = project.requirementEntries.first { $0.requirement?.name.normalized == package }
                if let again = try await resolver.resolveAgain(side, onlyBinary: package) {
                    let note = "\(package)==\(version) did not build from its sdist; resolved \(side.side.label) again preferring binary wheels (--only-binary \(package))"
                    progress(.warning(note))
                    side = again
                    side.notes.append(note)
                    continue
                }
                if let entry {
                    throw .usage("\(entry.file):\(entry.line): `\(entry.text)` — \(package)==\(version) does not build for Python \(side.side.python) and has no usable wheel:\n\(explanation)",
                                 hint: "pin a version of \(package) that publishes a wheel for Python \(side.side.python)")
                }
                throw .environment("Installing the environment for \(side.side.label) failed: \(package)==\(version) does not build from source and has no usable wheel:\n\(explanation)")
            }
        }
    }

    /// Parses the project's DAGs in one side's environment with Airflow's own DagBag.
    func parse(side: UpgradeSide, in environment: PythonEnvironment) async throws(AirlockError) -> DagParseRun {
        var isDirectory: ObjCBool = false
        let dags = project.root.appendingPathComponent("dags")
        guard FileManager.default.fileExists(atPath: dags.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            progress(.note("The project has no dags/ folder: no DAG files to test"))
            return DagParseRun(ok: true, files: [])
        }
        // Sides parse at the same time; each gets its share of the cores plus one (children wait on I/O too).
        let sides = 1 + max(1, options.targets.count)
        let parallelism = max(1, ProcessInfo.processInfo.activeProcessorCount / sides) + 1
        let started = Date()
        let name = "Parsing DAGs on Airflow \(side.airflowVersion)"
        progress(.started(name))
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-dagtest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let run = try await DagParseHarness(environment: environment).parse(
            project: project.root, environmentVariables: project.environmentVariables, timeoutSeconds: options.parseTimeout,
            parallelism: parallelism, scratch: scratch)
        guard run.ok else {
            if run.harnessFailure == true {
                throw .environment("Airlock's DAG-parse harness cannot drive Airflow \(run.airflowVersion ?? side.airflowVersion.description) (Python \(side.python)): \(run.error ?? "unknown error"). No DAG file was given a verdict.")
            }
            throw .environment("The DAG test could not run on Airflow \(side.airflowVersion): \(run.error ?? "unknown error")")
        }
        let files = run.files ?? []
        progress(.finished("\(name): \(files.count) files, \(files.filter(\.failed).count) failing", seconds: Date().timeIntervalSince(started)))
        return run
    }

    /// Verdicts for one target against today's parse.
    func verdicts(target: ResolvedSide, targetRun: DagParseRun, currentRun: DagParseRun?,
                  relocations: RelocationTable = .bundled) -> [DagFileVerdict] {
        let classifier = FailureClassifier(relocations: relocations, targetPins: target.pins, targetAirflow: target.side.airflowVersion)
        return DagTestComparer.verdicts(target: targetRun.files ?? [], current: currentRun?.files, exempt: project.integrityExceptions) { file in
            classifier.classify(file, sourceLine: sourceLine(file))
        }
    }

    /// The relocations to classify a target's failures with: the target environment's own deprecation maps
    /// merged with the bundled tables, fixes only to modules that import there. Read only when a file fails
    /// (cached per environment); without them (an error reading them) the bundled tables, with a warning.
    func relocations(for side: ResolvedSide, in environment: PythonEnvironment, run: DagParseRun) async -> RelocationTable {
        guard (run.files ?? []).contains(where: \.failed) else { return .bundled }
        do {
            let found = try await DagParseHarness(environment: environment).relocations()
            guard found.ok != false else { throw AirlockError.environment(found.error ?? "unknown error") }
            return .merged(with: found, hasProvider: { side.pins[PackageName($0)] != nil })
        } catch {
            progress(.warning("Airflow \(side.side.airflowVersion)'s own relocation maps could not be read (\(error)); fixes come from Airlock's bundled tables"))
            return .bundled
        }
    }

    private func sourceLine(_ file: DagFileParse) -> String? {
        guard let line = file.error?.line, line > 0,
              let text = try? UserTextFile.read(project.root.appendingPathComponent(file.path), displayName: file.path) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
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
        let migrations = newer.migrations(from: upgrade ? targetHead : currentHead, downTo: upgrade ? currentHead : targetHead)
        var warning = upgrade ? nil : DatabaseCheck.downgradeWarning
        if migrations.isEmpty {   // e.g. 2.6 → 3.x: Airflow 3's migrations start from the 2.7 schema
            let older = upgrade ? currentVersion : targetVersion
            warning = "Airflow \(upgrade ? targetVersion : currentVersion)'s migrations do not reach the schema of Airflow \(older) (head \(upgrade ? currentHead : targetHead)): `airflow db migrate` cannot move this database directly; go through an intermediate release first"
        }
        return DatabaseCheck(currentHead: currentHead, targetHead: targetHead, direction: upgrade ? .upgrade : .downgrade,
                             migrations: migrations, warning: warning)
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
