import AirlockCore
import Testing

@Suite struct DagTestComparerTests {
    static func ok(_ path: String, dags: [String] = []) -> DagFileParse {
        DagFileParse(path: path, outcome: .ok, dagIds: dags)
    }

    static func broken(_ path: String, _ message: String = "No module named 'x'") -> DagFileParse {
        DagFileParse(path: path, outcome: .error, error: .init(type: "ModuleNotFoundError", message: message, line: 3))
    }

    static func classifyAsOther(_ file: DagFileParse) -> (category: FailureCategory, fix: DagFix?) { (.other, nil) }

    @Test(arguments: [
        // (target fails, today: nil = no baseline / "missing" = not in baseline / "ok" / "fails", exempt, expected)
        (false, "ok", false, DagFileStatus.passed),
        (false, "fails", false, .passed),
        (true, "ok", false, .regression),
        (true, "fails", false, .preexisting),
        (true, "missing", false, .regression),
        (true, "none", false, .regression),
        (false, "none", false, .passed),
        (true, "ok", true, .exempt),
        (true, "fails", true, .exempt),
        (false, "ok", true, .exempt),
    ])
    func statusFromBothSides(targetFails: Bool, today: String, exempt: Bool, expected: DagFileStatus) {
        let path = "dags/a.py"
        let target = [targetFails ? Self.broken(path) : Self.ok(path)]
        let current: [DagFileParse]? = switch today {
        case "ok": [Self.ok(path)]
        case "fails": [Self.broken(path)]
        case "missing": [Self.ok("dags/other.py")]
        default: nil
        }
        let verdicts = DagTestComparer.verdicts(target: target, current: current, exempt: exempt ? [path] : [],
                                                classify: Self.classifyAsOther)
        #expect(verdicts.map(\.status) == [expected])
    }

    @Test func classifiesEveryTargetFailureAndOnlyThose() {
        var classified: [String] = []
        let verdicts = DagTestComparer.verdicts(
            target: [Self.ok("dags/ok.py"), Self.broken("dags/new.py"), Self.broken("dags/old.py"), Self.broken("dags/skip.py")],
            current: [Self.ok("dags/ok.py"), Self.ok("dags/new.py"), Self.broken("dags/old.py", "boom")],
            exempt: ["./dags/skip.py"]) { file in
                classified.append(file.path)
                return (.missingDependency, DagFix(summary: "Add `x`", requirement: "x"))
            }
        #expect(classified.sorted() == ["dags/new.py", "dags/old.py", "dags/skip.py"])
        #expect(verdicts.map(\.path) == ["dags/new.py", "dags/old.py", "dags/skip.py", "dags/ok.py"])
        #expect(verdicts.map(\.status) == [.regression, .preexisting, .exempt, .passed])
        #expect(verdicts[0].category == .missingDependency)
        #expect(verdicts[0].fix?.requirement == "x")
        #expect(verdicts[0].currentError == nil)
        #expect(verdicts[1].currentError == "ModuleNotFoundError: boom")
        #expect(verdicts[3].category == nil)
        #expect(verdicts[3].error == nil)
    }

    @Test func sortsByStatusThenPath() {
        let verdicts = DagTestComparer.verdicts(
            target: [Self.ok("dags/a.py"), Self.broken("dags/z.py"), Self.broken("dags/b.py"), Self.broken("dags/c.py"), Self.ok("dags/e.py")],
            current: [Self.broken("dags/c.py")], exempt: ["dags/e.py"], classify: Self.classifyAsOther)
        #expect(verdicts.map(\.path) == ["dags/b.py", "dags/z.py", "dags/c.py", "dags/e.py", "dags/a.py"])
    }

    @Test func copiesErrorLineDagIdsAndWarnings() {
        var target = Self.broken("dags/a.py", "No module named 'airflow.contrib'")
        target.dagIds = ["a"]
        target.warnings = [
            .init(category: "DeprecationWarning", message: "The `airflow.operators.bash.BashOperator` class is deprecated.", line: 3),
            .init(category: "RemovedInAirflow3Warning", message: "elsewhere"),
        ]
        let verdict = DagTestComparer.verdicts(target: [target], current: nil, exempt: [], classify: Self.classifyAsOther)[0]
        #expect(verdict.error == "ModuleNotFoundError: No module named 'airflow.contrib'")
        #expect(verdict.line == 3)
        #expect(verdict.dagIds == ["a"])
        #expect(verdict.warnings == ["3: DeprecationWarning: The `airflow.operators.bash.BashOperator` class is deprecated.",
                                     "RemovedInAirflow3Warning: elsewhere"])
    }

    @Test(arguments: [
        (DagFileParse.Outcome.timeout, "Timeout", "DAG file import did not finish within 30s", "Timed out after 30s (the parse timeout)"),
        (.timeout, "Timeout", "", "Timed out after the parse timeout"),
        (.crash, "Crash", "child exited with code 3 without a result", "The interpreter exited with status 3 while importing the file"),
        (.crash, "Crash", "child killed by signal 11", "The interpreter was killed by signal 11 while importing the file"),
        (.crash, "Crash", "child exited with code None without a result", "The interpreter exited while importing the file"),
        (.error, "SyntaxError", "invalid syntax", "SyntaxError: invalid syntax"),
    ])
    func errorSummaries(outcome: DagFileParse.Outcome, type: String, message: String, expected: String) {
        let file = DagFileParse(path: "dags/a.py", outcome: outcome, error: .init(type: type, message: message))
        let verdict = DagTestComparer.verdicts(target: [file], current: [Self.ok("dags/a.py")], exempt: [],
                                               classify: Self.classifyAsOther)[0]
        #expect(verdict.status == .regression)
        #expect(verdict.error == expected)
    }

    @Test func aCrashWithoutDetailsStillReads() {
        let file = DagFileParse(path: "dags/a.py", outcome: .crash)
        #expect(DagTestComparer.errorSummary(file) == "The interpreter exited while importing the file")
        #expect(DagTestComparer.errorSummary(Self.ok("dags/a.py")) == nil)
    }

    @Test func endToEndWithTheClassifier() throws {
        // The fixtures' Airflow 2.10.5 → 3.0.6 outcomes.
        let current = [Self.ok("dags/legacy_bash_operator.py"), Self.ok("dags/valid_dag.py"),
                       Self.broken("dags/missing_pkg_dag.py", "No module named 'snowflake'")]
        let target = [
            DagFileParse(path: "dags/legacy_bash_operator.py", outcome: .error,
                         error: .init(type: "ModuleNotFoundError", message: "No module named 'airflow.operators.bash_operator'", line: 3)),
            Self.ok("dags/valid_dag.py", dags: ["valid_dag"]),
            DagFileParse(path: "dags/missing_pkg_dag.py", outcome: .error,
                         error: .init(type: "ModuleNotFoundError", message: "No module named 'snowflake'", line: 3, missingModule: "snowflake")),
        ]
        let lines = ["dags/legacy_bash_operator.py": "from airflow.operators.bash_operator import BashOperator",
                     "dags/missing_pkg_dag.py": "import snowflake.connector"]
        let classifier = try makeClassifier(pins: "apache-airflow-providers-standard==1.2.0\n")
        let verdicts = DagTestComparer.verdicts(target: target, current: current, exempt: []) { file in
            classifier.classify(file, sourceLine: lines[file.path])
        }
        #expect(verdicts.map(\.status) == [.regression, .preexisting, .passed])
        #expect(verdicts[0].category == .airflowApiMoved)
        #expect(verdicts[0].fix?.newImport == "from airflow.providers.standard.operators.bash import BashOperator")
        #expect(verdicts[0].fix?.requirement == nil)
        #expect(verdicts[1].category == .missingDependency)
        #expect(verdicts[1].fix?.requirement == "snowflake-connector-python")
        #expect(verdicts[2].dagIds == ["valid_dag"])
    }
}
