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
