/// A DAG file's verdict after comparing the target's parse with today's.
public enum DagFileStatus: String, Hashable, Sendable, Codable {
    /// Parses on the target.
    case passed
    /// Fails on the target but parses today: the upgrade breaks it.
    case regression
    /// Fails on both: not caused by the upgrade.
    case preexisting
    /// Listed in `.astro/dag_integrity_exceptions.txt`: reported, never fails the run.
    case exempt
}

/// Why a DAG file fails to import, so the fix can be specific.
public enum FailureCategory: String, Hashable, Sendable, Codable, CaseIterable {
    case airflowApiRemoved = "airflow-api-removed"
    case airflowApiMoved = "airflow-api-moved"
    case missingDependency = "missing-dependency"
    case signatureChange = "signature-change"
    case timeout
    case crash
    case other
}

/// A suggested fix for a failing DAG file.
public struct DagFix: Hashable, Sendable, Codable {
    /// One sentence for people, e.g. "Import `BashOperator` from `airflow.providers.standard.operators.bash`".
    public var summary: String
    /// The import to use instead, e.g. `from airflow.providers.standard.operators.bash import BashOperator`.
    public var newImport: String?
    /// A `requirements.txt` line to add, e.g. `apache-airflow-providers-standard>=0.0.1`.
    public var requirement: String?

    public init(summary: String, newImport: String? = nil, requirement: String? = nil) {
        self.summary = summary
        self.newImport = newImport
        self.requirement = requirement
    }
}

/// One DAG file in `report.json`'s `dagTest.files[]`.
public struct DagFileVerdict: Hashable, Sendable, Codable {
    public var path: String
    public var status: DagFileStatus
    public var category: FailureCategory?
    /// The target's import error (`Type: message`), when it fails there.
    public var error: String?
    public var line: Int?
    public var fix: DagFix?
    public var dagIds: [String]
    /// Deprecation and other warnings on the target, `line: message`.
    public var warnings: [String]
    /// Today's import error, when it fails today too.
    public var currentError: String?

    public init(path: String, status: DagFileStatus, category: FailureCategory? = nil, error: String? = nil, line: Int? = nil,
                fix: DagFix? = nil, dagIds: [String] = [], warnings: [String] = [], currentError: String? = nil) {
        self.path = path
        self.status = status
        self.category = category
        self.error = error
        self.line = line
        self.fix = fix
        self.dagIds = dagIds
        self.warnings = warnings
        self.currentError = currentError
    }
}
