import AirlockCore
import AirlockToolchain
import Foundation
import PythonPackaging

/// A side's package set and how it was obtained.
public struct ResolvedSide: Sendable {
    public var side: UpgradeSide
    public var constraints: ConstraintsFile?
    public var excludeNewer: String?
    /// The full resolution of Airflow + every project requirement.
    public var fullResult: ResolutionResult
    /// What is reported as installed: the full resolution, or the fallback without conflicting requirements.
    public var pins: PinnedSet
    /// Requirement lines left out of `pins` because they conflict.
    public var excluded: [String]
    public var cached: Bool

    /// The target's pins for the direct conflict check: the constraints plus Airflow itself.
    public var referencePins: PinnedSet {
        guard let constraints else { return pins }
        var reference = constraints.pins
        reference.insert(PinnedPackage(name: PackageName("apache-airflow"), version: side.airflowVersion.description))
        return reference
    }

    public var sideReport: UpgradeTestReport.SideReport {
        UpgradeTestReport.SideReport(
            label: side.label, runtimeVersion: side.runtime?.version.description, airflowVersion: side.airflowVersion.description,
            python: side.python, constraints: constraints?.location,
            resolutionMode: constraints == nil ? "exclude-newer" : "constraints", excludeNewer: excludeNewer,
            excludedRequirements: excluded, packageCount: pins.count)
    }
}

/// Resolves one side of an upgrade test with uv, under that side's constraints.
struct SideResolver: Sendable {
    var resolver: UVResolver
    var constraintsSource: ConstraintsSource
    var catalog: RuntimeCatalog
    var project: AirflowProject
    var progress: ProgressHandler
    /// Requirements added to every resolution beside the project's own (deploys add what running
    /// and downgrading need, e.g. the FAB provider on 3.x).
    var extraRequirementLines: [String] = []

    func resolve(_ side: UpgradeSide) async throws(AirlockError) -> ResolvedSide {
        let started = Date()
        let name = "Resolving Airflow \(side.airflowVersion) (Python \(side.python))"
        progress(.started(name))
        let (constraints, warning) = try await constraintsSource.constraints(airflow: side.airflowVersion, python: side.python)
        if let warning { progress(.warning(warning)) }
        var excludeNewer: String?
        if constraints == nil {
            excludeNewer = try exclusionDate(for: side)
            progress(.warning("No constraints file for Airflow \(side.airflowVersion) / Python \(side.python) in \(constraintsSource); resolving with --exclude-newer \(excludeNewer!) (the release date + 1 day)"))
        }
        let lines = requirementLines(excluding: [])
        let userConstraints = project.constraintEntries.map(\.text)
        func input(_ lines: [String]) -> ResolutionInput {
            ResolutionInput(airflowVersion: side.airflowVersion, python: side.python, requirementLines: lines,
                            userConstraintLines: userConstraints, constraintsText: constraints?.text, excludeNewer: excludeNewer)
        }
        let (full, cached) = try await resolver.resolve(input(lines))
        var resolved = ResolvedSide(side: side, constraints: constraints, excludeNewer: excludeNewer, fullResult: full,
                                    pins: PinnedSet(), excluded: [], cached: cached)
        switch full {
        case .resolved(let pins):
            resolved.pins = pins
        case .unsatisfiable:
            // Keep a package comparison possible: drop the requirements that conflict with the pins, then all of them.
            let conflicting = DirectConflictCheck.check(project.requirementEntries, against: resolved.referencePins,
                                                        environment: .linux(python: side.python))
            let dropped = Set(conflicting.map(\.requirement))
            var fallback: ResolutionResult = .unsatisfiable(explanation: "")
            if !dropped.isEmpty {
                fallback = try await resolver.resolve(input(requirementLines(excluding: dropped))).result
                resolved.excluded = dropped.sorted()
            }
            if case .unsatisfiable = fallback {
                fallback = try await resolver.resolve(input(requirementLines(excluding: nil))).result
                resolved.excluded = project.requirementEntries.map(\.text)
            }
            guard case .resolved(let pins) = fallback else {
                throw .environment("Airflow \(side.airflowVersion) itself cannot be resolved for Python \(side.python)",
                                   hint: "try another --python")
            }
            resolved.pins = pins
            progress(.warning("Airflow \(side.airflowVersion) and the project's requirements cannot be installed together; the package list for \(side.label) leaves out: \(resolved.excluded.joined(separator: ", "))"))
        }
        progress(.finished("\(name): \(resolved.pins.count) packages\(cached ? ", cached" : "")", seconds: Date().timeIntervalSince(started)))
        return resolved
    }

    /// Release date + 1 day, from the catalog's Airflow release list.
    private func exclusionDate(for side: UpgradeSide) throws(AirlockError) -> String {
        guard let date = catalog.airflowRelease(side.airflowVersion)?.releaseDate ?? side.runtime?.releaseDate,
              let parsed = CalendarDay.date(from: date) else {
            throw .environment("There is no constraints file and no release date for Airflow \(side.airflowVersion), so it cannot be resolved reproducibly",
                               hint: "pass --constraints-source with a folder that has constraints-\(side.airflowVersion)/constraints-\(side.python).txt")
        }
        return CalendarDay.string(from: parsed.addingTimeInterval(86_400))
    }

    /// The project's requirement lines as uv reads them. `excluding` nil drops every requirement.
    private func requirementLines(excluding dropped: Set<String>?) -> [String] {
        guard let requirements = project.requirements else { return extraRequirementLines }
        var lines = requirements.options.compactMap(SideResolver.optionLine) + extraRequirementLines
        guard let dropped else { return lines }
        for entry in project.requirementEntries where !dropped.contains(entry.text) {
            lines.append(lineForResolver(entry))
        }
        return lines
    }

    /// The line as uv should read it from Airlock's scratch folder: relative paths of editables and
    /// direct references point from the requirements file's folder, so they are made absolute.
    private func lineForResolver(_ entry: RequirementsEntry) -> String {
        guard let reference = entry.directReference, !reference.contains(":"), !reference.hasPrefix("/") else {
            return entry.text
        }
        let folder = project.root.appendingPathComponent(entry.file).deletingLastPathComponent()
        let absolute = folder.appendingPathComponent(reference).standardizedFileURL.path
        return entry.text.replacingOccurrences(of: reference, with: absolute)
    }

    /// Index options uv understands in a requirements file; others are pip-only and left out.
    static func optionLine(_ option: RequirementsOption) -> String? {
        let supported = ["--index-url", "-i", "--extra-index-url", "--find-links", "-f", "--no-index", "--no-binary", "--only-binary"]
        guard supported.contains(option.name) else { return nil }
        if let value = option.value { return "\(option.name) \(value)" }
        return option.name
    }
}
