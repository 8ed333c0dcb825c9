import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import AirlockUpgradeTest
import Foundation
import Testing

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [ProgressEvent] = []
    func append(_ event: ProgressEvent) { lock.lock(); events.append(event); lock.unlock() }
    var warnings: [String] {
        lock.lock(); defer { lock.unlock() }
        return events.compactMap { if case .warning(let text) = $0 { return text } else { return nil } }
    }
    var finished: [String] {
        lock.lock(); defer { lock.unlock() }
        return events.compactMap { if case .finished(let text, _) = $0 { return text } else { return nil } }
    }
}

@Suite struct UpgradeTestRunnerTests {
    @Test func severalTargetsEachGetAFolderAndDowngradesAreWarned() async throws {
        let project = try TestSupport.scratchFolder("airlock-runner")
        try TestSupport.writeTree([
            "Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n",
            "requirements.txt": "requests>=2.0\n",
        ], under: project)
        let log = EventLog()
        let options = UpgradeTestOptions(
            project: project, targets: [TargetRequest(airflowVersion: "3.0.6"), TargetRequest(airflowVersion: "2.9.2")],
            runVersionTest: true, runConflictTest: true, constraintsSource: TestSupport.constraintsMirror.path, today: "2026-11-22")
        let outcomes = try await UpgradeTestRunner(options: options, paths: TestSupport.sharedCache, progress: { log.append($0) }).run()
        #expect(outcomes.map(\.folder.lastPathComponent) == ["upgrade-test-2.10.5--3.0.6", "upgrade-test-2.10.5--2.9.2"])
        #expect(outcomes.allSatisfy { $0.report.passed })
        let downgrade = try #require(outcomes.last?.diff)
        #expect(downgrade.changes.contains { $0.name == "apache-airflow" && $0.kind == .downgrade })
        #expect(log.warnings.contains { $0.contains("tests a downgrade") })
        #expect(outcomes.first?.report.warnings.contains { $0.contains("downgrade") } == false)
        let summary = try String(contentsOf: project.appendingPathComponent("upgrade-summary.md"), encoding: .utf8)
        #expect(summary.contains("| 3.0.6 |"))
        #expect(summary.contains("| 2.9.2 |"))
        #expect(FileManager.default.fileExists(atPath: project.appendingPathComponent("upgrade-summary.json").path))
    }

    @Test func missingConstraintsFallBackToTheReleaseDate() async throws {
        let project = try TestSupport.scratchFolder("airlock-runner")
        try TestSupport.writeTree(["Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n"], under: project)
        let emptyMirror = try TestSupport.scratchFolder("airlock-mirror")
        let log = EventLog()
        let options = UpgradeTestOptions(project: project, targets: [TargetRequest(airflowVersion: "3.0.6")],
                                         runVersionTest: false, runConflictTest: true, constraintsSource: emptyMirror.path, today: "2026-11-22")
        let outcomes = try await UpgradeTestRunner(options: options, paths: TestSupport.sharedCache, progress: { log.append($0) }).run()
        let target = try #require(outcomes.first?.report.target)
        #expect(target.resolutionMode == "exclude-newer")
        #expect(target.excludeNewer != nil)
        #expect(log.warnings.contains { $0.contains("--exclude-newer") })
    }
}

@Suite struct LintTests {
    func project() throws -> URL {
        let root = try TestSupport.scratchFolder("airlock-lint")
        try TestSupport.writeTree([
            "Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n",
            "dags/old.py": """
            from datetime import datetime
            from airflow import DAG
            from airflow.operators.bash_operator import BashOperator

            with DAG(dag_id="old", start_date=datetime(2024, 1, 1), schedule_interval="@daily"):
                BashOperator(task_id="t", bash_command="echo")

            """,
        ], under: root)
        return root
    }

    func options(_ root: URL, fix: Bool = false, inPlace: Bool = false, target: String = "3.0.6", explicit: Bool = false) throws -> UpgradeTestOptions {
        var options = UpgradeTestOptions(project: root, output: try TestSupport.scratchFolder("airlock-lint-out"),
                                         targets: [TargetRequest(airflowVersion: target)], runVersionTest: false, runConflictTest: false,
                                         constraintsSource: TestSupport.constraintsMirror.path, today: "2026-11-22")
        options.runLintTest = explicit
        options.fix = fix
        options.fixInPlace = inPlace
        return options
    }

    @Test func findsAirflow3RemovalsAndWritesFixesToACopy() async throws {
        let root = try project()
        let before = TestSupport.snapshot(root)
        let outcome = try #require(try await UpgradeTestRunner(options: options(root, fix: true), paths: TestSupport.sharedCache, progress: { _ in }).run().first)
        let lint = try #require(outcome.report.lintTest)
        #expect(lint.status == "failed")
        #expect(Set(lint.findings.map(\.rule)).isSuperset(of: ["AIR301", "AIR302"]))
        #expect(lint.findings.allSatisfy { $0.file == "dags/old.py" })
        let text = try String(contentsOf: outcome.folder.appendingPathComponent("ruff-lint-results.txt"), encoding: .utf8)
        #expect(text.contains("dags/old.py:6:5"))  // ruff 0.17 in preview prints rule names (airflow3-moved-to-provider), not codes
        let patch = try String(contentsOf: outcome.folder.appendingPathComponent("fixes.patch"), encoding: .utf8)
        #expect(patch.contains("--- a/dags/old.py"))
        #expect(patch.contains("+++ b/dags/old.py"))
        #expect(FileManager.default.fileExists(atPath: outcome.folder.appendingPathComponent("fixed-project/dags/old.py").path))
        #expect(TestSupport.snapshot(root) == before, "--fix without --in-place must not touch the project")
    }

    @Test func inPlaceFixChangesTheProject() async throws {
        let root = try project()
        let before = try String(contentsOf: root.appendingPathComponent("dags/old.py"), encoding: .utf8)
        _ = try await UpgradeTestRunner(options: options(root, fix: true, inPlace: true), paths: TestSupport.sharedCache, progress: { _ in }).run()
        let after = try String(contentsOf: root.appendingPathComponent("dags/old.py"), encoding: .utf8)
        #expect(after != before)
    }

    @Test func airflow2TargetsAreSkippedUnlessAsked() async throws {
        let root = try project()
        let skipped = try #require(try await UpgradeTestRunner(options: options(root, target: "2.9.2"), paths: TestSupport.sharedCache, progress: { _ in }).run().first)
        #expect(skipped.report.lintTest?.status == "skipped")
        let asked = try #require(try await UpgradeTestRunner(options: options(root, target: "2.9.2", explicit: true), paths: TestSupport.sharedCache, progress: { _ in }).run().first)
        // Asked for, the lint runs; its AIR3xx findings apply from Airflow 3.0, later than the 2.9.2
        // target, so they are heads-ups for a later upgrade, not failures of this one.
        #expect(asked.report.lintTest?.status == "passed")
        #expect(asked.report.lintTest?.findings.isEmpty == true)
        #expect(asked.report.lintTest?.headsUp?.isEmpty == false)
    }
}
