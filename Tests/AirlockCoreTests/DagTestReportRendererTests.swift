import AirlockCore
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

@Suite struct DagTestReportRendererTests {
    static let input = DagTestReportInput(
        currentLabel: "12.6.0", targetLabel: "3.0-7", generatedAt: "2026-01-02T03:04:05Z",
        verdicts: [
            DagFileVerdict(path: "dags/passed.py", status: .passed, dagIds: ["valid_dag"],
                           warnings: ["3: DeprecationWarning: The `airflow.operators.bash.BashOperator` class is deprecated."]),
            DagFileVerdict(path: "dags/legacy.py", status: .regression, category: .airflowApiMoved,
                           error: "ModuleNotFoundError: No module named 'airflow.operators.bash_operator'", line: 3,
                           fix: DagFix(summary: "Import `BashOperator` from `airflow.providers.standard.operators.bash`",
                                       newImport: "from airflow.providers.standard.operators.bash import BashOperator",
                                       requirement: "apache-airflow-providers-standard>=0.0.1")),
            DagFileVerdict(path: "dags/evil<script>.py", status: .regression, category: .other,
                           error: "ValueError: <script>alert('x & \"y\"')</script>\u{1B}[0m", line: 7),
            DagFileVerdict(path: "dags/snow.py", status: .preexisting, category: .missingDependency,
                           error: "ModuleNotFoundError: No module named 'snowflake'",
                           fix: DagFix(summary: "Add `snowflake-connector-python` to requirements.txt", requirement: "snowflake-connector-python"),
                           currentError: "ModuleNotFoundError: No module named 'snowflake'"),
            DagFileVerdict(path: "dags/skip.py", status: .exempt, category: .timeout, error: "Timed out after the parse timeout"),
        ],
        lintFindings: [LintFinding(file: "dags/legacy.py", line: 3, column: 1, rule: "AIR302",
                                   message: "`airflow.operators.bash.BashOperator` is moved into `standard` provider", fixable: true)],
        database: DatabaseCheck(currentHead: "5f2621c13b39", targetHead: "29ce7909c52b", direction: .upgrade,
                                migrations: [DatabaseMigration(revision: "29ce7909c52b", description: "Change TI table <structure>",
                                                               airflowVersion: "3.0.0")],
                                warning: nil),
        parseSeconds: ["dags/legacy.py": 1.25, "dags/passed.py": 0.5])

    // MARK: - HTML

    @Test func htmlIsSelfContainedAndOrdered() throws {
        let html = DagTestReportRenderer.html(Self.input)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<title>DAG test 12.6.0 → 3.0-7</title>"))
        #expect(html.contains("<style>"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("http://") && !html.contains("https://"))
        #expect(!html.contains("<link"))

        // Regressions, then pre-existing, exempt, passed, warnings, lint, database.
        let markers = ["id=\"regressions\"", "dags/legacy.py", "id=\"preexisting\"", "dags/snow.py", "id=\"exempt\"", "dags/skip.py",
                       "id=\"passed\"", "valid_dag", "id=\"warnings\"", "id=\"lint\"", "AIR302", "id=\"database\"", "29ce7909c52b"]
        var cursor = html.startIndex
        for marker in markers {
            let found = try #require(html.range(of: marker, range: cursor..<html.endIndex), "\(marker) out of order")
            cursor = found.upperBound
        }
    }

    @Test func htmlShowsCountsFixesAndDatabase() {
        let html = DagTestReportRenderer.html(Self.input)
        #expect(html.contains("<span class=\"count\">2</span> Regressions"))
        #expect(html.contains("<span class=\"count\">1</span> Pre-existing"))
        #expect(html.contains("<span class=\"count\">1</span> Exempt"))
        #expect(html.contains("<span class=\"count\">1</span> Passed"))
        #expect(html.contains("<code>from airflow.providers.standard.operators.bash import BashOperator</code>"))
        #expect(html.contains("<code>apache-airflow-providers-standard&gt;=0.0.1</code>"))
        #expect(html.contains("Import <code>BashOperator</code> from <code>airflow.providers.standard.operators.bash</code>"))
        #expect(html.contains("<code>airflow-api-moved</code>"))
        #expect(html.contains("line 3"))
        #expect(html.contains("<code>dags/legacy.py:3:1</code>"))
        #expect(html.contains("runs 1 migration"))
        #expect(html.contains("Change TI table &lt;structure&gt;"))
    }

    @Test func htmlEscapesUserText() {
        let html = DagTestReportRenderer.html(Self.input)
        #expect(html.contains("ValueError: &lt;script&gt;alert(&#39;x &amp; &quot;y&quot;&#39;)&lt;/script&gt;[0m"))
        #expect(html.contains("<code>dags/evil&lt;script&gt;.py</code>"))
        #expect(!html.contains("<script>"))
        #expect(!html.contains("\u{1B}"))
    }

    @Test func htmlForACleanRunAndDowngrade() {
        let input = DagTestReportInput(
            currentLabel: "a", targetLabel: "b", generatedAt: "now",
            verdicts: [DagFileVerdict(path: "dags/a.py", status: .passed)],
            database: DatabaseCheck(currentHead: "x", targetHead: "y", direction: .downgrade, migrations: [],
                                    warning: DatabaseCheck.downgradeWarning))
        let html = DagTestReportRenderer.html(input)
        #expect(html.contains("No regressions"))
        #expect(html.contains("The schema goes down"))
        #expect(html.contains("<code>airflow db downgrade</code>"))
        #expect(html.contains("no DAGs"))
        #expect(DagTestReportRenderer.html(DagTestReportInput(currentLabel: "a", targetLabel: "b", generatedAt: "now", verdicts: []))
                    .contains("Not checked."))
    }

    // MARK: - JUnit

    static func parse(_ xml: String) throws -> XMLElement {
        let document = try XMLDocument(data: Data(xml.utf8))
        return try #require(document.rootElement())
    }

    static func attribute(_ element: XMLElement?, _ name: String) -> String? {
        element?.attribute(forName: name)?.stringValue
    }

    @Test(arguments: [(false, 2), (true, 3)])
    func junitIsWellFormedWithCounts(strict: Bool, failures: Int) throws {
        let root = try Self.parse(DagTestReportRenderer.junit(Self.input, strict: strict))
        #expect(root.name == "testsuites")
        let suites = root.elements(forName: "testsuite")
        #expect(suites.count == 1)
        let suite = suites.first
        #expect(Self.attribute(suite, "name") == "dag-import 12.6.0--3.0-7")
        #expect(Self.attribute(suite, "tests") == "5")
        #expect(Self.attribute(suite, "failures") == "\(failures)")
        #expect(Self.attribute(suite, "skipped") == "1")
        #expect(Self.attribute(suite, "time") == "1.750")

        let cases = suite?.elements(forName: "testcase") ?? []
        #expect(cases.count == 5)
        #expect(cases.allSatisfy { Self.attribute($0, "classname") == "dags" })
        #expect(cases.reduce(0) { $0 + $1.elements(forName: "failure").count } == failures)
        let byName = Dictionary(uniqueKeysWithValues: cases.map { (Self.attribute($0, "name") ?? "", $0) })
        #expect(Self.attribute(byName["dags/legacy.py"], "time") == "1.250")
        #expect(Self.attribute(byName["dags/snow.py"], "time") == "0.000")

        let failure = byName["dags/legacy.py"]?.elements(forName: "failure").first
        #expect(Self.attribute(failure, "type") == "airflow-api-moved")
        #expect(Self.attribute(failure, "message") == "ModuleNotFoundError: No module named 'airflow.operators.bash_operator'")
        #expect(failure?.stringValue?.contains("from airflow.providers.standard.operators.bash import BashOperator") == true)
        #expect(failure?.stringValue?.contains("apache-airflow-providers-standard>=0.0.1") == true)

        let evil = byName["dags/evil<script>.py"]?.elements(forName: "failure").first
        #expect(Self.attribute(evil, "message") == "ValueError: <script>alert('x & \"y\"')</script>[0m")

        let snow = byName["dags/snow.py"]
        #expect(snow?.elements(forName: "failure").isEmpty == !strict)
        #expect(snow?.elements(forName: "system-out").isEmpty == strict)

        let skipped = byName["dags/skip.py"]?.elements(forName: "skipped").first
        #expect(Self.attribute(skipped, "message") == "exempt")
        #expect(byName["dags/passed.py"]?.children?.isEmpty ?? true)
    }

    @Test func junitKeepsLineBreaksInAttributes() throws {
        let input = DagTestReportInput(currentLabel: "a", targetLabel: "b", generatedAt: "now", verdicts: [
            DagFileVerdict(path: "dags/a.py", status: .regression, category: .signatureChange,
                           error: "TypeError: Invalid arguments were:\n**kwargs: {'provide_context': True}"),
        ])
        let root = try Self.parse(DagTestReportRenderer.junit(input))
        let failure = root.elements(forName: "testsuite").first?.elements(forName: "testcase").first?.elements(forName: "failure").first
        #expect(Self.attribute(failure, "message") == "TypeError: Invalid arguments were:\n**kwargs: {'provide_context': True}")
        #expect(Self.attribute(failure, "type") == "signature-change")
    }
}
