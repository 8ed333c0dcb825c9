import AirlockCore
import AirlockStorage
import Foundation
import Hummingbird

/// The Audit log page (`/audit`): every audit event, newest first, filtered by deployment, actor and
/// action and paged by the store (the same query as `GET /api/v1/audit-events`); each entry links to
/// its deployment and deploy. A read: open when reads are, like the API.
extension WebUI {
    static let auditPageSize = 50

    func auditPage(_ request: Request) async throws -> Response {
        let session = try await reader(request)
        let parameters = request.uri.queryParameters
        func text(_ name: Substring) -> String? {
            parameters[name].map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        let deploymentName = text("deployment"), actor = text("actor"), action = text("action")
        let offset = max(0, Int(parameters["offset"].map(String.init) ?? "") ?? 0)
        let deployments = try await store.listDeployments()
        var deploymentId: String?
        if let deploymentName {
            guard let deployment = deployments.first(where: { $0.name == deploymentName }) else {
                throw WebPageError(.notFound, "No deployment named `\(deploymentName)`")
            }
            deploymentId = deployment.id
        }
        let page = try await store.auditEvents(AuditQuery(deploymentId: deploymentId, actor: actor, action: action.map(AuditEvent.Action.init(rawValue:)),
                                                          offset: offset, limit: Self.auditPageSize))
        let byId = Dictionary(deployments.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var sequences: [String: Int] = [:]
        var rows: [AuditPageView.Row] = []
        for event in page.events {
            let deployment = event.deploymentId.flatMap { byId[$0] }
            var deployLink: LinkView?
            if let deployment, let deployId = event.afterDeployId {
                if sequences[deployId] == nil { sequences[deployId] = try await store.deploy(id: deployId)?.sequence }
                if let sequence = sequences[deployId] {
                    deployLink = LinkView(href: "/deployments/\(Self.pathSegment(deployment.name))/deploys/\(sequence)", text: "#\(sequence)")
                }
            }
            let runtimes: String? = switch (event.beforeRuntime, event.afterRuntime) {
            case let (before?, after?) where before != after: "\(before) → \(after)"
            case let (_, after?): after
            case let (before?, nil): before
            case (nil, nil): nil
            }
            rows.append(.init(time: TimeView(event.at), action: event.action.rawValue, actor: event.actor, outcome: event.outcome.rawValue,
                              deployment: deployment.map { LinkView(href: "/deployments/\(Self.pathSegment($0.name))", text: $0.name) },
                              deploy: deployLink, runtimes: runtimes, detail: event.detail.flatMap { $0.isEmpty ? nil : $0 }))
        }
        func href(offset: Int) -> String {
            var components = URLComponents()
            components.path = "/audit"
            var items: [URLQueryItem] = []
            if let deploymentName { items.append(URLQueryItem(name: "deployment", value: deploymentName)) }
            if let actor { items.append(URLQueryItem(name: "actor", value: actor)) }
            if let action { items.append(URLQueryItem(name: "action", value: action)) }
            if offset > 0 { items.append(URLQueryItem(name: "offset", value: String(offset))) }
            components.queryItems = items.isEmpty ? nil : items
            // `+` is a space in a query; URLComponents leaves it alone.
            return (components.string ?? "/audit").replacingOccurrences(of: "+", with: "%2B")
        }
        let count = page.events.count, total = page.totalCount
        var actions = AuditEvent.Action.known.map(\.rawValue)
        if let action, !actions.contains(action) { actions.append(action) }
        let model = AuditPageView(
            frame: Frame(title: "Audit log", session: session),
            deployments: deployments.map { .init(value: $0.name, text: $0.name, selected: $0.name == deploymentName) },
            actions: actions.map { .init(value: $0, text: $0, selected: $0 == action) },
            actor: actor, filtered: deploymentName != nil || actor != nil || action != nil,
            hasEvents: !rows.isEmpty, events: rows,
            rangeText: count == 0 ? "0 of \(total) events" : "\(offset + 1)–\(offset + count) of \(total) events",
            previous: offset > 0 ? LinkView(href: href(offset: max(0, offset - Self.auditPageSize))) : nil,
            next: offset + count < total ? LinkView(href: href(offset: offset + Self.auditPageSize)) : nil)
        return WebTemplates.render("audit", model)
    }
}

struct OptionView { var value: String; var text: String; var selected: Bool }

struct AuditPageView {
    struct Row {
        var time: TimeView
        var action: String
        var actor: String
        var outcome: String
        var deployment: LinkView?
        var deploy: LinkView?
        var runtimes: String?
        var detail: String?
    }

    var frame: Frame
    var deployments: [OptionView]
    var actions: [OptionView]
    var actor: String?
    var filtered: Bool
    var hasEvents: Bool
    var events: [Row]
    var rangeText: String
    var previous: LinkView?
    var next: LinkView?
}
