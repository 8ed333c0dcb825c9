import PythonPackaging

/// A project requirement that the target's pins do not satisfy.
public struct DirectConflict: Hashable, Sendable, Codable {
    /// PEP 503 normalised name.
    public var name: String
    /// The requirement as written (logical line, comment removed).
    public var requirement: String
    /// What the target pins: a version, or `@ url`.
    public var pinned: String
    /// The file the requirement is in, relative to the project where possible.
    public var file: String
    public var line: Int
    /// Whether the line comes from a `-c` constraints file rather than a requirements file.
    public var isConstraint: Bool

    /// `file:line  requirement  (target pins version)`, as the terminal and `conflicts.txt` show it.
    public var located: String {
        "\(file):\(line)  \(requirement)  (target pins \(name) \(pinned))"
    }

    public init(name: String, requirement: String, pinned: String, file: String, line: Int, isConstraint: Bool = false) {
        self.name = name
        self.requirement = requirement
        self.pinned = pinned
        self.file = file
        self.line = line
        self.isConstraint = isConstraint
    }
}

/// The direct half of the conflict test: each requirement against the target's pins, with PEP 440
/// specifier semantics. Unlike a resolver, which stops at the first conflict, it lists all of them.
public enum DirectConflictCheck {
    /// - Parameters:
    ///   - entries: the project's requirement and constraint lines, includes followed.
    ///   - pins: the target's pinned set (constraints plus `apache-airflow==<target>`).
    ///   - environment: the target's marker environment; requirements whose marker is false are skipped.
    public static func check(_ entries: [RequirementsEntry], against pins: PinnedSet,
                             environment: MarkerEnvironment) -> [DirectConflict] {
        var conflicts: [DirectConflict] = []
        for entry in entries {
            guard let requirement = entry.requirement, let pin = pins[requirement.name] else { continue }
            if let marker = requirement.marker, !marker.evaluate(environment) { continue }
            if isConflict(requirement, pin) {
                conflicts.append(DirectConflict(
                    name: requirement.name.normalized, requirement: entry.text, pinned: pin.displayVersion,
                    file: entry.file, line: entry.line, isConstraint: entry.kind == .constraint))
            }
        }
        return conflicts
    }

    static func isConflict(_ requirement: Requirement, _ pin: PinnedPackage) -> Bool {
        if let url = requirement.url {
            return pin.url != url
        }
        guard let version = pin.parsedVersion else { return false }
        // A pin is a fixed choice: pre-releases are allowed when pinned.
        return !requirement.specifier.contains(version, prereleases: true)
    }
}
