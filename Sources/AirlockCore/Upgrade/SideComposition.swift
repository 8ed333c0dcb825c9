import PythonPackaging

/// A pin of the constraints or of the image that the project's requirements moved: the image's own
/// `pip install -r requirements.txt` keeps only Airflow fixed, so on a side the project's lines win.
public struct PinGivenWay: Hashable, Sendable, Codable {
    public var name: String
    /// The version the constraints (or the image) pin.
    public var pinned: String
    /// The version the side installs instead; nil when the package is not installed at all any more.
    public var installed: String?
    /// `constraints` or `image`: whose pin gave way.
    public var pinnedBy: String
    /// The project's requirement that moved it (`file:line` `text`), when one names the package.
    public var requiredBy: String?

    public init(name: String, pinned: String, installed: String?, pinnedBy: String, requiredBy: String?) {
        self.name = name
        self.pinned = pinned
        self.installed = installed
        self.pinnedBy = pinnedBy
        self.requiredBy = requiredBy
    }

    public var text: String {
        let moved = installed.map { "\(name) \(pinned) → \($0)" } ?? "\(name) \(pinned) → not installed"
        return "\(moved) (the \(pinnedBy) pin gave way\(requiredBy.map { " to \($0)" } ?? " to the project's requirements"))"
    }
}

/// A project requirement that a side could not install as written, and what was done instead.
public struct RequirementChange: Hashable, Sendable, Codable {
    /// `file:line`.
    public var location: String
    public var requirement: String
    /// The line used instead; nil when the requirement was left out.
    public var replacement: String?
    public var reason: String

    public init(location: String, requirement: String, replacement: String?, reason: String) {
        self.location = location
        self.requirement = requirement
        self.replacement = replacement
        self.reason = reason
    }

    public var text: String {
        let what = replacement.map { "changed to `\($0)`" } ?? "left out"
        return "\(location) `\(requirement)` \(what): \(reason)"
    }
}

/// The rules that build a side the way its image is built: Airflow, what the image ships, then the
/// project's requirements on top, which win over every pin but Airflow's (pure; the resolver is the caller's).
public enum SideComposition {
    /// What every Airflow image has and a bare `uv venv` lacks: DAGs import `pkg_resources` (setuptools)
    /// and call pip. Resolved like any package, so they follow the side's constraints or date.
    public static let imageBasePackages = ["pip", "setuptools"]

    /// The side's pins before the project: the constraints, with the image's own versions winning for
    /// the packages it ships.
    public static func reference(constraints: PinnedSet?, image: PinnedSet) -> PinnedSet {
        var pins = constraints ?? PinnedSet()
        for package in image.sorted { pins.insert(package) }
        return pins
    }

    /// Constraints text of `pins` without the packages in `dropping` (normalised names).
    public static func constraintsText(_ pins: PinnedSet, dropping names: Set<String>) -> String {
        pins.sorted.filter { !names.contains($0.name.normalized) }.map(\.freezeLine).joined(separator: "\n") + "\n"
    }

    /// Image packages to require by name (their version comes from the reference pins), without those
    /// the project names itself: its line decides them.
    public static func imageRequirementLines(_ image: PinnedSet, projectNames: Set<String>, leftOut: Set<String>) -> [String] {
        image.sorted.map(\.name.normalized).filter { !projectNames.contains($0) && !leftOut.contains($0) }
    }

    /// Every pin of `reference` that the resolved set does not keep, with the project line that names
    /// the package when there is one. Airflow itself never gives way, and packages the side never
    /// installs (constraints cover far more than one project uses) are not pins that gave way.
    public static func pinsGivenWay(reference: PinnedSet, image: PinnedSet, resolved: PinnedSet,
                                    projectEntries: [RequirementsEntry]) -> [PinGivenWay] {
        let named = Dictionary(projectEntries.compactMap { entry in entry.requirement.map { ($0.name.normalized, entry) } },
                               uniquingKeysWith: { first, _ in first })
        var given: [PinGivenWay] = []
        for pin in reference.sorted where pin.name.normalized != "apache-airflow" {
            let isImage = image[pin.name] != nil
            guard let installed = resolved[pin.name] else {
                if isImage {
                    given.append(PinGivenWay(name: pin.name.normalized, pinned: pin.displayVersion, installed: nil, pinnedBy: "image",
                                             requiredBy: nil))
                }
                continue
            }
            guard installed.displayVersion != pin.displayVersion else { continue }
            if let a = installed.parsedVersion, let b = pin.parsedVersion, a == b { continue }
            let entry = named[pin.name.normalized]
            given.append(PinGivenWay(name: pin.name.normalized, pinned: pin.displayVersion, installed: installed.displayVersion,
                                     pinnedBy: isImage ? "image" : "constraints",
                                     requiredBy: entry.map { "\($0.file):\($0.line) `\($0.text)`" }))
        }
        return given
    }

    /// The requirement without its version bounds (`name[extras]; marker`): the closest thing to the
    /// project's line that lets the side choose the version. Nil for URL and editable requirements and
    /// for lines that have no bounds to drop.
    public static func relaxedLine(_ entry: RequirementsEntry) -> String? {
        guard let requirement = entry.requirement, requirement.url == nil, !entry.editable, entry.directReference == nil,
              !requirement.specifier.isEmpty else { return nil }
        var relaxed = requirement
        relaxed.specifier = SpecifierSet()
        return relaxed.description
    }
}
