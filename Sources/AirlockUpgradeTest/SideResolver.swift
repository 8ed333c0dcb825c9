import AirlockCore
import AirlockToolchain
import Foundation
import PythonPackaging

/// A side's package set and how it was obtained.
public struct ResolvedSide: Sendable {
    public var side: UpgradeSide
    public var constraints: ConstraintsFile?
    public var excludeNewer: String?
    /// The strict resolution: Airflow, the image's packages and every project requirement under the
    /// constraints and the image's pins (the conflict test's resolver check).
    public var fullResult: ResolutionResult
    /// What the side installs: the strict resolution, or the image as it really takes the project
    /// (project pins win over constraints and image pins), or the closest installable set.
    public var pins: PinnedSet
    /// Requirement lines left out of `pins` because they cannot be installed with this side's Airflow.
    public var excluded: [String]
    public var cached: Bool
    /// What the image ships beyond Airflow (nil on plain Apache Airflow images: only pip and setuptools).
    public var image: ImagePackages?
    public var pinsGivenWay: [PinGivenWay] = []
    public var changedRequirements: [RequirementChange] = []
    /// Assumptions and retries, for the report.
    public var notes: [String] = []
    /// `constraints`, `exclude-newer`, or how the constraints gave way.
    public var mode: String = "constraints"
    /// The input `pins` came from, to resolve again (e.g. taking a package that does not build as a wheel).
    var input: ResolutionInput?

    /// The target's pins for the direct conflict check: the constraints, the image's pins and Airflow itself.
    public var referencePins: PinnedSet {
        var reference = SideComposition.reference(constraints: constraints?.pins, image: image?.pins ?? PinnedSet())
        if constraints == nil, image == nil { return pins }
        reference.insert(PinnedPackage(name: PackageName("apache-airflow"), version: side.airflowVersion.description))
        return reference
    }

    public var sideReport: UpgradeTestReport.SideReport {
        var report = UpgradeTestReport.SideReport(
            label: side.label, runtimeVersion: side.runtime?.version.description, airflowVersion: side.airflowVersion.description,
            python: side.python, constraints: constraints?.location,
            resolutionMode: constraints == nil && mode == "constraints" ? "exclude-newer" : mode, excludeNewer: excludeNewer,
            excludedRequirements: excluded, packageCount: pins.count)
        report.imagePackages = SideComposition.imageBasePackages.compactMap { pins[PackageName($0)]?.freezeLine }
            + (image?.pins.sorted.map { pins[$0.name]?.freezeLine ?? "\($0.freezeLine) (not installed)" } ?? [])
        report.imagePackagesSource = image?.source
        report.pinsGivenWay = pinsGivenWay.map(\.text)
        report.changedRequirements = changedRequirements.map(\.text)
        report.assumptions = notes
        return report
    }
}

/// Resolves one side of an upgrade test with uv, the way its image is built: Airflow at its version,
/// what the image ships (pip and setuptools; a runtime's packages), then the project's requirements,
/// which win over every constraint and image pin but Airflow's (see `docs/runtime-images` in the spec data).
struct SideResolver: Sendable {
    var resolver: UVResolver
    var constraintsSource: ConstraintsSource
    var catalog: RuntimeCatalog
    var project: AirflowProject
    var progress: ProgressHandler
    /// Requirements added to every resolution beside the project's own (deploys add what running
    /// and downgrading need, e.g. the FAB provider on 3.x).
    var extraRequirementLines: [String] = []
    /// Astronomer's freeze files; nil to use only the bundled provider reference.
    var freezeSource: RuntimeFreezeSource?
    var providerTable: RuntimeProviderTable = .bundled

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
        var (image, freezeWarning) = try await imagePackages(for: side)
        var build = Composition(side: side, project: project, constraints: constraints, excludeNewer: excludeNewer,
                                baseDate: try? exclusionDate(for: side), extraLines: extraRequirementLines)
        var notes = (freezeWarning.map { [$0] } ?? []) + (image?.assumptions ?? [])

        // Image packages the index does not serve are left out, one at a time, wherever uv meets them
        // (Astronomer's own index has them).
        func resolveLeavingOutUnserved(_ input: (PinnedSet) -> ResolutionInput) async throws(AirlockError) -> UVResolver.Resolution {
            while true {
                let resolution = try await resolver.resolveRetryingBuilds(input(image?.pins ?? PinnedSet()))
                guard case .unsatisfiable(let explanation) = resolution.result, let current = image,
                      let missing = SideResolver.unservedImagePackage(in: explanation, image: current.pins) else { return resolution }
                image?.pins = PinnedSet(current.pins.sorted.filter { $0.name.normalized != missing })
                notes.append("\(missing) (shipped by the image) is not on the package index uv uses (Astronomer serves it from its own index); left out")
            }
        }
        var strict = try await resolveLeavingOutUnserved { build.strictInput(image: $0) }
        if case .unsatisfiable = strict.result, let current = image, current.pins.count > 0 {
            // Astronomer builds runtime images from its own constraints, not Apache's: when the image's list
            // itself cannot be installed under Apache's pins, the image's pins hold and Apache's become preferences.
            var bare = build
            bare.droppedLines = Set(project.requirementEntries.map(\.text))
            let base = try await resolveLeavingOutUnserved { bare.strictInput(image: $0) }
            if case .unsatisfiable(let why) = base.result {
                build.apachePinsArePreferences = true
                notes.append("Runtime \(side.label)'s packages cannot all be installed under Apache Airflow \(side.airflowVersion)'s constraints (\(UVResolver.summary(of: why))); the image's pins hold and Apache's pins are only preferred")
            }
            strict = try await resolveLeavingOutUnserved { build.strictInput(image: $0) }
        }
        notes += strict.notes
        var resolved = ResolvedSide(side: side, constraints: constraints, excludeNewer: excludeNewer, fullResult: strict.result,
                                    pins: PinnedSet(), excluded: [], cached: strict.cached, image: image, input: strict.input)
        switch strict.result {
        case .resolved(let pins):
            resolved.pins = pins
        case .unsatisfiable(let explanation):
            try await composeInstallable(&resolved, build: build, explanation: explanation, notes: &notes)
        }
        resolved.notes = notes
        for note in notes { progress(.note("\(side.label): \(note)")) }
        progress(.finished("\(name): \(resolved.pins.count) packages\(resolved.cached ? ", cached" : "")", seconds: Date().timeIntervalSince(started)))
        return resolved
    }

    /// The same side again, taking `package` only as a binary wheel: its chosen sdist did not build.
    /// When no version of it has a wheel, the image packages that need it are left out (an image builds
    /// them with system libraries Airlock's host may lack, e.g. `mysqlclient` for the MySQL provider).
    func resolveAgain(_ resolved: ResolvedSide, onlyBinary package: String) async throws(AirlockError) -> ResolvedSide? {
        guard var input = resolved.input, !input.onlyBinary.contains(package) else { return nil }
        input.onlyBinary.append(package)
        var updated = resolved
        while true {
            let again = try await resolver.resolveRetryingBuilds(input)
            switch again.result {
            case .resolved(let pins):
                updated.pins = pins
                updated.input = again.input
                updated.notes += again.notes
                return updated
            case .unsatisfiable(let explanation):
                let image = updated.image?.pins ?? PinnedSet()
                let lower = explanation.lowercased()
                let needing = image.sorted.map(\.name.normalized).filter { lower.contains($0) && input.requirementLines.contains($0) }
                guard let dropped = needing.first else { return nil }
                input.requirementLines.removeAll { $0 == dropped }
                updated.image?.pins = PinnedSet(image.sorted.filter { $0.name.normalized != dropped })
                updated.notes.append("\(dropped) (shipped by the image) needs \(package), which has no wheel and does not build here; left out")
            }
        }
    }

    /// When the strict resolution fails: the image's install of `requirements.txt` keeps only Airflow
    /// fixed, so first the pins the project's lines contradict give way, then every pin becomes a
    /// preference; only when the project cannot be installed with this Airflow at all are its
    /// requirements changed (version bounds dropped) or left out, each with the reason.
    private func composeInstallable(_ resolved: inout ResolvedSide, build: Composition, explanation: String,
                                    notes: inout [String]) async throws(AirlockError) {
        let side = resolved.side
        let imagePins = resolved.image?.pins ?? PinnedSet()
        let reference = SideComposition.reference(constraints: resolved.constraints?.pins, image: imagePins)
        let entries = project.requirementEntries
        let conflicting = DirectConflictCheck.check(entries, against: reference, environment: .linux(python: side.python))
        let given = Set(conflicting.map(\.name))

        func accept(_ resolution: UVResolver.Resolution, mode: String) -> Bool {
            guard case .resolved(let pins) = resolution.result else { return false }
            resolved.pins = pins
            resolved.input = resolution.input
            resolved.mode = mode
            resolved.pinsGivenWay = SideComposition.pinsGivenWay(reference: reference, image: imagePins, resolved: pins, projectEntries: entries)
            notes += resolution.notes
            return true
        }
        // 1. The pins the project's lines contradict give way; the rest hold.
        if !given.isEmpty,
           accept(try await resolver.resolveRetryingBuilds(build.input(image: imagePins, dropping: given)), mode: "constraints; project pins win") {
            return
        }
        // 2. Every pin is a preference: uv keeps what it can, as pip does on top of an image.
        if accept(try await resolver.resolveRetryingBuilds(build.input(image: imagePins, preferences: reference)),
                  mode: "preferences; project pins win") {
            return
        }
        // 3. The project cannot be installed with Airflow \(side.airflowVersion): the closest installable set.
        let summary = UVResolver.summary(of: explanation)
        let mentioned = Set(entries.compactMap { entry -> String? in
            guard let name = entry.requirement?.name.normalized,
                  explanation.lowercased().contains(name) || given.contains(name) else { return nil }
            return name
        })
        let involved = entries.filter { mentioned.contains($0.requirement?.name.normalized ?? "") }
        var changes: [RequirementChange] = []
        var relaxedLines: [String: String] = [:]
        for entry in involved {
            if let relaxed = SideComposition.relaxedLine(entry) { relaxedLines[entry.text] = relaxed }
        }
        if !relaxedLines.isEmpty {
            var relaxing = build
            relaxing.replacedLines = relaxedLines
            if accept(try await resolver.resolveRetryingBuilds(relaxing.input(image: imagePins, preferences: reference)),
                      mode: "closest installable") {
                for entry in involved {
                    if let relaxed = relaxedLines[entry.text] {
                        changes.append(RequirementChange(location: "\(entry.file):\(entry.line)", requirement: entry.text, replacement: relaxed,
                                                         reason: "cannot be installed with Airflow \(side.airflowVersion) as written (\(summary)); version left to the resolver"))
                    }
                }
                resolved.changedRequirements = changes
                return
            }
        }
        for dropped in [Set(involved.map(\.text)), Set(entries.map(\.text))] where !dropped.isEmpty {
            var leaving = build
            leaving.droppedLines = dropped
            if accept(try await resolver.resolveRetryingBuilds(leaving.input(image: imagePins, preferences: reference)),
                      mode: "closest installable") {
                resolved.excluded = entries.map(\.text).filter { dropped.contains($0) }
                resolved.changedRequirements = entries.filter { dropped.contains($0.text) }.map {
                    RequirementChange(location: "\($0.file):\($0.line)", requirement: $0.text, replacement: nil,
                                      reason: "cannot be installed with Airflow \(side.airflowVersion) (\(summary))")
                }
                progress(.warning("Airflow \(side.airflowVersion) and the project's requirements cannot be installed together; the package list for \(side.label) leaves out: \(resolved.excluded.joined(separator: ", "))"))
                return
            }
        }
        throw .environment("Airflow \(side.airflowVersion) itself cannot be resolved for Python \(side.python): \(summary)",
                           hint: "try another --python")
    }

    /// What the side's image ships beyond Airflow: a runtime's freeze file when one is found, else
    /// Astronomer's provider reference. Plain Apache Airflow images: nothing beyond pip and setuptools.
    private func imagePackages(for side: UpgradeSide) async throws(AirlockError) -> (ImagePackages?, warning: String?) {
        guard let runtime = side.runtime else { return (nil, nil) }
        var warning: String?
        if let freezeSource {
            let (packages, failure) = try await freezeSource.packages(runtime: runtime.version, python: side.python)
            if let packages { return (packages, nil) }
            warning = failure
        }
        return (providerTable.packages(for: runtime.version, slim: side.imageVariant == "slim"), warning)
    }

    /// The image package uv says the index does not have, from its explanation.
    static func unservedImagePackage(in explanation: String, image: PinnedSet) -> String? {
        for marker in ["Because ", "and ", "depends on ", "require "] {
            for part in explanation.components(separatedBy: marker).dropFirst() {
                let word = part.prefix { !$0.isWhitespace && $0 != "=" && $0 != "," }
                guard !word.isEmpty else { continue }
                let name = PackageName(String(word)).normalized
                guard image[name] != nil else { continue }
                let rest = part.dropFirst(word.count)
                if rest.hasPrefix(" was not found in the package registry") || rest.contains("there is no version of \(word)")
                    || part.hasPrefix("\(word)==") && rest.contains("was not found") {
                    return name
                }
            }
        }
        if let range = explanation.range(of: "there is no version of ") {
            let word = explanation[range.upperBound...].prefix { !$0.isWhitespace && $0 != "=" && $0 != "," }
            let name = PackageName(String(word)).normalized
            if image[name] != nil { return name }
        }
        return nil
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

    /// Index options uv understands in a requirements file; others are pip-only and left out.
    static func optionLine(_ option: RequirementsOption) -> String? {
        let supported = ["--index-url", "-i", "--extra-index-url", "--find-links", "-f", "--no-index", "--no-binary", "--only-binary"]
        guard supported.contains(option.name) else { return nil }
        if let value = option.value { return "\(option.name) \(value)" }
        return option.name
    }
}

/// The resolution inputs of one side, built like its image: options, Airflow, pip and setuptools, the
/// image's packages, then the project's lines (as uv should read them from Airlock's scratch folder).
struct Composition: Sendable {
    var side: UpgradeSide
    var project: AirflowProject
    var constraints: ConstraintsFile?
    var excludeNewer: String?
    /// The upper date of pip and setuptools when the constraints leave them open: what an image built
    /// for this Airflow release had (the newest setuptools has no `pkg_resources`).
    var baseDate: String?
    var extraLines: [String]
    /// Project lines replaced (relaxed) or left out.
    var replacedLines: [String: String] = [:]
    var droppedLines: Set<String> = []
    /// The image's pins hold and the Apache constraints are only preferred (they contradict the image's list).
    var apachePinsArePreferences = false

    init(side: UpgradeSide, project: AirflowProject, constraints: ConstraintsFile?, excludeNewer: String?, baseDate: String?,
         extraLines: [String]) {
        self.side = side
        self.project = project
        self.constraints = constraints
        self.excludeNewer = excludeNewer
        self.baseDate = baseDate
        self.extraLines = extraLines
    }

    var projectNames: Set<String> { Set(project.requirementEntries.compactMap { $0.requirement?.name.normalized }) }

    /// Constraints and image pins held, except `dropping` (the pins that give way).
    func strictInput(image: PinnedSet) -> ResolutionInput { input(image: image, dropping: []) }

    func input(image: PinnedSet, dropping: Set<String>) -> ResolutionInput {
        if apachePinsArePreferences, let constraints {
            let imageNames = Set(image.sorted.map(\.name.normalized))
            return make(image: image, constraintsText: SideComposition.constraintsText(image, dropping: dropping),
                        preferences: SideComposition.constraintsText(constraints.pins, dropping: dropping.union(imageNames)))
        }
        let reference = SideComposition.reference(constraints: constraints?.pins, image: image)
        let text: String? = constraints == nil && image.count == 0
            ? nil
            : (dropping.isEmpty && image.count == 0 ? constraints?.text : SideComposition.constraintsText(reference, dropping: dropping))
        return make(image: image, constraintsText: text, preferences: nil)
    }

    /// No pin held but Airflow's: `preferences` are kept where the project allows.
    func input(image: PinnedSet, preferences: PinnedSet) -> ResolutionInput {
        make(image: image, constraintsText: nil, preferences: preferences.freezeText)
    }

    private func make(image: PinnedSet, constraintsText: String?, preferences: String?) -> ResolutionInput {
        var input = ResolutionInput(airflowVersion: side.airflowVersion, python: side.python, requirementLines: lines(image: image),
                                    userConstraintLines: project.constraintEntries.map(\.text), constraintsText: constraintsText,
                                    excludeNewer: excludeNewer)
        input.preferencesText = preferences
        for entry in project.requirementEntries + project.constraintEntries {  // so a line uv refuses is named (exit 2)
            input.lineOrigins[lineForResolver(entry)] = "\(entry.file):\(entry.line)"
            input.lineOrigins[entry.text] = "\(entry.file):\(entry.line)"
        }
        if let baseDate {
            for package in SideComposition.imageBasePackages where constraints?.pins[PackageName(package)] == nil && !projectNames.contains(package) {
                input.excludeNewerPackages[package] = baseDate
            }
        }
        return input
    }

    private func lines(image: PinnedSet) -> [String] {
        let names = projectNames
        var lines = (project.requirements?.options.compactMap(SideResolver.optionLine) ?? []) + extraLines
        lines += SideComposition.imageBasePackages.filter { !names.contains($0) }
        lines += SideComposition.imageRequirementLines(image, projectNames: names, leftOut: [])
        for entry in project.requirementEntries where !droppedLines.contains(entry.text) {
            lines.append(replacedLines[entry.text] ?? lineForResolver(entry))
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
}
