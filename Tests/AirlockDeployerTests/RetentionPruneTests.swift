import AirlockCore
import AirlockDeployer
import AirlockStorage
import AirlockTestSupport
import Foundation
import Testing

/// Rule 11 on real files and a real store: the prune deletes what only expired deploys use.
@Suite struct RetentionPruneTests {
    static func bundle(_ path: String, _ text: String) -> [UInt8] {
        TarArchive(entries: [TarArchive.Entry(path: path, kind: .file, contents: Array(text.utf8))]).bytes()
    }

    @Test func prunesExpiredArtifactsButKeepsCurrentLatestEarlierAndShared() async throws {
        let data = try TestSupport.scratchFolder("airlock-prune")
        defer { try? FileManager.default.removeItem(at: data) }
        let store = try SQLiteDeployHistoryStore(path: data.appendingPathComponent("airlock.sqlite").path)
        let artifacts = ArtifactStore(root: data.appendingPathComponent("artifacts"))
        let limits = TarArchive.Limits()
        let imageA = try artifacts.store(.image, tar: Self.bundle("Dockerfile", "FROM apache/airflow:2.10.5\n"), limits: limits).digest
        let imageB = try artifacts.store(.image, tar: Self.bundle("Dockerfile", "FROM apache/airflow:3.0.6\n"), limits: limits).digest
        let dags = try (1...4).map { try artifacts.store(.dags, tar: Self.bundle("dags/a.py", "v\($0)\n"), limits: limits).digest }

        let deployment = try await store.createDeployment(Deployment(id: "dep", name: "prod", settings: DeploymentSettings(retentionDays: 30)))
        let now = Date()
        // #1 and #2 are past the window; #3 is the latest earlier deploy (kept); #4 is current.
        let plan: [(age: Double, image: String, dags: String)] = [(60, imageA, dags[0]), (50, imageA, dags[1]), (40, imageB, dags[2]), (0, imageB, dags[3])]
        var ids: [String] = []
        for (index, step) in plan.enumerated() {
            let deploy = try await store.createDeploy(Deploy(
                id: "d\(index + 1)", deploymentId: deployment.id, sequence: 0, type: .imageAndDag, status: .deploying,
                description: "#\(index + 1)", createdAt: now.addingTimeInterval(-step.age * 86_400), createdBy: "ci",
                image: DeployImage(runtimeVersion: nil, airflowVersion: "2.10.5", python: "3.11", lockHash: "l", projectDigest: step.image),
                dagBundleVersion: step.dags, dagDeployEnabled: true, dbSchemaHead: nil, everDeployed: false))
            try await store.markDeployed(deployId: deploy.id, deploymentId: deployment.id, dbSchemaHead: nil, actor: "ci")
            ids.append(deploy.id)
        }
        // Another deployment still uses #1's DAG bundle: shared content stays.
        let other = try await store.createDeployment(Deployment(id: "other", name: "staging"))
        let sharing = try await store.createDeploy(Deploy(
            id: "o1", deploymentId: other.id, sequence: 0, type: .imageAndDag, status: .deploying, description: "o", createdAt: now,
            createdBy: "ci", image: nil, dagBundleVersion: dags[0], dagDeployEnabled: true, dbSchemaHead: nil, everDeployed: false))
        try await store.markDeployed(deployId: sharing.id, deploymentId: other.id, dbSchemaHead: nil, actor: "ci")

        let coordinator = DeployCoordinator(store: store, artifacts: artifacts, dataDirectory: data)
        let pruned = try await coordinator.prune(deploymentId: deployment.id, now: now)
        #expect(Set(pruned) == ["d1", "d2"])
        let history = try await store.history(deploymentId: deployment.id)
        #expect(history.filter { !$0.artifactsStored }.map(\.id).sorted() == ["d1", "d2"], "records stay, marked expired")
        #expect(history.count == 4)
        #expect(!artifacts.contains(.dags, digest: dags[1]), "used only by a pruned deploy")
        #expect(artifacts.contains(.dags, digest: dags[0]), "still used by another deployment")
        #expect(artifacts.contains(.image, digest: imageA) == false, "image A was used only by #1 and #2")
        #expect(artifacts.contains(.image, digest: imageB) && artifacts.contains(.dags, digest: dags[2]) && artifacts.contains(.dags, digest: dags[3]))
        let events = try await store.auditEvents(deploymentId: deployment.id)
        #expect(events.first?.action == .deployPrune)
        #expect(events.first?.detail?.contains("#1, #2") == true)

        // Expired targets are refused by the rules; a second prune finds nothing.
        #expect(try await coordinator.prune(deploymentId: deployment.id, now: now).isEmpty)
        let stored = try #require(try await store.deployment(id: "dep"))
        let expired = try #require(history.first { $0.id == "d2" })
        let reasons = RollbackPolicy.eligibility(of: expired, in: history, deployment: stored, now: now)
        #expect(reasons.contains { $0.message.lowercased().contains("expired") }, "\(reasons.map(\.message))")
    }
}
