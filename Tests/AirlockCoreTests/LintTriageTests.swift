import AirlockCore
import PythonPackaging
import Testing

/// A lint finding fails only the targets it applies to; ruff's messages say from which Airflow.
@Suite struct LintTriageTests {
    // Messages as ruff 0.17.6 prints them for examples/astro-project.
    let moved31 = LintFinding(file: "dags/a.py", line: 3, column: 1, rule: "AIR321",
                              message: "`airflow.hooks.base.BaseHook` is moved in Airflow 3.1", fixable: true)
    let removed30 = LintFinding(file: "dags/b.py", line: 5, column: 5, rule: "AIR301",
                                message: "`schedule_interval` is removed in Airflow 3.0", fixable: true)
    let noVersion = LintFinding(file: "dags/c.py", line: 1, column: 1, rule: "syntax-error", message: "Expected an expression", fixable: false)

    @Test func theVersionComesFromTheMessage() {
        #expect(moved31.appliesFromAirflow == Version("3.1"))
        #expect(removed30.appliesFromAirflow == Version("3.0"))
        #expect(noVersion.appliesFromAirflow == nil)
    }

    @Test(arguments: [("3.0.6", ["AIR301", "syntax-error"], ["AIR321"]),
                      ("3.1.0", ["AIR301", "AIR321", "syntax-error"], []),
                      ("3.3.2", ["AIR301", "AIR321", "syntax-error"], [])])
    func laterFindingsAreHeadsUpsNotFailures(target: String, failing: [String], headsUp: [String]) throws {
        let lint = UpgradeTestReport.LintTest(rules: ["AIR301", "AIR321"], findings: [moved31, removed30, noVersion],
                                              target: try #require(Version(target)))
        #expect(lint.findings.map(\.rule).sorted() == failing)
        #expect((lint.headsUp ?? []).map(\.rule) == headsUp)
        #expect(lint.status == "failed")
    }

    @Test func onlyHeadsUpsPass() throws {
        let lint = UpgradeTestReport.LintTest(rules: ["AIR321"], findings: [moved31], target: try #require(Version("3.0.6")))
        #expect(lint.passed)
        #expect(lint.status == "passed")
        #expect(lint.headsUp?.count == 1)
    }
}
