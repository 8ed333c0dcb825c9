/// What the DAG-parse harness reports for one environment (its JSON, decoded as is).
public struct DagParseRun: Hashable, Sendable, Codable {
    public var ok: Bool
    public var error: String?
    /// The harness could not drive this Airflow (its canary DAG failed, or it raised while parsing a
    /// file): a tool failure, and no file has a result.
    public var harnessFailure: Bool?
    /// The harness's traceback when `harnessFailure`.
    public var traceback: String?
    /// How the harness drives this Airflow, as it probed it (the DagBag class, lister, DB init, mocks).
    public var adapter: HarnessAdapter?
    public var airflowVersion: String?
    public var importSeconds: Double?
    public var totalSeconds: Double?
    public var files: [DagFileParse]?

    public init(ok: Bool, error: String? = nil, airflowVersion: String? = nil, importSeconds: Double? = nil,
                totalSeconds: Double? = nil, files: [DagFileParse]? = nil) {
        self.ok = ok
        self.error = error
        self.airflowVersion = airflowVersion
        self.importSeconds = importSeconds
        self.totalSeconds = totalSeconds
        self.files = files
    }
}

/// One DAG file as parsed by Airflow's `DagBag` in a forked child.
public struct DagFileParse: Hashable, Sendable, Codable {
    /// `ok`, `error`, `timeout` or `crash`.
    public enum Outcome: String, Hashable, Sendable, Codable {
        case ok, error, timeout, crash
    }

    public struct ParseError: Hashable, Sendable, Codable {
        /// Exception type as a traceback prints it, e.g. `ModuleNotFoundError`, `airflow.exceptions.AirflowException`.
        public var type: String
        public var message: String
        /// The line in the DAG file where the failure surfaced.
        public var line: Int?
        public var traceback: String?
        /// For `ModuleNotFoundError`: the module that was not found.
        public var missingModule: String?

        public init(type: String, message: String, line: Int? = nil, traceback: String? = nil, missingModule: String? = nil) {
            self.type = type
            self.message = message
            self.line = line
            self.traceback = traceback
            self.missingModule = missingModule
        }

        /// `Type: message`, as Airflow shows import errors.
        public var summary: String { "\(type): \(message)" }
    }

    public struct Warning: Hashable, Sendable, Codable {
        public var category: String
        public var message: String
        public var line: Int?

        public init(category: String, message: String, line: Int? = nil) {
            self.category = category
            self.message = message
            self.line = line
        }
    }

    /// Relative to the project, e.g. `dags/x.py`.
    public var path: String
    public var outcome: Outcome
    public var dagIds: [String]
    public var error: ParseError?
    public var warnings: [Warning]
    /// Parse-time lookups answered by a placeholder, e.g. `variable:foo`.
    public var mocked: [String]
    public var seconds: Double?
    public var stderrTail: String?

    public init(path: String, outcome: Outcome, dagIds: [String] = [], error: ParseError? = nil, warnings: [Warning] = [],
                mocked: [String] = [], seconds: Double? = nil, stderrTail: String? = nil) {
        self.path = path
        self.outcome = outcome
        self.dagIds = dagIds
        self.error = error
        self.warnings = warnings
        self.mocked = mocked
        self.seconds = seconds
        self.stderrTail = stderrTail
    }

    public var failed: Bool { outcome != .ok }
}

/// How the harness drives one Airflow, found by probing the environment (not by version tables).
public struct HarnessAdapter: Hashable, Sendable, Codable {
    /// The file-parsing DagBag, e.g. `airflow.dag_processing.dagbag.DagBag` on 3.3.
    public var dagBag: String?
    /// The keyword arguments it is given besides `dag_folder`, e.g. `include_examples` where it exists.
    public var dagBagArguments: [String]?
    /// What lists the DAG files (`airflow.utils.file.list_py_file_paths`, or the DagBag's own discovery).
    public var lister: String?
    /// `airflow db migrate`'s or `airflow db init`'s function, when the run initialised the metadata DB.
    public var databaseInit: String?
    /// The lookups answered with placeholders when they fail, e.g. `airflow.sdk.definitions.variable.Variable.get`.
    public var mocks: [String]?
}
