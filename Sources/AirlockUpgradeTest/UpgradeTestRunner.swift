import AirlockCore
import AirlockToolchain
import Foundation
import PythonPackaging

/// The outcome of one current→target pair: its report and the folder it was written to.
public struct UpgradeTestOutcome: Sendable {
    public var report: UpgradeTestReport
    public var folder: URL
    public var diff: DependencyDiff?
}

/// Runs `airlock upgrade-test`: reads the project, picks the sides, resolves them with uv, compares,
/// checks conflicts and writes one report folder per target. Writes nothing else into the project.
public struct UpgradeTestRunner: Sendable {
    public var options: UpgradeTestOptions
    public var paths: AirlockPaths
    public var progress: ProgressHandler

    public init(options: UpgradeTestOptions, paths: AirlockPaths = .fromEnvironment(), progress: @escaping ProgressHandler) {
        self.options = options
        self.paths = paths
        self.progress = progress
    }

    public func run() async throws(AirlockError) -> [UpgradeTestOutcome] {
        let project = try ProjectReader.read(options.project)
        for warning in Self.projectWarnings(project) { progress(.warning(warning)) }
        var usesRuntimes = options.targets.contains { $0.runtimeVersion != nil }
        if case .astroRuntime? = project.baseImage, options.currentAirflowVersion == nil { usesRuntimes = true }
        let loaded = await CatalogLoader(paths: paths, feedLocation: options.runtimeFeed, offline: options.offline)
            .load(runtimes: usesRuntimes)
        for warning in loaded.warnings { progress(.warning(warning)) }
        let catalog = loaded.catalog

        let baseLocation = project.dockerfile.map { "Dockerfile:\($0.line)" } ?? "Dockerfile"
        let currentSelection = try UpgradeSideResolver.currentSelection(base: project.baseImage, baseLocation: baseLocation,
                                                                        airflowOverride: options.currentAirflowVersion, python: options.python,
                                                                        catalog: catalog)
        let current = currentSelection.side
        for warning in currentSelection.warnings { progress(.warning(warning)) }
        var selections: [TargetSelection] = []
        for request in options.targets.isEmpty ? [TargetRequest(python: options.python)] : options.targets {
            var request = request
            if request.python == nil { request.python = options.python }
            selections.append(try UpgradeSideResolver.target(request, current: current, catalog: catalog, today: options.today))
        }
        try AirflowSupportRange.check(current, role: "current", release: catalog.airflowRelease(current.airflowVersion))
        for selection in selections {
            try AirflowSupportRange.check(selection.side, role: "target", release: catalog.airflowRelease(selection.side.airflowVersion))
        }
        progress(.note("Current: \(describe(current)); target\(selections.count > 1 ? "s" : ""): \(selections.map { describe($0.side) }.joined(separator: ", "))"))

        let uv = try await UVTool.locate(paths: paths, progress: { [progress] in progress(.note($0)) })
        let sideResolver = SideResolver(
            resolver: UVResolver(uv: uv, paths: paths, offline: options.offline),
            constraintsSource: ConstraintsSource(base: options.constraintsSource, paths: paths, offline: options.offline),
            catalog: catalog, project: project, progress: progress,
            freezeSource: RuntimeFreezeSource(base: options.runtimeFreezeSource, paths: paths, offline: options.offline))

        // Every side is independent and runs its own pipeline at once with the others: resolve, then
        // (for the DAG test and DB check) build or reuse its environment, then parse its DAGs. The
        // current side is needed only when a test compares with it. Lint runs alongside.
        let needsCurrent = options.runVersionTest || options.runDagTest || options.runDatabaseCheck
        let sides = Array(Set((needsCurrent ? [current] : []) + selections.map(\.side)))
        let needsEnvironment = options.runDagTest || options.runDatabaseCheck
        let stage = EnvironmentStage(builder: EnvironmentBuilder(uv: uv, paths: paths), project: project, options: options, progress: progress)
        let lintTargets = selections.filter { lintApplies(to: $0.side) }
        async let lint = lintTargets.isEmpty ? nil : runLintCatching(uv: uv, project: project)
        let targetSides = Set(selections.map(\.side))
        let pipelines = try await concurrently(sides) { side in
            let resolved = try await sideResolver.resolve(side)
            guard needsEnvironment else { return (side, SidePipeline(resolved: resolved)) }
            let (installed, environment) = try await stage.environment(for: resolved, resolver: sideResolver)
            let parse = options.runDagTest ? try await stage.parse(side: side, in: environment) : nil
            var pipeline = SidePipeline(resolved: installed, environment: environment, parse: parse)
            if let parse, targetSides.contains(side) {
                pipeline.relocations = await stage.relocations(for: installed, in: environment, run: parse)
            }
            return (side, pipeline)
        }
        var stages = StageResults(stage: stage)
        for (side, pipeline) in pipelines {
            stages.environments[side] = pipeline.environment
            stages.parses[side] = pipeline.parse
            stages.relocations[side] = pipeline.relocations
        }
        if options.runDatabaseCheck {
            stages.databaseChecks = try await databaseChecks(stage: stage, current: current, targets: selections.map(\.side),
                                                             environments: stages.environments)
        }
        stages.lint = try await lint?.get()
        let resolved = pipelines.mapValues(\.resolved)

        var outcomes: [UpgradeTestOutcome] = []
        for selection in selections {
            for warning in selection.warnings { progress(.warning(warning)) }
            guard let target = resolved[selection.side] else { continue }
            outcomes.append(try write(project: project, current: current, currentResolved: resolved[current],
                                      target: target, stages: stages, warnings: loaded.warnings + currentSelection.warnings + selection.warnings))
        }
        if outcomes.count > 1 {
            try UpgradeSummary.write(outcomes, into: options.output ?? options.project)
        }
        return outcomes
    }

    /// What the terminal and report.json name about the project itself: requirements files included from
    /// outside it (allowed here, but the result depends on them and a deploy refuses them), and files that
    /// are not regular (FIFOs, sockets, devices), which ruff and the DAG test skip.
    static func projectWarnings(_ project: AirflowProject) -> [String] {
        let root = project.root.standardizedFileURL.path + "/"
        return project.outsideIncludes.map {
            "requirements include `\(DisplayText.escaped($0))`, which is outside the project: the result depends on it, and a deploy refuses it"
        } + RuffLinter.nonRegularFiles(under: project.root).map {
            "`\(DisplayText.escaped($0.hasPrefix(root) ? String($0.dropFirst(root.count)) : $0))` is not a regular file (a FIFO, socket, device or broken link): lint and the DAG test skip it"
        }
    }

    /// One side's pipeline: its packages, and (when needed) its environment and DAG parse.
    struct SidePipeline: Sendable {
        var resolved: ResolvedSide
        var environment: PythonEnvironment?
        var parse: DagParseRun?
        /// A target's relocation table (its environment's maps merged with the bundled ones).
        var relocations: RelocationTable?
    }

    /// What the environment-backed tests produced, shared by every target's report.
    struct StageResults {
        var stage: EnvironmentStage
        var environments: [UpgradeSide: PythonEnvironment] = [:]
        var parses: [UpgradeSide: DagParseRun] = [:]
        var relocations: [UpgradeSide: RelocationTable] = [:]
        var databaseChecks: [UpgradeSide: DatabaseCheck] = [:]
        var lint: RuffLinter.Result?
    }

    /// The lint's outcome as a value, so it can run as an `async let` beside the typed-throwing pipelines.
    private func runLintCatching(uv: UVTool, project: AirflowProject) async -> Result<RuffLinter.Result, AirlockError> {
        do {
            return .success(try await runLint(uv: uv, project: project))
        } catch {
            return .failure(error)
        }
    }

    private func databaseChecks(stage: EnvironmentStage, current: UpgradeSide, targets: [UpgradeSide],
                                environments: [UpgradeSide: PythonEnvironment]) async throws(AirlockError) -> [UpgradeSide: DatabaseCheck] {
        guard let currentEnvironment = environments[current] else { return [:] }
        var checks: [UpgradeSide: DatabaseCheck] = [:]
        for target in targets {
            guard let targetEnvironment = environments[target] else { continue }
            checks[target] = try await stage.databaseCheck(current: currentEnvironment, target: targetEnvironment,
                                                           currentVersion: current.airflowVersion, targetVersion: target.airflowVersion)
        }
        return checks
    }

    /// Astro lints only Airflow 3 targets; `-l` asks for it on any target.
    private func lintApplies(to side: UpgradeSide) -> Bool {
        guard let requested = options.runLintTest else { return false }
        return requested || side.airflowVersion.major >= 3
    }

    private func runLint(uv: UVTool, project: AirflowProject) async throws(AirlockError) -> RuffLinter.Result {
        let started = Date()
        progress(.started("Linting with ruff \(RuffTool.pinnedVersion)"))
        let ruff = try await RuffTool.locate(uv: uv, paths: paths)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-lint-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let fixMode: RuffLinter.FixMode
        if options.fix {
            fixMode = options.fixInPlace ? .inPlace : .copy(scratch.appendingPathComponent("fixed-project"))
        } else {
            fixMode = .none
        }
        var result = try await RuffLinter(ruff: ruff).lint(project: project.root, deprecations: options.lintDeprecations,
                                                           configFile: options.lintConfigFile, fix: fixMode, scratch: scratch)
        if case .copy(let copy) = fixMode {
            result.fixedCopy = try? Self.readTree(copy)
        }
        progress(.finished("Linting: \(result.findings.count) findings", seconds: Date().timeIntervalSince(started)))
        return result
    }

    /// Files of a folder (relative path → bytes), to move a scratch copy into the report folder.
    static func readTree(_ root: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let base = root.standardizedFileURL.path
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [:] }
        for case let url as URL in enumerator where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            files[String(url.standardizedFileURL.path.dropFirst(base.count + 1))] = FileManager.default.contents(atPath: url.path)
        }
        return files
    }

    private func describe(_ side: UpgradeSide) -> String {
        if let runtime = side.runtime { return "Runtime \(runtime.version) (Airflow \(side.airflowVersion), Python \(side.python))" }
        return "Airflow \(side.airflowVersion) (Python \(side.python))"
    }

    private func write(project: AirflowProject, current: UpgradeSide, currentResolved: ResolvedSide?, target: ResolvedSide,
                       stages: StageResults, warnings: [String]) throws(AirlockError) -> UpgradeTestOutcome {
        let folder = (options.output ?? options.project)
            .appendingPathComponent("upgrade-test-\(current.label)--\(target.side.label)", isDirectory: true)
        var files: [String: String] = [:]
        var binaryFiles: [String: Data] = [:]

        var versionTest: UpgradeTestReport.VersionTest?
        var diff: DependencyDiff?
        if options.runVersionTest, let currentResolved {
            let started = Date()
            progress(.started("Comparing packages"))
            let comparison = DependencyDiff(from: currentResolved.pins, to: target.pins)
            files["pip_freeze_\(current.label).txt"] = currentResolved.pins.freezeText
            files["pip_freeze_\(target.side.label).txt"] = target.pins.freezeText
            files["dependency_compare.txt"] = comparison.compareText
            versionTest = UpgradeTestReport.VersionTest(diff: comparison)
            diff = comparison
            progress(.finished("Comparing packages: \(comparison.changes.count) changes", seconds: Date().timeIntervalSince(started)))
        }

        var conflictTest: UpgradeTestReport.ConflictTest?
        if options.runConflictTest {
            let conflicts = DirectConflictCheck.check(project.requirements?.entries ?? [], against: target.referencePins,
                                                      environment: .linux(python: target.side.python))
            let resolverCheck: UpgradeTestReport.ResolverCheck
            switch target.fullResult {
            case .resolved:
                resolverCheck = .init(status: "ok", summary: nil, explanation: nil)
            case .unsatisfiable(let explanation):
                resolverCheck = .init(status: "conflict", summary: UVResolver.summary(of: explanation), explanation: explanation)
            }
            let test = UpgradeTestReport.ConflictTest(conflicts: conflicts, resolver: resolverCheck)
            files["conflicts.txt"] = UpgradeTestReport.conflictsText(test, target: target.side.label)
            conflictTest = test
        }

        var dagTest: UpgradeTestReport.DagTest?
        if options.runDagTest, let targetRun = stages.parses[target.side] {
            let currentRun = stages.parses[current]
            let verdicts = stages.stage.verdicts(target: target, targetRun: targetRun, currentRun: currentRun,
                                                 relocations: stages.relocations[target.side] ?? .bundled)
            dagTest = UpgradeTestReport.DagTest(files: verdicts, strict: options.strict, baseline: currentRun != nil)
        }
        var lintTest: UpgradeTestReport.LintTest?
        if let requested = options.runLintTest {
            if let lint = stages.lint, lintApplies(to: target.side) {
                lintTest = UpgradeTestReport.LintTest(rules: options.lintConfigFile == nil ? RuffLinter.rules(deprecations: options.lintDeprecations) : ["(--lint-config-file)"],
                                                      findings: lint.findings, target: target.side.airflowVersion)
                files["ruff-lint-results.txt"] = lint.text
                if let patch = lint.patch { files["fixes.patch"] = patch }
                for (path, data) in lint.fixedCopy ?? [:] { binaryFiles["fixed-project/\(path)"] = data }
            } else if !requested {
                lintTest = UpgradeTestReport.LintTest(skipped: "Airflow \(target.side.airflowVersion) is not an Airflow 3 target (as in the Astro CLI); use -l to lint anyway")
            }
        }
        let dbCheck = stages.databaseChecks[target.side]
        if dagTest != nil || lintTest != nil || dbCheck != nil {
            let input = DagTestReportInput(currentLabel: current.label, targetLabel: target.side.label,
                                           generatedAt: ISO8601DateFormatter().string(from: Date()),
                                           verdicts: dagTest?.files ?? [], lintFindings: lintTest?.findings ?? [], database: dbCheck)
            files["dag-test-report.html"] = DagTestReportRenderer.html(input)
            if dagTest != nil { files["junit.xml"] = DagTestReportRenderer.junit(input, strict: options.strict) }
        }

        let report = UpgradeTestReport(
            airlockVersion: AirlockVersion.current, project: options.project.path,
            current: currentResolved?.sideReport ?? UpgradeTestReport.SideReport(
                label: current.label, runtimeVersion: current.runtime?.version.description,
                airflowVersion: current.airflowVersion.description, python: current.python, constraints: nil,
                resolutionMode: "not-resolved", excludeNewer: nil, excludedRequirements: [], packageCount: 0),
            target: target.sideReport, warnings: warnings + Self.projectWarnings(project), versionTest: versionTest, conflictTest: conflictTest,
            dagTest: dagTest, lintTest: lintTest, dbCheck: dbCheck)
        files["report.json"] = try ReportWriter.json(report)
        try ReportWriter.write(files.mapValues { Data($0.utf8) }.merging(binaryFiles) { text, _ in text }, into: folder)
        return UpgradeTestOutcome(report: report, folder: folder, diff: diff)
    }
}

/// Writes report folders: creates the folder, replaces files of an earlier run of the same pair.
public enum ReportWriter {
    public static func json<T: Encodable>(_ value: T) throws(AirlockError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
        } catch {
            throw .environment("Cannot encode the report: \(error)")
        }
    }

    public static func write(_ files: [String: Data], into folder: URL) throws(AirlockError) {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (name, data) in files {
                try CacheFile.writeAtomically(data, to: folder.appendingPathComponent(name))
            }
        } catch {
            throw .environment("Cannot write the report folder `\(folder.path)`: \(error.localizedDescription)")
        }
    }
}
