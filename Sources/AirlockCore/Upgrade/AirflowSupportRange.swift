import PythonPackaging

/// The Airflow and Python versions Airlock drives, checked before anything is resolved: outside them
/// Airlock says so (a usage error, exit 2) instead of guessing.
///
/// - Current side: Airflow 2.3 and later (the rollback floor), Apache images and Astro Runtime tags alike.
/// - Target side: any release on the package index from 2.3 on; pre-releases only when asked for by exact
///   version (the newest-release default never picks one).
/// - Python: what each release supports — its `requires_python`, and for releases that declared no upper
///   bound, the newest Python Airflow published constraints for (`pythonCeilings`).
public enum AirflowSupportRange {
    public static let oldest = Version(release: [2, 3, 0])

    /// The newest Python of releases whose `requires_python` has no upper bound (`~=3.7`, `~=3.8`): the
    /// newest `constraints-<version>/constraints-3.X.txt` Airflow published for that minor series (Airflow's
    /// README "Requirements" table says the same). From 2.7.3 on, `requires_python` bounds it itself.
    static let pythonCeilings: [(series: String, python: String)] = [
        ("2.3", "3.10"), ("2.4", "3.10"), ("2.5", "3.10"), ("2.6", "3.11"), ("2.7", "3.11"),
    ]

    /// Throws a usage error when a side is outside the range.
    public static func check(_ side: UpgradeSide, role: String, release: AirflowRelease?) throws(AirlockError) {
        let name = side.runtime.map { "Runtime \($0.version) (Airflow \(side.airflowVersion))" } ?? "Airflow \(side.airflowVersion)"
        guard side.airflowVersion >= oldest else {
            throw .usage("\(name) is outside Airlock's range: the \(role) side must be Airflow \(oldest.major).\(oldest.minor) or later",
                         hint: "Airlock tests upgrades from Airflow 2.3 on, to any later release")
        }
        guard let python = Version(side.python) else { return }
        if let supported = supportedPython(side.airflowVersion, requiresPython: release?.requiresPython), !supported.contains(python) {
            throw .usage("\(name) (\(role) side) does not run on Python \(side.python): it supports Python \(describe(supported))",
                         hint: "pass --python with a version it supports")
        }
    }

    /// The Python versions (`X.Y`) an Airflow release supports; nil when nothing is known about it.
    public static func supportedPython(_ airflow: Version, requiresPython: String?) -> PythonRange? {
        var range = PythonRange(specifiers: nil, ceiling: nil)
        if let text = requiresPython, let set = try? SpecifierSet(parsing: text) { range.specifiers = set }
        let series = "\(airflow.major).\(airflow.minor)"
        if let ceiling = pythonCeilings.first(where: { $0.series == series }), let version = Version(ceiling.python) {
            range.ceiling = version
        }
        return range.specifiers == nil && range.ceiling == nil ? nil : range
    }

    /// `requires_python` plus a ceiling, on `X.Y` Python versions.
    public struct PythonRange: Sendable {
        public var specifiers: SpecifierSet?
        public var ceiling: Version?

        public func contains(_ python: Version) -> Bool {
            if let ceiling, python > ceiling { return false }
            return specifiers?.contains(python) ?? true
        }
    }

    private static func describe(_ range: PythonRange) -> String {
        let local = ["3.9", "3.10", "3.11", "3.12", "3.13", "3.14"].filter { Version($0).map(range.contains) ?? false }
        var text = [range.specifiers?.description, range.ceiling.map { "<= \($0)" }].compactMap { $0 }.joined(separator: ", ")
        if let first = local.first, let last = local.last { text += " (\(first == last ? first : "\(first)–\(last)"))" }
        return text
    }
}
