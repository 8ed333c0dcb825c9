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
        var usesRuntimes = options.targets.contains { $0.runtimeVersion != nil }
        if case .astroRuntime? = project.baseImage, options.currentAirflowVersion == nil { usesRuntimes = true }
        let loaded = await CatalogLoader(paths: paths, feedLocation: options.runtimeFeed, offline: options.offline)
            .load(runtimes: usesRuntimes)
        for warning in loaded.warnings { progress(.warning(warning)) }
        let catalog = loaded.catalog

        let baseLocation = project.dockerfile.map { "Dockerfile:\($0.line)" } ?? "Dockerfile"
        let current = try UpgradeSideResolver.current(base: project.baseImage, baseLocation: baseLocation,
                                                      airflowOverride: options.currentAirflowVersion, python: options.python,
                                                      catalog: catalog)
        var selections: [TargetSelection] = []
        for request in options.targets.isEmpty ? [TargetRequest(python: options.python)] : options.targets {
            var request = request
            if request.python == nil { request.python = options.python }
            selections.append(try UpgradeSideResolver.target(request, current: current, catalog: catalog, today: options.today))
        }
        progress(.note("Current: \(describe(current)); target\(selections.count > 1 ? "s" : ""): \(selections.map { describe($0.side) }.joined(separator: ", "))"))

        let uv = try await UVTool.locate(paths: paths, progress: { [progress] in progress(.note($0)) })
        let sideResolver = SideResolver(
            resolver: UVResolver(uv: uv, paths: paths, offline: options.offline),
            constraintsSource: ConstraintsSource(base: options.constraintsSource, paths: paths, offline: options.offline),
            catalog: catalog, project: project, progress: progress)

        // Every side is independent: resolve them all at once (the current side only when the version test needs it).
        let sides = (options.runVersionTest ? [current] : []) + selections.map(\.side)
        let resolved = try await resolveAll(Array(Set(sides)), with: sideResolver)

        var outcomes: [UpgradeTestOutcome] = []
        for selection in selections {
            for warning in selection.warnings { progress(.warning(warning)) }
            guard let target = resolved[selection.side] else { continue }
            outcomes.append(try write(project: project, current: current, currentResolved: resolved[current],
                                      target: target, warnings: loaded.warnings + selection.warnings))
        }
        return outcomes
    }

    private func resolveAll(_ sides: [UpgradeSide], with resolver: SideResolver) async throws(AirlockError) -> [UpgradeSide: ResolvedSide] {
        do {
            return try await withThrowingTaskGroup(of: ResolvedSide.self) { group in
                for side in sides {
                    group.addTask { try await resolver.resolve(side) }
                }
                var results: [UpgradeSide: ResolvedSide] = [:]
                for try await result in group { results[result.side] = result }
                return results
            }
        } catch let error as AirlockError {
            throw error
        } catch {
            throw .environment("Resolution failed: \(error)")
        }
    }

    private func describe(_ side: UpgradeSide) -> String {
        if let runtime = side.runtime { return "Runtime \(runtime.version) (Airflow \(side.airflowVersion), Python \(side.python))" }
        return "Airflow \(side.airflowVersion) (Python \(side.python))"
    }

    private func write(project: AirflowProject, current: UpgradeSide, currentResolved: ResolvedSide?, target: ResolvedSide,
                       warnings: [String]) throws(AirlockError) -> UpgradeTestOutcome {
        let folder = (options.output ?? options.project)
            .appendingPathComponent("upgrade-test-\(current.label)--\(target.side.label)", isDirectory: true)
        var files: [String: String] = [:]

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

        let report = UpgradeTestReport(
            airlockVersion: AirlockVersion.current, project: options.project.path,
            current: currentResolved?.sideReport ?? UpgradeTestReport.SideReport(
                label: current.label, runtimeVersion: current.runtime?.version.description,
                airflowVersion: current.airflowVersion.description, python: current.python, constraints: nil,
                resolutionMode: "not-resolved", excludeNewer: nil, excludedRequirements: [], packageCount: 0),
            target: target.sideReport, warnings: warnings, versionTest: versionTest, conflictTest: conflictTest)
        files["report.json"] = try ReportWriter.json(report)
        try ReportWriter.write(files.mapValues { Data($0.utf8) }, into: folder)
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
