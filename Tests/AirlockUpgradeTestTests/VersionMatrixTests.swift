import AirlockCore
import AirlockTestSupport
import AirlockUpgradeTest
import Foundation
import PythonPackaging
import Testing

/// The upgrade test across Airflow's eras: one project whose DAG files each hit one era's breaking change
/// (`Tests/Fixtures/version-matrix/project`), from each of 2.3.4, 2.6.3, 2.8.4, 2.10.5 to each of 3.0.6,
/// 3.1.8, 3.2.2, 3.3.2 and the pre-release 3.4.0b2. Every verdict is checked against what a plain `DagBag`
/// of that Airflow said about the file (`observed/airflow-*.json`, recorded with `observe.py` in the same
/// environments; provenance in `README.md`). One run per current version; the target environments are
/// built once (the first run) and reused by the others through the test cache.
@Suite(.serialized) struct VersionMatrixTests {
    static let fixture = TestSupport.repositoryRoot.appendingPathComponent("Tests/Fixtures/version-matrix")
    /// (Airflow, Python): 2.3 runs on Python ≤ 3.10 (constraints for 3.9 in the fixture mirror).
    static let currents = [("2.3.4", "3.9"), ("2.6.3", "3.11"), ("2.8.4", "3.11"), ("2.10.5", "3.11")]
    /// Targets run on Python 3.11 (3.4 needs ≥ 3.11).
    static let targets = ["3.0.6", "3.1.8", "3.2.2", "3.3.2", "3.4.0b2"]

    struct Observed: Decodable {
        struct File: Decodable {
            var dagIds: [String]
            var error: String?
        }
        var airflowVersion: String
        var files: [String: File]
    }

    /// An error without the environment's path (`cannot import name 'x' from 'm' (/…/site-packages/m.py)`): the
    /// observation ran in this machine's cache, CI has its own.
    static func withoutPath(_ error: String?) -> String? {
        guard let error, let range = error.range(of: " (/", options: .backwards), error.hasSuffix(")") else { return error }
        return String(error[..<range.lowerBound])
    }

    static func observed(_ version: String) throws -> Observed {
        let url = fixture.appendingPathComponent("observed/airflow-\(version).json")
        return try JSONDecoder().decode(Observed.self, from: Data(contentsOf: url))
    }

    @Test func everyCurrentToEveryTargetGivesWhatRealDagBagsSay() async throws {
        let project = try TestSupport.scratchFolder("airlock-matrix")
        let dags = Self.fixture.appendingPathComponent("project/dags")
        var files: [String: String] = ["Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n"]
        for name in try FileManager.default.contentsOfDirectory(atPath: dags.path) where name.hasSuffix(".py") {
            files["dags/\(name)"] = try String(contentsOf: dags.appendingPathComponent(name), encoding: .utf8)
        }
        try TestSupport.writeTree(files, under: project)
        let started = Date()
        var checkedPairs = 0
        for (current, python) in Self.currents {
            let runStarted = Date()
            var options = UpgradeTestOptions(project: project, output: try TestSupport.scratchFolder("airlock-matrix-out"),
                                             targets: Self.targets.map { TargetRequest(airflowVersion: $0, python: "3.11") },
                                             runVersionTest: false, runConflictTest: false, python: python, currentAirflowVersion: current,
                                             constraintsSource: Self.fixture.appendingPathComponent("constraints").path, today: "2026-12-01")
            options.runDagTest = true
            options.runLintTest = false   // as without test flags: lint the Airflow 3 targets
            let outcomes = try await UpgradeTestRunner(options: options, paths: TestSupport.sharedCache, progress: { _ in }).run()
            #expect(outcomes.count == Self.targets.count)
            let before = try Self.observed(current)
            for outcome in outcomes {
                let target = outcome.report.target.airflowVersion
                let after = try Self.observed(target)
                let dagTest = try #require(outcome.report.dagTest)
                let verdicts = Dictionary(uniqueKeysWithValues: dagTest.files.map { ($0.path, $0) })
                #expect(verdicts.count == after.files.count, "\(current) → \(target)")
                for (name, seen) in after.files {
                    let pair = "\(current) → \(target): \(name)"
                    let verdict = try #require(verdicts["dags/\(name)"], "\(pair)")
                    let failedBefore = before.files[name]?.error != nil
                    #expect(verdict.dagIds == seen.dagIds, "\(pair)")
                    #expect(Self.withoutPath(verdict.error) == Self.withoutPath(seen.error), "\(pair)")
                    switch (seen.error != nil, failedBefore) {
                    case (false, _): #expect(verdict.status == .passed, "\(pair)")
                    case (true, false): #expect(verdict.status == .regression, "\(pair)")
                    case (true, true): #expect(verdict.status == .preexisting, "\(pair)")
                    }
                    #expect(Self.withoutPath(verdict.currentError) == Self.withoutPath(before.files[name]?.error), "\(pair)")
                    if seen.error != nil, let error = verdict.error, error.contains("unexpected keyword argument") {
                        #expect(verdict.category == .signatureChange, "\(pair)")
                    }
                }
                // AIR321 (BaseHook moved in 3.1) fails 3.1+ targets and is a heads-up for 3.0.
                let lint = try #require(outcome.report.lintTest)
                let air321Fails = lint.findings.contains { $0.rule == "AIR321" }
                let air321HeadsUp = (lint.headsUp ?? []).contains { $0.rule == "AIR321" }
                let from31 = try #require(Version(target)) >= Version(release: [3, 1])
                #expect(air321Fails == from31 && air321HeadsUp == !from31, "\(current) → \(target) lint")
                checkedPairs += 1
            }
            print("version matrix: \(current) → \(Self.targets.joined(separator: ", ")) in \(Int(Date().timeIntervalSince(runStarted))) s")
        }
        #expect(checkedPairs == Self.currents.count * Self.targets.count)
        print("version matrix: \(checkedPairs) pairs in \(Int(Date().timeIntervalSince(started))) s")
    }
}
