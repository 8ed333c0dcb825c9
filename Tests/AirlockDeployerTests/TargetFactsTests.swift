import AirlockCore
@testable import AirlockDeployer
import AirlockStorage
import AirlockTestSupport
import Foundation
import Testing

/// What the target ran is kept on the deploy (issue #13 items 3, 4), by the real coordinator over a real SQLite
/// store: a target that reports facts as the Kubernetes target does (the image by digest it was told to run,
/// one Helm revision per start, including the start of a failed deploy and the undo's restart) wraps the seam
/// tests' recording target. Recorded on a deploy that reached DEPLOYED, on a failed one that reached its start
/// (the revision that failed, not the undo's), and never on one that failed before its start.
@Suite struct TargetFactsTests {
    actor RevisionCountingTarget: DeployTarget {
        let base: DeployTargetSeamTests.RecordingTarget
        private var revision = 0
        private var latest: (deployId: String, facts: TargetFacts)?

        init(_ base: DeployTargetSeamTests.RecordingTarget) { self.base = base }

        func start(_ release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
            revision += 1
            latest = (release.deployId, TargetFacts(image: "localhost:5000/airlock/prod@sha256:\(release.deployId)", helmRevision: revision))
            try await base.start(release, settings: settings)
        }

        func runningFacts(of deployId: String) async -> TargetFacts {
            latest?.deployId == deployId ? latest?.facts ?? TargetFacts() : TargetFacts()
        }

        func prepare(_ request: ReleaseRequest, settings: DeploymentSettings,
                     progress: @escaping @Sendable (String) async -> Void) async throws(AirlockError) -> ReleaseRecord {
            try await base.prepare(request, settings: settings, progress: progress)
        }
        func stop() async { await base.stop() }
        func waitUntilHealthy(timeout: Double) async throws(AirlockError) { try await base.waitUntilHealthy(timeout: timeout) }
        func schemaRevision(using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) -> String? {
            try await base.schemaRevision(using: release, settings: settings)
        }
        func backupDatabase(beforeDeploy deployId: String, using release: ReleaseRecord,
                            settings: DeploymentSettings) async throws(AirlockError) -> URL {
            try await base.backupDatabase(beforeDeploy: deployId, using: release, settings: settings)
        }
        func restoreDatabase(from backup: URL, using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
            try await base.restoreDatabase(from: backup, using: release, settings: settings)
        }
        func createDatabaseIfMissing(using release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
            try await base.createDatabaseIfMissing(using: release, settings: settings)
        }
        func migrateDatabase(with release: ReleaseRecord, settings: DeploymentSettings) async throws(AirlockError) {
            try await base.migrateDatabase(with: release, settings: settings)
        }
        func downgradeDatabase(to release: ReleaseRecord, with current: ReleaseRecord,
                               settings: DeploymentSettings) async throws(AirlockError) -> [String: Int] {
            try await base.downgradeDatabase(to: release, with: current, settings: settings)
        }
        func status(current: ReleaseRecord?, settings: DeploymentSettings) async -> LiveStatus {
            await base.status(current: current, settings: settings)
        }
        func reconcileAfterRestart() async { await base.reconcileAfterRestart() }
    }

    @Test func deploysKeepTheImageAndHelmRevisionTheirStartMade() async throws {
        let seam = try await DeployTargetSeamTests.Seam("airlock-target-facts", settings: DeploymentSettings())
        defer { seam.remove() }
        let old = try seam.image("FROM apache/airflow:2.10.5\n")
        let new = try seam.image("FROM apache/airflow:3.0.6\n")
        let unknown = try seam.image("FROM nowhere\n")
        let recording = DeployTargetSeamTests.RecordingTarget(workspace: seam.workspace,
                                                              releases: [old: ("2.10.5", "5f2621c13b39"), new: ("3.0.6", "29ce7909c52b")])
        let target = RevisionCountingTarget(recording)
        let coordinator = seam.coordinator(target)

        func deploy(_ image: String, _ id: String, failingHealth: Bool = false) async throws -> Deploy {
            if failingHealth { await recording.failHealth(of: id) }
            return try await seam.deploy(image, id, through: coordinator)
        }
        func image(_ id: String) -> String { "localhost:5000/airlock/prod@sha256:\(id)" }

        let first = try await deploy(old, "d1")
        #expect(first.status == .deployed && first.helmRevision == 1 && first.targetImage == image("d1"))
        // Fails its health check: the revision that failed is kept (2), not the undo's restart of d1 (3).
        let failed = try await deploy(new, "d2", failingHealth: true)
        #expect(failed.status == .failed && failed.helmRevision == 2 && failed.targetImage == image("d2"))
        // Fails before anything started (its release cannot be prepared): nothing ran, nothing is recorded.
        let unprepared = try await deploy(unknown, "d3")
        #expect(unprepared.status == .failed && unprepared.helmRevision == nil && unprepared.targetImage == nil)
        let second = try await deploy(new, "d4")
        #expect(second.status == .deployed && second.helmRevision == 4 && second.targetImage == image("d4"))
        #expect(try await seam.store.deploy(id: "d1") == first, "a later start changes no earlier record")
    }
}
