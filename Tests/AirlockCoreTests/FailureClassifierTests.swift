import AirlockCore
import PythonPackaging
import Testing

/// A failing parse result as the harness reports it.
func failedParse(_ type: String, _ message: String, line: Int? = 3, missingModule: String? = nil,
                 path: String = "dags/x.py") -> DagFileParse {
    DagFileParse(path: path, outcome: .error,
                 error: .init(type: type, message: message, line: line, missingModule: missingModule))
}

func makeClassifier(airflow: String = "3.0.6", pins: String = "") throws -> FailureClassifier {
    FailureClassifier(targetPins: PinnedSet(freezeText: pins), targetAirflow: try #require(Version(airflow)))
}

func airflowVersion(_ text: String) throws -> Version { try #require(Version(text)) }

@Suite struct RelocationTableTests {
    let table = RelocationTable.bundled

    @Test func bundledTablesLoad() throws {
        #expect(table.count > 900)
        // ruff rows win over Airflow's own tables.
        let python = try #require(table.relocation(for: "airflow.operators.python.PythonOperator"))
        #expect(python.source == "ruff AIR312")
        #expect(python.providerPackage == "apache-airflow-providers-standard")
        // The 3.1 table's doubled `airflow.decorators.airflow.decorators` module reads as `airflow.decorators`.
        #expect(table.relocation(for: "airflow.decorators.setup")?.newQualifiedName == "airflow.sdk.setup")
        #expect(table.relocation(for: "airflow.decorators.airflow.decorators.setup") == nil)
        // Argument rows of ruff's table are not import paths.
        #expect(table.relocation(for: "schedule_interval") == nil)
    }

    @Test func followsAShimIntoItsProviderMove() throws {
        let sensor = try #require(table.relocation(for: "airflow.sensors.date_time_sensor.DateTimeSensor"))
        #expect(sensor.oldName == "airflow.sensors.date_time_sensor.DateTimeSensor")
        #expect(sensor.newQualifiedName == "airflow.providers.standard.sensors.date_time.DateTimeSensor")
        #expect(sensor.kind == .movedToProvider)
        #expect(sensor.providerPackage == "apache-airflow-providers-standard")
        #expect(sensor.minProviderVersion == "0.0.1")
        #expect(sensor.source == "Airflow 2.10.5 deprecation table → ruff AIR312")

        // A chain can end in a removal.
        let subdag = try #require(table.relocation(for: "airflow.operators.subdag_operator.SubDagOperator"))
        #expect(subdag.kind == .removed)
        #expect(subdag.newQualifiedName == nil)
        #expect(subdag.providerPackage == nil)
        #expect(subdag.help == "The whole `airflow.subdag` module has been removed.")

        let ssh = try #require(table.relocation(for: "airflow.contrib.operators.ssh_operator.SSHOperator"))
        #expect(ssh.newQualifiedName == "airflow.providers.ssh.operators.ssh.SSHOperator")
        #expect(ssh.providerPackage == "apache-airflow-providers-ssh")
        #expect(ssh.minProviderVersion == nil)
    }

    @Test(arguments: [
        ("3.0.6", "airflow.hooks.base.BaseHook"),
        ("3.1.0", "airflow.sdk.BaseHook"),
    ])
    func stopsAtHopsNewerThanTheTarget(airflow: String, expected: String) throws {
        let relocation = table.relocation(for: "airflow.hooks.base_hook.BaseHook", airflow: try airflowVersion(airflow))
        #expect(relocation?.newQualifiedName == expected)
        // Without a version every hop is followed.
        #expect(table.relocation(for: "airflow.hooks.base_hook.BaseHook")?.newQualifiedName == "airflow.sdk.BaseHook")
    }

    @Test func chainsAreBoundedAndCyclesEnd() {
        let loop = RelocationTable([
            Relocation(oldName: "airflow.a.X", kind: .movedInCore, newModule: "airflow.b", newName: "X", source: "test"),
            Relocation(oldName: "airflow.b.X", kind: .movedInCore, newModule: "airflow.a", newName: "X", source: "test"),
        ])
        #expect(loop.relocation(for: "airflow.a.X")?.newQualifiedName == "airflow.a.X")
        let long = RelocationTable((0..<20).map {
            Relocation(oldName: "airflow.m\($0).X", kind: .movedInCore, newModule: "airflow.m\($0 + 1)", newName: "X", source: "test")
        })
        #expect(long.relocation(for: "airflow.m0.X")?.newQualifiedName == "airflow.m8.X")
        #expect(long.count == 20)
    }

    @Test func earlierEntriesWin() {
        let table = RelocationTable([
            Relocation(oldName: "airflow.a.X", kind: .removed, source: "first"),
            Relocation(oldName: "airflow.a.X", kind: .movedInCore, newModule: "airflow.b", newName: "X", source: "second"),
        ])
        #expect(table.relocation(for: "airflow.a.X")?.source == "first")
        #expect(table.count == 1)
    }

    @Test func relocationsInAModuleRespectTheDotBoundary() {
        let ssh = table.relocations(inModule: "airflow.contrib.operators.ssh_operator")
        #expect(ssh.map(\.oldName) == ["airflow.contrib.operators.ssh_operator.SSHOperator"])
        #expect(table.relocations(inModule: "airflow.contrib").count > 400)
        #expect(!table.relocations(inModule: "airflow.operators.bash").contains { $0.oldName.contains("bash_operator") })
        #expect(table.relocations(inModule: "airflow.nothing.here").isEmpty)
    }

    @Test(arguments: [
        ("airflow.providers.cncf.kubernetes.operators.pod", "apache-airflow-providers-cncf-kubernetes"),
        ("airflow.providers.apache.hive.operators.hive", "apache-airflow-providers-apache-hive"),
        ("airflow.providers.common.sql.operators.sql", "apache-airflow-providers-common-sql"),
        ("airflow.providers.microsoft.azure.hooks.wasb", "apache-airflow-providers-microsoft-azure"),
        ("airflow.providers.amazon.aws.hooks.s3", "apache-airflow-providers-amazon"),
        ("airflow.providers.google.cloud.operators.bigquery", "apache-airflow-providers-google"),
        ("airflow.providers.dbt.cloud.operators.dbt", "apache-airflow-providers-dbt-cloud"),
        ("airflow.providers.ssh", "apache-airflow-providers-ssh"),
        ("airflow.providers.apache_beam.x", "apache-airflow-providers-apache-beam"),
    ])
    func derivesProviderPackages(module: String, expected: String) {
        #expect(RelocationTable.providerPackage(forModule: module) == expected)
    }

    @Test(arguments: ["airflow.operators.bash", "airflow.providers", "airflow", "providers.ssh.x", ""])
    func noProviderOutsideAirflowProviders(module: String) {
        #expect(RelocationTable.providerPackage(forModule: module) == nil)
    }
}

@Suite struct FailureClassifierTests {
    @Test func timeoutsAndCrashes() throws {
        let classifier = try makeClassifier()
        let timeout = classifier.classify(DagFileParse(path: "dags/slow.py", outcome: .timeout,
                                                       error: .init(type: "Timeout", message: "DAG file import did not finish within 30s")),
                                          sourceLine: nil)
        #expect(timeout.category == .timeout)
        #expect(timeout.fix?.summary == "The file took longer than the parse timeout; move slow work (network, DB) out of top-level code")
        let crash = classifier.classify(DagFileParse(path: "dags/c.py", outcome: .crash,
                                                     error: .init(type: "Crash", message: "child killed by signal 11")),
                                        sourceLine: nil)
        #expect(crash.category == .crash)
        #expect(crash.fix == nil)
    }

    struct ImportCase: Sendable, CustomTestStringConvertible {
        var type = "ModuleNotFoundError"
        var message: String
        var line: String?
        var category: FailureCategory
        var newImport: String?
        var requirement: String?
        var summaryContains: String
        var testDescription: String { message }
    }

    @Test(arguments: [
        // Real messages from Airflow 3.0.6 / 3.1.0 (data/dag-fixtures).
        ImportCase(message: "No module named 'airflow.operators.bash_operator'",
                   line: "from airflow.operators.bash_operator import BashOperator  # 1.10-style path",
                   category: .airflowApiMoved, newImport: "from airflow.providers.standard.operators.bash import BashOperator",
                   requirement: "apache-airflow-providers-standard>=0.0.1",
                   summaryContains: "Import `BashOperator` from `airflow.providers.standard.operators.bash`"),
        ImportCase(message: "No module named 'airflow.contrib'",
                   line: "from airflow.contrib.operators.ssh_operator import SSHOperator  # airflow.contrib path",
                   category: .airflowApiMoved, newImport: "from airflow.providers.ssh.operators.ssh import SSHOperator",
                   requirement: "apache-airflow-providers-ssh", summaryContains: "`airflow.providers.ssh.operators.ssh`"),
        ImportCase(message: "No module named 'airflow.operators.subdag'",
                   line: "from airflow.operators.subdag import SubDagOperator",
                   category: .airflowApiRemoved, summaryContains: "The whole `airflow.subdag` module has been removed."),
        // Module gone, nothing known about the name.
        ImportCase(message: "No module named 'airflow.contrib'", line: "from airflow.contrib.nothing import Nope",
                   category: .airflowApiRemoved, summaryContains: "`airflow.contrib` does not exist in Airflow 3.0.6"),
        ImportCase(message: "No module named 'airflow.contrib'", line: nil, category: .airflowApiRemoved,
                   summaryContains: "`airflow.contrib` was removed in Airflow 3.0.6; its names moved to"),
        // Whole-module import with a single destination.
        ImportCase(message: "No module named 'airflow.contrib'", line: "import airflow.contrib.operators.ssh_operator",
                   category: .airflowApiMoved, newImport: "import airflow.providers.ssh.operators.ssh",
                   requirement: "apache-airflow-providers-ssh", summaryContains: "`airflow.providers.ssh.operators.ssh`"),
        // Several names, one with an alias, all moving to one module.
        ImportCase(message: "No module named 'airflow.operators.python_operator'",
                   line: "from airflow.operators.python_operator import PythonOperator as PO, BranchPythonOperator",
                   category: .airflowApiMoved,
                   newImport: "from airflow.providers.standard.operators.python import PythonOperator as PO, BranchPythonOperator",
                   requirement: "apache-airflow-providers-standard>=0.0.1", summaryContains: "Import `BranchPythonOperator`"),
        // Known and unknown names in one statement.
        ImportCase(message: "No module named 'airflow.contrib'",
                   line: "from airflow.contrib.operators.ssh_operator import SSHOperator, Mystery",
                   category: .airflowApiMoved, newImport: "from airflow.providers.ssh.operators.ssh import SSHOperator",
                   requirement: "apache-airflow-providers-ssh",
                   summaryContains: "; no known replacement for `airflow.contrib.operators.ssh_operator.Mystery`"),
        // Renamed on the way.
        ImportCase(message: "No module named 'airflow.operators.dummy'", line: "from airflow.operators.dummy import DummyOperator",
                   category: .airflowApiMoved, newImport: "from airflow.providers.standard.operators.empty import EmptyOperator",
                   requirement: "apache-airflow-providers-standard>=0.0.2", summaryContains: "`EmptyOperator` (was `DummyOperator`)"),
        // `cannot import name`: removed with ruff's help, moved into the Task SDK, moved to an attribute.
        ImportCase(type: "ImportError", message: "cannot import name 'days_ago' from 'airflow.utils.dates' (/venv/airflow/utils/dates.py)",
                   line: "from airflow.utils.dates import days_ago", category: .airflowApiRemoved,
                   summaryContains: "Use `pendulum.today('UTC').add(days=-N, ...)` instead"),
        ImportCase(type: "ImportError", message: "cannot import name 'Dataset' from 'airflow.datasets' (unknown location)",
                   line: "from airflow.datasets import Dataset", category: .airflowApiMoved,
                   newImport: "from airflow.sdk import Asset", requirement: "apache-airflow-task-sdk>=1.0.0",
                   summaryContains: "Import `Asset` (was `Dataset`) from `airflow.sdk`"),
        ImportCase(type: "ImportError", message: "cannot import name 'get' from 'airflow.configuration'",
                   line: "from airflow.configuration import get", category: .airflowApiMoved,
                   newImport: "from airflow.configuration import conf", summaryContains: "`conf.get`"),
        // The line names something else: fall back to the name in the message.
        ImportCase(type: "ImportError", message: "cannot import name 'get' from 'airflow.configuration'",
                   line: "x = 1", category: .airflowApiMoved,
                   newImport: "from airflow.configuration import conf", summaryContains: "`conf.get`"),
        ImportCase(type: "ImportError", message: "cannot import name 'Gone' from 'airflow.models'",
                   line: "from airflow.models import Gone", category: .airflowApiRemoved,
                   summaryContains: "`airflow.models.Gone` does not exist in Airflow 3.0.6"),
    ])
    func airflowImports(_ example: ImportCase) throws {
        let result = try makeClassifier().classify(failedParse(example.type, example.message), sourceLine: example.line)
        #expect(result.category == example.category)
        #expect(result.fix?.newImport == example.newImport)
        #expect(result.fix?.requirement == example.requirement)
        #expect(result.fix?.summary.contains(example.summaryContains) == true, "\(result.fix?.summary ?? "no fix")")
    }

    @Test(arguments: [
        ("", "apache-airflow-providers-standard>=0.0.1"),
        ("apache-airflow-providers-standard==1.0.0\n", nil),
        ("apache_airflow_providers_standard==0.0.1\n", nil),
        ("apache-airflow-providers-standard==0.0.1a1\n", "apache-airflow-providers-standard>=0.0.1"),
        ("apache-airflow-providers-standard @ file:///wheels/standard.whl\n", nil),
    ] as [(String, String?)])
    func requirementOnlyWhenTheTargetLacksIt(pins: String, requirement: String?) throws {
        let result = try makeClassifier(pins: pins).classify(failedParse("ModuleNotFoundError", "No module named 'airflow.operators.bash_operator'"),
                                                         sourceLine: "from airflow.operators.bash_operator import BashOperator")
        #expect(result.category == .airflowApiMoved)
        #expect(result.fix?.requirement == requirement)
    }

    @Test(arguments: [
        ("No module named 'snowflake'", nil as String?, "import snowflake.connector  # not installed: dependency missing from requirements" as String?, "snowflake-connector-python"),
        ("No module named 'snowflake'", nil, "from snowflake.sqlalchemy import URL", "snowflake-sqlalchemy"),
        ("No module named 'yaml'", nil, "import yaml", "PyYAML"),
        ("No module named 'sklearn'", nil, "from sklearn.linear_model import LinearRegression", "scikit-learn"),
        ("No module named 'cv2'", nil, nil, "opencv-python"),
        ("No module named 'PIL'", nil, "from PIL import Image", "Pillow"),
        ("No module named 'bs4'", nil, nil, "beautifulsoup4"),
        ("No module named 'dateutil'", nil, "from dateutil.relativedelta import relativedelta", "python-dateutil"),
        ("No module named 'psycopg2'", nil, nil, "psycopg2-binary"),
        ("No module named 'MySQLdb'", nil, nil, "mysqlclient"),
        ("No module named 'jwt'", nil, nil, "PyJWT"),
        ("No module named 'dotenv'", nil, "from dotenv import load_dotenv", "python-dotenv"),
        ("No module named 'google'", nil, "from google.cloud import bigquery", "google-cloud-bigquery"),
        ("No module named 'google.cloud.storage'", nil, "from google.cloud.storage import Client", "google-cloud-storage"),
        ("No module named 'azure'", nil, "from azure.storage.blob import BlobServiceClient", "azure-storage-blob"),
        ("No module named 'requests_toolbelt'", nil, nil, "requests_toolbelt"),
        ("No module named 'foo.bar'", "foo", "import foo.bar", "foo"),
        // The harness's `missingModule` wins over the message.
        ("something else entirely", "pandas", nil, "pandas"),
        // Providers.
        ("No module named 'airflow.providers.standard'", nil, "from airflow.providers.standard.operators.bash import BashOperator",
         "apache-airflow-providers-standard"),
        ("No module named 'airflow.providers.apache'", nil, "from airflow.providers.apache.hive.operators.hive import HiveOperator",
         "apache-airflow-providers-apache-hive"),
        ("No module named 'airflow.providers.cncf'", nil, "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator",
         "apache-airflow-providers-cncf-kubernetes"),
    ])
    func missingDependencies(message: String, missingModule: String?, line: String?, requirement: String) throws {
        let result = try makeClassifier().classify(failedParse("ModuleNotFoundError", message, missingModule: missingModule), sourceLine: line)
        #expect(result.category == .missingDependency)
        #expect(result.fix?.requirement == requirement)
        #expect(result.fix?.summary.contains("`\(requirement)`") == true)
    }

    @Test func airflowTwoShimsReportTheMissingProvider() throws {
        // Real message from Airflow 2.10.5 (data/dag-fixtures/contrib_dag.py).
        let message = "Could not import `airflow.providers.ssh.operators.ssh.SSHOperator` while trying to import `airflow.contrib.operators.ssh_operator.SSHOperator`."
        let result = try makeClassifier(airflow: "2.10.5").classify(failedParse("ImportError", message),
                                                                sourceLine: "from airflow.contrib.operators.ssh_operator import SSHOperator")
        #expect(result.category == .missingDependency)
        #expect(result.fix?.requirement == "apache-airflow-providers-ssh")
        #expect(result.fix?.newImport == "from airflow.providers.ssh.operators.ssh import SSHOperator")
    }

    @Test func aProviderThatIsInstalledButLacksTheModuleIsAnApiChange() throws {
        let result = try makeClassifier(pins: "apache-airflow-providers-amazon==9.0.0\n").classify(
            failedParse("ModuleNotFoundError", "No module named 'airflow.providers.amazon.aws.datasets'"),
            sourceLine: "from airflow.providers.amazon.aws.datasets.s3 import create_dataset")
        #expect(result.category == .airflowApiMoved)
        #expect(result.fix?.newImport == "from airflow.providers.amazon.aws.assets.s3 import create_asset")
        #expect(result.fix?.requirement == nil)
    }

    @Test(arguments: [
        ("DAG.__init__() got an unexpected keyword argument 'schedule_interval'", "Replace `schedule_interval=` with `schedule=`"),
        ("DAG.__init__() got an unexpected keyword argument 'timetable'", "Replace `timetable=` with `schedule=`"),
        ("DAG.__init__() got an unexpected keyword argument 'concurrency'", "Replace `concurrency=` with `max_active_tasks=`"),
        ("DAG.__init__() got an unexpected keyword argument 'full_filepath'", "Remove `full_filepath=`"),
        ("DAG.__init__() got an unexpected keyword argument 'sla_miss_callback'", "Remove `sla_miss_callback=`"),
        ("BashOperator.__init__() got an unexpected keyword argument 'foo_bar'",
         "Remove or rename `foo_bar=`: `BashOperator` no longer accepts it in Airflow 3.0.6"),
        ("__init__() got an unexpected keyword argument 'foo_bar'",
         "Remove or rename `foo_bar=`: The callable no longer accepts it in Airflow 3.0.6"),
        ("make_tasks() got an unexpected keyword argument \"x\"", "Remove or rename `x=`: `make_tasks` no longer accepts it"),
        ("Invalid arguments were passed to PythonOperator (task_id: t). Invalid arguments were:\n**kwargs: {'provide_context': True}",
         "Remove `provide_context=`"),
        ("Invalid arguments were passed to PythonOperator (task_id: t). Invalid arguments were:\n**kwargs: {'provide_context': True, 'weird': 'a'}",
         "Remove `provide_context=`: the context is passed to callables that accept `**context`; Remove or rename `weird=`: `PythonOperator`"),
    ])
    func signatureChanges(message: String, summary: String) throws {
        let result = try makeClassifier().classify(failedParse("TypeError", message), sourceLine: nil)
        #expect(result.category == .signatureChange)
        #expect(result.fix?.summary.contains(summary) == true, "\(result.fix?.summary ?? "no fix")")
        #expect(result.fix?.newImport == nil)
    }

    /// The 3.3 harness bug: `DagBag.__init__()` rejected `include_examples`, raised outside the DAG file.
    @Test func aTypeErrorWithNoLineInTheFileIsNotASignatureChange() throws {
        let parse = failedParse("TypeError", "DagBag.__init__() got an unexpected keyword argument 'include_examples'", line: nil)
        let result = try makeClassifier().classify(parse, sourceLine: nil)
        #expect(result.category == .other)
        #expect(result.fix == nil)
    }

    @Test(arguments: [
        ("ValueError", "invalid literal for int() with base 10: 'x'"),
        ("ImportError", "cannot import name 'read_csv' from 'pandas' (/venv/pandas/__init__.py)"),
        ("AirflowDagCycleException", "Cycle detected in DAG: a"),
        ("TypeError", "unsupported operand type(s) for +: 'int' and 'str'"),
    ])
    func everythingElseIsOther(type: String, message: String) throws {
        let result = try makeClassifier().classify(failedParse(type, message), sourceLine: "x = 1")
        #expect(result.category == .other)
        #expect(result.fix == nil)
    }

    @Test(arguments: ["include", "include.helpers", "plugins.custom"])
    func projectFoldersAreNotDependencies(module: String) throws {
        let result = try makeClassifier().classify(failedParse("ModuleNotFoundError", "No module named '\(module)'"),
                                                   sourceLine: "from \(module) import thing")
        #expect(result.category == .other)
        #expect(result.fix?.requirement == nil)
        #expect(result.fix?.summary.contains("is not in the project") == true)
    }

    @Test func errorOutcomeWithoutDetailsIsOther() throws {
        let result = try makeClassifier().classify(DagFileParse(path: "dags/x.py", outcome: .error), sourceLine: nil)
        #expect(result.category == .other)
    }

    @Test(arguments: [
        ("from a.b import C", [FailureClassifier.ImportStatement(module: "a.b", names: [.init(name: "C", alias: nil)])]),
        ("from a import B as C, D  # note", [.init(module: "a", names: [.init(name: "B", alias: "C"), .init(name: "D", alias: nil)])]),
        ("from a import (B,", [.init(module: "a", names: [.init(name: "B", alias: nil)])]),
        ("import a.b as x, c", [.init(module: "a.b", names: []), .init(module: "c", names: [])]),
        ("import os; from a import *", [.init(module: "os", names: []), .init(module: "a", names: [.init(name: "*", alias: nil)])]),
        ("    from a import b", [.init(module: "a", names: [.init(name: "b", alias: nil)])]),
        ("from . import helpers", []),
        ("x = importlib.import_module('a')", []),
        ("", []),
    ])
    func parsesImportStatements(line: String, statements: [FailureClassifier.ImportStatement]) {
        #expect(FailureClassifier.importStatements(line) == statements)
    }
}
