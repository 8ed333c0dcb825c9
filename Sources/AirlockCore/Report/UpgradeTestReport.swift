import PythonPackaging

/// The machine-readable result of one upgrade-test pair, written as `report.json`.
///
/// `schemaVersion` changes only when a field changes meaning or disappears; new fields may be added.
public struct UpgradeTestReport: Hashable, Sendable, Codable {
    public static let currentSchemaVersion = 1

    /// How a side's package set was obtained.
    public struct SideReport: Hashable, Sendable, Codable {
        public var label: String
        public var runtimeVersion: String?
        public var airflowVersion: String
        public var python: String
        /// Where the constraints came from (file path or URL); nil when resolved by date.
        public var constraints: String?
        /// `constraints` or `exclude-newer`.
        public var resolutionMode: String
        public var excludeNewer: String?
        /// Requirements left out of this side's resolution because they conflict with it.
        public var excludedRequirements: [String]
        public var packageCount: Int
        /// What the side's image ships beyond Airflow (pip and setuptools, a runtime's packages) and where that list comes from.
        public var imagePackages: [String] = []
        public var imagePackagesSource: String?
        /// Pins of the constraints or the image that the project's requirements moved (the image installs them on top).
        public var pinsGivenWay: [String] = []
        /// Project requirements this side could not install as written: changed or left out, and why.
        public var changedRequirements: [String] = []
        /// Assumptions made to build this side (a runtime newer than the catalog, another runtime's package list, wheel retries).
        public var assumptions: [String] = []

        public init(label: String, runtimeVersion: String?, airflowVersion: String, python: String, constraints: String?,
                    resolutionMode: String, excludeNewer: String?, excludedRequirements: [String], packageCount: Int) {
            self.label = label
            self.runtimeVersion = runtimeVersion
            self.airflowVersion = airflowVersion
            self.python = python
            self.constraints = constraints
            self.resolutionMode = resolutionMode
            self.excludeNewer = excludeNewer
            self.excludedRequirements = excludedRequirements
            self.packageCount = packageCount
        }
    }

    public struct VersionTest: Hashable, Sendable, Codable {
        public var changes: [DependencyChange]
        /// Count per change kind.
        public var summary: [String: Int]

        public init(diff: DependencyDiff) {
            changes = diff.changes
            summary = Dictionary(uniqueKeysWithValues: ChangeKind.allCases.map { kind in
                (kind.rawValue, diff.changes.filter { $0.kind == kind }.count)
            })
        }
    }

    public struct ResolverCheck: Hashable, Sendable, Codable {
        /// `ok` or `conflict`.
        public var status: String
        /// One-line summary of the resolver's explanation.
        public var summary: String?
        /// The resolver's explanation, verbatim.
        public var explanation: String?

        public init(status: String, summary: String?, explanation: String?) {
            self.status = status
            self.summary = summary
            self.explanation = explanation
        }
    }

    public struct ConflictTest: Hashable, Sendable, Codable {
        /// `passed` or `failed`.
        public var status: String
        public var conflicts: [DirectConflict]
        public var resolver: ResolverCheck

        public init(conflicts: [DirectConflict], resolver: ResolverCheck) {
            self.conflicts = conflicts
            self.resolver = resolver
            self.status = conflicts.isEmpty && resolver.status == "ok" ? "passed" : "failed"
        }

        public var passed: Bool { status == "passed" }
    }

    public struct DagTest: Hashable, Sendable, Codable {
        /// `passed` or `failed`.
        public var status: String
        public var strict: Bool
        public var files: [DagFileVerdict]
        /// Files per status.
        public var counts: [String: Int]
        /// Whether today's version was parsed too (regressions need it).
        public var baseline: Bool

        public init(files: [DagFileVerdict], strict: Bool, baseline: Bool) {
            self.files = files
            self.strict = strict
            self.baseline = baseline
            counts = Dictionary(grouping: files, by: \.status.rawValue).mapValues(\.count)
            let failing = files.contains { $0.status == .regression || (strict && $0.status == .preexisting) }
            status = failing ? "failed" : "passed"
        }

        public var passed: Bool { status == "passed" }
    }

    public struct LintTest: Hashable, Sendable, Codable {
        /// `passed`, `failed` or `skipped`.
        public var status: String
        public var rules: [String]
        public var findings: [LintFinding]
        /// Findings that apply only from an Airflow later than the target (e.g. AIR321 on a 3.0 target): listed, never a failure.
        public var headsUp: [LintFinding]?
        public var reason: String?

        public init(rules: [String], findings: [LintFinding]) {
            self.rules = rules
            self.findings = findings
            status = findings.isEmpty ? "passed" : "failed"
        }

        /// The lint for one target: findings from a later Airflow go to `headsUp`.
        public init(rules: [String], findings: [LintFinding], target: Version) {
            let (failures, later) = LintFinding.triage(findings, target: target)
            self.init(rules: rules, findings: failures)
            headsUp = later.isEmpty ? nil : later
        }

        public init(skipped reason: String) {
            rules = []
            findings = []
            status = "skipped"
            self.reason = reason
        }

        public var passed: Bool { status != "failed" }
    }

    public var schemaVersion: Int = UpgradeTestReport.currentSchemaVersion
    public var airlockVersion: String
    public var project: String
    public var current: SideReport
    public var target: SideReport
    public var warnings: [String]
    public var versionTest: VersionTest?
    public var conflictTest: ConflictTest?
    public var dagTest: DagTest?
    public var lintTest: LintTest?
    public var dbCheck: DatabaseCheck?
    /// `passed` or `failed`.
    public var result: String

    public init(airlockVersion: String, project: String, current: SideReport, target: SideReport, warnings: [String],
                versionTest: VersionTest?, conflictTest: ConflictTest?, dagTest: DagTest? = nil, lintTest: LintTest? = nil,
                dbCheck: DatabaseCheck? = nil) {
        self.airlockVersion = airlockVersion
        self.project = project
        self.current = current
        self.target = target
        self.warnings = warnings
        self.versionTest = versionTest
        self.conflictTest = conflictTest
        self.dagTest = dagTest
        self.lintTest = lintTest
        self.dbCheck = dbCheck
        let passed = (conflictTest?.passed ?? true) && (dagTest?.passed ?? true) && (lintTest?.passed ?? true)
        self.result = passed ? "passed" : "failed"
    }

    public var passed: Bool { result == "passed" }

    /// `conflicts.txt`: every direct conflict with its `file:line`, then the resolver's verdict verbatim.
    public static func conflictsText(_ test: ConflictTest, target: String) -> String {
        var text = "Conflict test against \(target)\n\n"
        if test.conflicts.isEmpty {
            text += "Direct check: no requirement conflicts with the target's pins.\n"
        } else {
            text += "Direct check: \(test.conflicts.count) requirement(s) conflict with the target's pins:\n"
            for conflict in test.conflicts {
                text += "  \(conflict.located)\n"
            }
        }
        text += "\nResolver check: "
        switch test.resolver.status {
        case "ok": text += "the requirements resolve together with the target.\n"
        default:
            text += "the requirements cannot be installed together with the target.\n"
            if let summary = test.resolver.summary { text += "Summary: \(summary)\n" }
            if let explanation = test.resolver.explanation { text += "\n\(explanation)\n" }
        }
        return text
    }
}
