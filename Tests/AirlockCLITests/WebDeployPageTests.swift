import AirlockCore
@testable import AirlockServer
import Foundation
import Testing

/// The deploy page's fields, rendered by the real template: what the target ran (issue #13 items 3, 4) shows as
/// an "Image" and a "Helm revision" row when the deploy has them, and not at all when it has none (the local target).
struct WebDeployPageTests {
    static func page(_ deploy: Deploy) throws -> String {
        let model = DeployPageView(
            frame: Frame(title: "prod \(deploy.label)", session: nil), deploymentName: "prod", pathName: "prod", deploy: deploy,
            isCurrent: true, running: false, statusMessage: nil, failure: nil, rollbackOf: nil, steps: [],
            availability: Availability(canRollback: false, reasons: []), refreshSeconds: 5)
        return try #require(WebTemplates.library.render(model, withTemplate: "deploy"))
    }

    @Test func showsTheImageAndHelmRevisionOnlyWhenTheDeployHasThem() throws {
        var deploy = WebUIBenchmark.deploy(3, base: Date(timeIntervalSince1970: 1_700_000_000))
        deploy.sequence = 3
        let local = try Self.page(deploy)
        #expect(local.contains("<dt>DB schema head</dt>"), "the deploy's field list rendered")
        #expect(!local.contains("Helm revision") && !local.contains("<dt>Image</dt>"))

        let image = "localhost:5000/airlock/prod@sha256:" + String(repeating: "0f", count: 32)
        deploy.targetImage = image
        deploy.helmRevision = 12
        let kubernetes = try Self.page(deploy)
        #expect(kubernetes.contains("<dt>Image</dt><dd><code class=\"target-image\">\(image)</code></dd>"))
        #expect(kubernetes.contains("<dt>Helm revision</dt><dd class=\"helm-revision\">12</dd>"))
    }
}
