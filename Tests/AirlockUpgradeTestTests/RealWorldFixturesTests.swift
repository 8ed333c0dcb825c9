import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import AirlockUpgradeTest
import Foundation
import Testing

/// The fixtures of `examples/real-world/`: projects shaped like the real ones of issue 10 (pins that
/// conflict with Apache's constraints, a DAG importing `pkg_resources`, DAGs using providers the runtime
/// image ships without listing them, a runtime tag newer than the bundled catalog). Each fixture's
/// `observed-dagbags.json` holds what real DagBags of both versions said (`observe_dagbags.py`, built
/// without Airlock); the upgrade test must give the verdict that follows from it, file by file.
@Suite(.serialized) struct RealWorldFixturesTests {
    static let folder = TestSupport.repositoryRoot.appendingPathComponent("examples/real-world")

    struct Observed: Decodable {
        struct Side: Decodable {
            var dags: [String]
            var import_errors: [String: String]
        }
        var sides: [String: Side]
    }

    /// The verdict a file deserves from what the two real DagBags said.
    static func expectedVerdicts(_ fixture: String, files: [String]) throws -> [String: DagFileStatus] {
        let observed = try JSONDecoder().decode(Observed.self, from: Data(contentsOf: folder.appendingPathComponent("\(fixture)/observed-dagbags.json")))
        let current = try #require(observed.sides["current"]), target = try #require(observed.sides["target"])
        var verdicts: [String: DagFileStatus] = [:]
        for file in files {
            let name = String(file.split(separator: "/").last ?? "")
            switch (current.import_errors[name] != nil, target.import_errors[name] != nil) {
            case (false, true): verdicts[file] = .regression
            case (true, true): verdicts[file] = .preexisting
            default: verdicts[file] = .passed
            }
        }
        return verdicts
    }

    func run(_ fixture: String, freezeSource: URL) async throws -> UpgradeTestReport {
        let project = Self.folder.appendingPathComponent(fixture)
        let before = TestSupport.snapshot(project)
        var options = UpgradeTestOptions(project: project, output: try TestSupport.scratchFolder("airlock-real-world"),
                                         targets: [TargetRequest(airflowVersion: "3.0.6")], runVersionTest: true, runConflictTest: true,
                                         constraintsSource: TestSupport.constraintsMirror.path, offline: false, today: "2026-11-22")
        options.runDagTest = true
        options.runtimeFreezeSource = freezeSource.path
        let outcomes = try await UpgradeTestRunner(options: options, paths: TestSupport.sharedCache, progress: { _ in }).run()
        #expect(TestSupport.snapshot(project) == before)  // the project is never modified
        return try #require(outcomes.first).report
    }

    func verdicts(_ report: UpgradeTestReport) throws -> [String: DagFileStatus] {
        Dictionary(uniqueKeysWithValues: try #require(report.dagTest).files.map { ($0.path, $0.status) })
    }

    /// Project pins win on both sides (the image installs requirements.txt on top), pip and setuptools are
    /// there: the HTTP provider 4.1.0 DAGs work today, `pkg_resources` works on both, and the one DAG that
    /// Airflow 3 breaks is a regression — not a failure "today".
    @Test func pinsThatConflictWithApacheConstraintsWinOnBothSides() async throws {
        let report = try await run("pinned-requirements", freezeSource: try TestSupport.scratchFolder("airlock-no-freeze"))
        let got = try verdicts(report)
        #expect(got == (try Self.expectedVerdicts("pinned-requirements", files: Array(got.keys))))
        #expect(got["dags/http_legacy_import.py"] == .regression)
        #expect(report.current.pinsGivenWay.contains { $0.hasPrefix("apache-airflow-providers-http 5.0.0 → 4.1.0") && $0.contains("requirements.txt:4") })
        #expect(report.current.excludedRequirements.isEmpty)
        #expect(report.current.imagePackages.contains("setuptools==75.8.0"))
        // On the target the same pin is a finding of the conflict test, and still installed for the DAG test.
        #expect(report.conflictTest?.conflicts.map(\.name) == ["apache-airflow-providers-http"])
        #expect(report.target.pinsGivenWay.contains { $0.hasPrefix("apache-airflow-providers-http 5.3.3 → 4.1.0") })
    }

    /// A Runtime tag newer than the bundled catalog (12.7.1) runs with the packages Astronomer lists for
    /// Runtime 12: the Postgres DAG works today and breaks on plain Airflow 3.0.6, which does not ship the
    /// provider — a regression with the missing requirement, and every assumption said in the report.
    @Test func runtimeBundledProvidersAndANewerTag() async throws {
        let report = try await run("runtime-bundled", freezeSource: try TestSupport.scratchFolder("airlock-no-freeze"))
        let got = try verdicts(report)
        #expect(got == (try Self.expectedVerdicts("runtime-bundled", files: Array(got.keys))))
        #expect(got["dags/postgres_counts.py"] == .regression)
        #expect(report.current.label == "12.7.1")
        #expect(report.current.airflowVersion == "2.10.5")
        #expect(report.warnings.contains { $0.contains("Runtime 12.7.1 is not in the runtime catalog") && $0.contains("--current-airflow-version") })
        #expect(report.current.imagePackages.contains("apache-airflow-providers-postgres==5.14.0"))
        #expect(report.current.assumptions.contains { $0.contains("using the list of Runtime 12.8.0") })
        #expect(report.current.imagePackagesSource?.contains("12.8.0") == true)
    }

    /// Issue 10's fourth cause: without constraints, Airflow 2.9.0 resolved by its release date picks
    /// docutils 0.21.post1, an sdist that does not build. The side is resolved again taking docutils as a
    /// wheel, the run goes on, and the report says so.
    @Test func anSdistThatDoesNotBuildIsRetriedAsAWheel() async throws {
        let project = try TestSupport.scratchFolder("airlock-docutils")
        try TestSupport.writeTree(["Dockerfile": "FROM apache/airflow:2.9.0-python3.11\n",
                                   "dags/plugin_versions.py": try String(contentsOf: Self.folder.appendingPathComponent("pinned-requirements/dags/plugin_versions.py"),
                                                                         encoding: .utf8)], under: project)
        var options = UpgradeTestOptions(project: project, targets: [TargetRequest(airflowVersion: "2.9.0")], runVersionTest: false,
                                         runConflictTest: false, constraintsSource: try TestSupport.scratchFolder("airlock-empty-mirror").path,
                                         today: "2026-11-22")
        options.runDagTest = true
        let log = EventLog()
        let report = try #require(try await UpgradeTestRunner(options: options, paths: TestSupport.sharedCache, progress: { log.append($0) }).run().first).report
        #expect(log.warnings.contains { $0.contains("docutils==0.21.post1 did not build") && $0.contains("--only-binary docutils") })
        #expect(report.current.assumptions.contains { $0.contains("docutils==0.21.post1 did not build") })
        #expect(report.dagTest?.files.map(\.status) == [.passed])  // pkg_resources imports: setuptools is there
        #expect(report.current.imagePackages.contains { $0.hasPrefix("setuptools==") })
    }
}
