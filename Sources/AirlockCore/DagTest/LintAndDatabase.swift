import PythonPackaging

/// One ruff finding of the Airflow rules, for `report.json` and the HTML report.
public struct LintFinding: Hashable, Sendable, Codable {
    /// Relative to the project.
    public var file: String
    public var line: Int
    public var column: Int
    /// e.g. `AIR302`.
    public var rule: String
    public var message: String
    public var fixable: Bool

    public init(file: String, line: Int, column: Int, rule: String, message: String, fixable: Bool) {
        self.file = file
        self.line = line
        self.column = column
        self.rule = rule
        self.message = message
        self.fixable = fixable
    }
}

extension LintFinding {
    /// The Airflow version from which the finding applies, as ruff's message says it
    /// (`… is moved in Airflow 3.1`, `… is removed in Airflow 3.0`); nil when the message names none.
    public var appliesFromAirflow: Version? {
        guard let range = message.range(of: " in Airflow ") else { return nil }
        let version = message[range.upperBound...].prefix { $0.isNumber || $0 == "." }
        return Version(String(version.hasSuffix(".") ? version.dropLast() : version))
    }

    /// Splits a lint for one target: findings that apply on `target` fail it; those that apply only from a
    /// later Airflow (AIR321 `moved in Airflow 3.1` on a 3.0 target) are heads-ups for a later upgrade.
    public static func triage(_ findings: [LintFinding], target: Version) -> (failures: [LintFinding], headsUp: [LintFinding]) {
        var failures: [LintFinding] = [], headsUp: [LintFinding] = []
        for finding in findings {
            if let from = finding.appliesFromAirflow, target < from { headsUp.append(finding) } else { failures.append(finding) }
        }
        return (failures, headsUp)
    }
}

/// One alembic migration between the two schema heads.
public struct DatabaseMigration: Hashable, Sendable, Codable {
    public var revision: String
    public var description: String
    public var airflowVersion: String?

    public init(revision: String, description: String, airflowVersion: String?) {
        self.revision = revision
        self.description = description
        self.airflowVersion = airflowVersion
    }
}

/// Whether moving to the target changes the metadata-DB schema (SPEC §3.5).
public struct DatabaseCheck: Hashable, Sendable, Codable {
    /// `upgrade`, `none`, `downgrade`.
    public enum Direction: String, Hashable, Sendable, Codable {
        case upgrade, none, downgrade
    }

    public var currentHead: String?
    public var targetHead: String?
    public var direction: Direction
    /// Newest first, the migrations that run (for an upgrade) or are undone (for a downgrade).
    public var migrations: [DatabaseMigration]
    public var warning: String?

    public init(currentHead: String?, targetHead: String?, direction: Direction, migrations: [DatabaseMigration], warning: String?) {
        self.currentHead = currentHead
        self.targetHead = targetHead
        self.direction = direction
        self.migrations = migrations
        self.warning = warning
    }

    public static let downgradeWarning = "The schema goes down: `airflow db downgrade` erases the data of features newer than the target (e.g. tables and columns added since), and tasks running during the downgrade fail. Back up the metadata database first."
}

/// One alembic revision with its parents, for walking the chain between two schema heads.
public struct MigrationLink: Hashable, Sendable {
    public var revision: String
    public var downRevisions: [String]
    public var migration: DatabaseMigration

    public init(revision: String, downRevisions: [String], migration: DatabaseMigration) {
        self.revision = revision
        self.downRevisions = downRevisions
        self.migration = migration
    }

    /// The migrations from `head` (included) down to `base` (excluded), newest first, following
    /// every parent of merge revisions; empty when either revision is not in the chain.
    public static func path(from head: String, downTo base: String, in chain: [MigrationLink]) -> [DatabaseMigration] {
        let byRevision = Dictionary(chain.map { ($0.revision, $0) }, uniquingKeysWith: { first, _ in first })
        guard byRevision[head] != nil, byRevision[base] != nil else { return [] }
        func ancestors(_ start: String) -> Set<String> {
            var seen: Set<String> = []
            var stack = [start]
            while let revision = stack.popLast() {
                guard seen.insert(revision).inserted else { continue }
                stack += byRevision[revision]?.downRevisions ?? []
            }
            return seen
        }
        let pending = ancestors(head).subtracting(ancestors(base))
        return chain.filter { pending.contains($0.revision) }.map(\.migration)
    }
}
