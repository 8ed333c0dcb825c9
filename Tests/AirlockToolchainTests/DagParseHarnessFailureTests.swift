import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing

/// The harness on an Airflow it cannot drive: a tool failure (`harnessFailure`, no file results), never
/// a verdict on the user's files. The "Airflow" is a small package in a real venv whose `DagBag`
/// breaks the way a future release could (a changed constructor); the harness itself runs for real.
@Suite struct DagParseHarnessFailureTests {
    /// `airflow` with a DagBag that parses the canary only (`breaksCanary`: not even that) and raises
    /// a TypeError of its own, before running the file, for every other file.
    static func stubAirflow(breaksCanary: Bool) -> [String: String] {
        [
            "airflow/__init__.py": """
            __version__ = "9.9.0"
            CREATED = []
            class DAG:
                def __init__(self, dag_id, **kwargs):
                    self.dag_id = dag_id
                    CREATED.append(self)
                def __enter__(self):
                    return self
                def __exit__(self, *exc):
                    return False
            """,
            "airflow/operators/__init__.py": "",
            "airflow/operators/empty.py": "class EmptyOperator:\n    def __init__(self, task_id):\n        self.task_id = task_id\n",
            "airflow/models/__init__.py": "",
            "airflow/models/dagbag.py": """
            import importlib.machinery, importlib.util, os
            import airflow
            BREAKS_CANARY = \(breaksCanary ? "True" : "False")
            class DagBag:
                def __init__(self, dag_folder=None, include_examples=True, collect_dags=True):
                    self.import_errors, self.dags = {}, {}
                    if BREAKS_CANARY or os.path.basename(str(dag_folder)) != "airlock_canary_dag.py":
                        raise TypeError("DagBag.__init__() got an unexpected keyword argument 'include_examples'")
                    loader = importlib.machinery.SourceFileLoader("canary", dag_folder)
                    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("canary", loader))
                    del airflow.CREATED[:]
                    loader.exec_module(module)
                    self.dags = {dag.dag_id: dag for dag in airflow.CREATED}
                def collect_dags(self):
                    pass
                @property
                def dag_ids(self):
                    return list(self.dags)
            """,
            "airflow/utils/__init__.py": "",
            "airflow/utils/file.py": """
            import os
            def list_py_file_paths(folder):
                return sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".py"))
            """,
        ]
    }

    /// A venv of a local Python 3.11 with the stub `airflow` in its site-packages.
    func stubEnvironment(breaksCanary: Bool) async throws -> PythonEnvironment {
        let root = try TestSupport.scratchFolder("airlock-stub-airflow")
        let python = try await PythonInterpreters.find("3.11")
        let venv = try await ProcessRunner.run(python, ["-m", "venv", "--without-pip", root.path], timeout: 120)
        #expect(venv.succeeded, "\(venv.stderr)")
        try TestSupport.writeTree(Self.stubAirflow(breaksCanary: breaksCanary), under: root.appendingPathComponent("lib/python3.11/site-packages"))
        let environment = PythonEnvironment(root: root, lockHash: "stub", pythonVersion: "3.11")
        // An existing DB template: the stub has no migrations to run.
        try FileManager.default.createDirectory(at: environment.airlockFolder, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: environment.airlockFolder.appendingPathComponent("airflow-template.db").path, contents: Data())
        return environment
    }

    func project() throws -> URL {
        let root = try TestSupport.scratchFolder("airlock-stub-project")
        try TestSupport.writeTree(["dags/good_dag.py": "from airflow import DAG\nwith DAG(dag_id='good'):\n    pass\n"], under: root)
        return root
    }

    func parse(_ environment: PythonEnvironment) async throws -> DagParseRun {
        try await DagParseHarness(environment: environment).parse(
            project: try project(), environmentVariables: [:], timeoutSeconds: 30, parallelism: 1,
            scratch: try TestSupport.scratchFolder("airlock-stub-scratch"))
    }

    @Test func aFailingCanaryIsAHarnessFailureWithNoFileResults() async throws {
        let run = try await parse(try await stubEnvironment(breaksCanary: true))
        #expect(!run.ok)
        #expect(run.harnessFailure == true)
        #expect(run.files == nil)
        #expect(run.airflowVersion == "9.9.0")
        #expect(run.error?.contains("canary DAG did not parse") == true, "\(run.error ?? "")")
        #expect(run.error?.contains("include_examples") == true)
        #expect(run.adapter?.dagBag == "airflow.models.dagbag.DagBag")
    }

    @Test func anErrorRaisedBeforeTheFileRanIsAHarnessFailureNotAVerdict() async throws {
        let environment = try await stubEnvironment(breaksCanary: false)
        let run = try await parse(environment)
        #expect(!run.ok)
        #expect(run.harnessFailure == true)
        #expect(run.files == nil)
        #expect(run.error?.contains("while parsing dags/good_dag.py") == true, "\(run.error ?? "")")
        // The canary passed and is remembered for this environment.
        let cached = try FileManager.default.contentsOfDirectory(atPath: environment.airlockFolder.path)
        #expect(cached.contains { $0.hasPrefix("canary-") })
    }
}
