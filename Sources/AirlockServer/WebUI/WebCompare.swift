import AirlockCore
import AirlockStorage
import Foundation
import Hummingbird

/// Compare any two deploys (`/deployments/{name}/compare/{A}...{B}`): `DeployComparison` from the pins,
/// manifests and migrations the server keeps for each deploy, the same inputs the rollback preview uses
/// (`DeploymentsAPI.planRollback`). `A` and `B` are deploy numbers (`12`, `#12`) or ids; an unknown one is a
/// 404 page; `A == B` is an empty comparison.
struct ComparePage {
    struct Side {
        var sequence: Int
        var status: String
        var statusClass: String
        var versions: String
        var python: String?
        var time: TimeView
        var description: String
        var imageDigest: String?
        var dagsDigest: String?
        var dbSchemaHead: String?
    }
    struct Section { var title: String; var entries: [String] }
    struct Files { var added: [String]; var removed: [String]; var changed: [String]; var hasAdded: Bool; var hasRemoved: Bool; var hasChanged: Bool }

    var frame: Frame
    var name: String
    var pathName: String
    var from: Side
    var to: Side
    var same: Bool
    var between: Int?
    var versionDirection: String
    var imageChanged: Bool
    var dagsChanged: Bool
    var files: Files?
    var filesNote: String
    var packageSections: [Section]
    var packagesNote: String?
    var dbDirection: String
    var dbChanges: Bool
    var migrations: [DatabaseMigration]
    var hasMigrations: Bool
    var swapHref: String
}

extension WebUI {
    /// The history pages' routes (search lives on the deployment page): compare, pin and unpin.
    func registerHistoryPages(on ui: RouterGroup<BasicRequestContext>) {
        ui.get("deployments/:name/compare") { request, context in try await compareForm(request, context) }
        ui.get("deployments/:name/compare/:range") { request, context in try await comparePage(request, context) }
        ui.get("deployments/:name/pin") { request, context in try await pinPage(request, context) }
        ui.post("deployments/:name/pin") { request, context in try await changePin(request, context) }
    }

    static func compareHref(_ pathName: String, from: Int, to: Int) -> String {
        "/deployments/\(pathName)/compare/\(from)...\(to)"
    }

    /// The "compare" form on a deploy page (`?from=&to=`, works without JavaScript) lands on the page's own URL.
    func compareForm(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try await reader(request)
        let deployment = try await deployment(context)
        let from = request.uri.queryParameters["from"].map(String.init) ?? ""
        let to = request.uri.queryParameters["to"].map(String.init) ?? ""
        let a = try await api.deploy(reference: from, in: deployment), b = try await api.deploy(reference: to, in: deployment)
        return Response(status: .seeOther, headers: [.location: Self.compareHref(Self.pathSegment(deployment.name), from: a.sequence, to: b.sequence)])
    }

    func comparePage(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try await reader(request)
        let deployment = try await deployment(context)
        let range = try context.parameters.require("range")
        let parts = range.components(separatedBy: "...")
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw WebPageError(.notFound, "`\(range)` is not two deploys: write it as A...B, e.g. 1...2")
        }
        let a = try await api.deploy(reference: parts[0], in: deployment)
        let b = try await api.deploy(reference: parts[1], in: deployment)
        let coordinator = api.coordinator
        var migrations: [DatabaseMigration] = []
        if a.id != b.id { migrations = await coordinator.migrations(deploymentId: deployment.id, current: a, target: b) }
        let comparison = DeployComparison(
            from: a, to: b,
            fromPins: coordinator.pins(deploymentId: deployment.id, deployId: a.id), toPins: coordinator.pins(deploymentId: deployment.id, deployId: b.id),
            fromManifest: api.manifest(of: a), toManifest: api.manifest(of: b), migrations: migrations)
        let pathName = Self.pathSegment(deployment.name)
        func side(_ deploy: Deploy) -> ComparePage.Side {
            .init(sequence: deploy.sequence, status: deploy.status.rawValue, statusClass: deploy.status.rawValue.lowercased(),
                  versions: deploy.image?.versionLabel ?? "unknown", python: deploy.image?.python, time: TimeView(deploy.createdAt),
                  description: deploy.description, imageDigest: deploy.image?.projectDigest, dagsDigest: deploy.dagBundleVersion,
                  dbSchemaHead: deploy.dbSchemaHead)
        }
        var files: ComparePage.Files?
        let filesNote: String
        if let changes = comparison.files {
            files = .init(added: changes.added, removed: changes.removed, changed: changes.changed,
                          hasAdded: !changes.added.isEmpty, hasRemoved: !changes.removed.isEmpty, hasChanged: !changes.changed.isEmpty)
            filesNote = changes.isEmpty ? "No file changes." : "\(changes.added.count) added, \(changes.removed.count) removed, \(changes.changed.count) changed."
        } else {
            filesNote = "The files of one side are not stored on this server (artifacts expired or never uploaded)."
        }
        let sections = comparison.packages?.compareSections.map { ComparePage.Section(title: $0.title, entries: $0.entries) } ?? []
        let packagesNote: String? = comparison.packages == nil ? "The pinned package set of one side is not known on this server."
            : (sections.isEmpty ? "No package changes." : nil)
        let between = abs(a.sequence - b.sequence) - 1
        let model = ComparePage(
            frame: Frame(title: "\(deployment.name): compare #\(a.sequence) with #\(b.sequence)", session: session),
            name: deployment.name, pathName: pathName, from: side(a), to: side(b), same: a.id == b.id,
            between: between > 0 ? between : nil, versionDirection: comparison.runtimeChange.direction.rawValue,
            imageChanged: a.image != b.image, dagsChanged: a.dagBundleVersion != b.dagBundleVersion,
            files: files, filesNote: filesNote, packageSections: sections, packagesNote: packagesNote,
            dbDirection: comparison.databaseDirection.rawValue, dbChanges: comparison.databaseDirection != .none,
            migrations: comparison.migrations,
            hasMigrations: !comparison.migrations.isEmpty,
            swapHref: Self.compareHref(pathName, from: b.sequence, to: a.sequence))
        return WebTemplates.render("compare", model)
    }
}
