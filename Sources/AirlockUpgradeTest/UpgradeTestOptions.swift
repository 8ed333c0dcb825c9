import AirlockCore
import Foundation

/// Everything `airlock upgrade-test` was asked to do, independent of how the flags were spelled.
public struct UpgradeTestOptions: Sendable {
    public var project: URL
    /// The folder in which `upgrade-test-*` folders are created; defaults to the project.
    public var output: URL?
    public var targets: [TargetRequest]
    public var runVersionTest: Bool
    public var runConflictTest: Bool
    public var runDagTest: Bool = false
    /// Lint: `nil` = Astro's default (only for Airflow 3 targets), `true` = asked for with `-l`.
    public var runLintTest: Bool? = nil
    public var runDatabaseCheck: Bool = false
    public var lintDeprecations: Bool = false
    public var lintConfigFile: URL?
    public var fix: Bool = false
    public var fixInPlace: Bool = false
    /// Fail on any DAG import error, not only regressions.
    public var strict: Bool = false
    /// Seconds a DAG file may take to import.
    public var parseTimeout: Int = 30
    public var python: String?
    public var currentAirflowVersion: String?
    public var constraintsSource: String?
    public var runtimeFeed: String?
    /// `--runtime-freeze-source DIR|URL`: Astronomer's per-runtime freeze files (default: Astronomer's CDN).
    public var runtimeFreezeSource: String?
    public var offline: Bool
    /// `YYYY-MM-DD`, for end-of-maintenance warnings.
    public var today: String

    public init(project: URL, output: URL? = nil, targets: [TargetRequest], runVersionTest: Bool, runConflictTest: Bool,
                python: String? = nil, currentAirflowVersion: String? = nil, constraintsSource: String? = nil,
                runtimeFeed: String? = nil, offline: Bool = false, today: String) {
        self.project = project
        self.output = output
        self.targets = targets
        self.runVersionTest = runVersionTest
        self.runConflictTest = runConflictTest
        self.python = python
        self.currentAirflowVersion = currentAirflowVersion
        self.constraintsSource = constraintsSource
        self.runtimeFeed = runtimeFeed
        self.offline = offline
        self.today = today
    }
}

/// Progress of a run, for the CLI to show as spinners, plain lines or nothing.
public enum ProgressEvent: Sendable {
    case started(String)
    case finished(String, seconds: Double)
    case warning(String)
    case note(String)
}

public typealias ProgressHandler = @Sendable (ProgressEvent) -> Void
