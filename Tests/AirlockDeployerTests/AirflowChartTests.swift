import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing

/// The test chart `Tests/Fixtures/airflow-chart` (the official Apache Airflow chart's value keys and components,
/// for the Kubernetes target's tests) rendered by the pinned Helm of `scripts/k8s-test-cluster`: it lints, and
/// what Airlock sets per deploy (the image digest, `migrateDatabaseJob.enabled`) and the Airflow major shape
/// the manifests as the official chart's would. Offline: `helm lint` and `helm template` only, no cluster.
/// Skipped when that Helm has not been fetched yet (`scripts/k8s-test-cluster start` fetches it).
@Suite(.enabled(if: KubernetesTestCluster.helm != nil,
                "Helm 3.17.1 is not in ~/.cache/airlock-k8s (or AIRLOCK_K8S_CACHE): run `scripts/k8s-test-cluster start` once"))
struct AirflowChartTests {
    static let chart = TestSupport.repositoryRoot.appendingPathComponent("Tests/Fixtures/airflow-chart")

    /// One rendered manifest: its kind, `metadata.name` and every `image:` it names.
    struct Manifest: Equatable {
        var kind: String
        var name: String
        var images: [String]
    }

    static let repository = "localhost:5000/airlock/deployments/chart-test"

    /// A digest of this run's own (not one the value files name), so the test sees that the deploy's digest wins.
    static func randomDigest() -> String {
        "sha256:" + (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
    }

    static func helmRun(_ arguments: [String]) async throws -> String {
        let output = try await ProcessRunner.run(KubernetesTestCluster.helm!, arguments, timeout: 120)
        #expect(output.succeeded, "helm \(arguments.joined(separator: " ")): \(output.stderr)")
        return output.stdout
    }

    /// `helm template` of the chart with a CI value file and `--set` overrides, split into manifests.
    static func render(_ valuesFile: String, _ overrides: [String]) async throws -> [Manifest] {
        let arguments = ["template", "chart-test", chart.path, "-f", chart.appendingPathComponent("ci/\(valuesFile)").path]
            + overrides.flatMap { ["--set", $0] }
        return manifests(in: try await helmRun(arguments))
    }

    /// `helm template`'s output split into manifests.
    static func manifests(in text: String) -> [Manifest] {
        text.components(separatedBy: "\n---").compactMap { document in
            let lines = document.split(separator: "\n").map(String.init)
            guard let kind = lines.first(where: { $0.hasPrefix("kind: ") })?.dropFirst(6),
                  let metadata = lines.firstIndex(of: "metadata:"),
                  let name = lines[metadata...].first(where: { $0.hasPrefix("  name: ") })?.dropFirst(8) else { return nil }
            let images = lines.compactMap { line -> String? in
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                return trimmed.hasPrefix("image: ") ? String(trimmed.dropFirst(7)) : nil
            }
            return Manifest(kind: String(kind), name: String(name), images: images)
        }
    }

    static func names(_ manifests: [Manifest], _ kind: String) -> [String] {
        manifests.filter { $0.kind == kind }.map(\.name).sorted()
    }

    @Test(arguments: ["values-2.10.5.yaml", "values-3.0.6.yaml"])
    func lintsClean(valuesFile: String) async throws {
        let output = try await Self.helmRun(["lint", "--strict", Self.chart.path, "-f", Self.chart.appendingPathComponent("ci/\(valuesFile)").path])
        #expect(output.contains("0 chart(s) failed"))
    }

    @Test(arguments: [("values-2.10.5.yaml", ["chart-test-scheduler", "chart-test-triggerer", "chart-test-webserver"], "chart-test-webserver"),
                      ("values-3.0.6.yaml", ["chart-test-api-server", "chart-test-dag-processor", "chart-test-scheduler", "chart-test-triggerer"], "chart-test-api-server")])
    func componentsFollowTheAirflowMajorAndRunTheDigest(valuesFile: String, deployments: [String], service: String) async throws {
        let digest = Self.randomDigest()
        let manifests = try await Self.render(valuesFile, ["images.airflow.repository=\(Self.repository)", "images.airflow.digest=\(digest)"])
        #expect(Self.names(manifests, "Deployment") == deployments)
        #expect(Self.names(manifests, "Service") == [service])
        let jobs = Self.names(manifests, "Job")
        #expect(jobs.count == 1 && jobs.allSatisfy { $0.hasPrefix("chart-test-run-airflow-migrations-") })
        let images = manifests.flatMap(\.images)
        // Each Deployment's container and its wait-for-migrations init container, and the migration Job.
        #expect(images.count == deployments.count * 2 + 1)
        #expect(Set(images) == ["\(Self.repository)@\(digest)"], "the digest wins over the value file's tag")
    }

    @Test func migrationJobIsRenamedWhenItsImageChangesAndCanBeTurnedOff() async throws {
        let first = ["images.airflow.repository=\(Self.repository)", "images.airflow.digest=\(Self.randomDigest())"]
        let second = ["images.airflow.repository=\(Self.repository)", "images.airflow.digest=\(Self.randomDigest())"]
        let job = { (manifests: [Manifest]) in Self.names(manifests, "Job") }
        let firstJobs = job(try await Self.render("values-3.0.6.yaml", first))
        let sameImage = job(try await Self.render("values-3.0.6.yaml", first + ["scheduler.replicas=2"]))
        let otherImage = job(try await Self.render("values-3.0.6.yaml", second))
        #expect(firstJobs.count == 1)
        #expect(sameImage == firstJobs, "a change elsewhere keeps the completed Job")
        #expect(otherImage.count == 1 && otherImage != firstJobs, "a Job's image cannot change in place: a new image is a new Job")
        let rollback = try await Self.render("values-2.10.5.yaml", first + ["migrateDatabaseJob.enabled=false"])
        #expect(job(rollback).isEmpty, "a rollback's switch must not migrate the downgraded DB back up")
        #expect(Self.names(rollback, "Deployment").contains("chart-test-webserver"))
    }

    @Test func tagIsUsedWithoutADigest() async throws {
        let manifests = try await Self.render("values-2.10.5.yaml", ["images.airflow.repository=\(Self.repository)", "images.airflow.digest=null", "images.airflow.tag=deploy-7"])
        #expect(Set(manifests.flatMap(\.images)) == ["\(Self.repository):deploy-7"])
    }
}
