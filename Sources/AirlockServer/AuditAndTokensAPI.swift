import AirlockCore
import AirlockStorage
import Foundation
import Hummingbird

/// `/api/v1/audit-events` (the whole log, filtered) and `/api/v1/tokens` (admins create, list and
/// revoke API tokens). The web UI's Audit log and Tokens pages call the same functions.
extension DeploymentsAPI {
    func registerAuditAndTokens(on group: RouterGroup<BasicRequestContext>) {
        group.get("audit-events") { request, _ in
            try await call {
                var deploymentId: String?
                if let name = Self.textQuery(request, "deployment") {
                    guard let deployment = try await store.deployment(named: name) else {
                        throw APIError(.notFound, code: "deployment_not_found", "No deployment named `\(name)`")
                    }
                    deploymentId = deployment.id
                }
                return JSONBody(value: try await auditList(request, deploymentId: deploymentId))
            }
        }
        group.get("tokens") { request, _ in
            try await call {
                _ = try await authorize(request, .admin)
                return JSONBody(value: TokenList(tokens: try await store.listTokens()))
            }
        }
        group.post("tokens") { request, _ in
            try await call {
                let admin = try await authorize(request, .admin)
                let body = try await JSONRequestBody.decode(CreateTokenBody.self, from: request, operation: "POST /tokens")
                let created = try await createToken(name: body.name, role: body.role, actor: admin.name)
                return JSONBody(value: created, status: .created)
            }
        }
        group.delete("tokens/:id") { request, context in
            try await call {
                let admin = try await authorize(request, .admin)
                return JSONBody(value: try await revokeToken(id: try context.parameters.require("id"), byTokenId: admin.id, actor: admin.name))
            }
        }
    }

    /// A page of the audit log with the request's `actor`, `action`, `offset` and `limit` (400 when out of range).
    func auditList(_ request: Request, deploymentId: String?) async throws -> AuditList {
        let offset = try request.integerQuery("offset", default: 0, range: OpenAPIDocument.offsets)
        let limit = try request.integerQuery("limit", default: 100, range: OpenAPIDocument.auditLimits)
        let query = AuditQuery(deploymentId: deploymentId, actor: Self.textQuery(request, "actor"),
                               action: Self.textQuery(request, "action").map(AuditEvent.Action.init(rawValue:)), offset: offset, limit: limit)
        let page = try await store.auditEvents(query)
        return AuditList(events: page.events, offset: offset, limit: limit, totalCount: page.totalCount)
    }

    /// A new token and its secret (shown once), audited as `token.create`.
    func createToken(name: String, role: Role, actor: String) async throws -> CreatedToken {
        let (secret, record) = try await store.createToken(name: name, role: role)
        try await store.appendAudit(Self.tokenEvent(.tokenCreate, record, actor: actor))
        return CreatedToken(secret: secret, token: record)
    }

    /// Revokes a token, audited as `token.revoke`. A token cannot revoke itself (409 `token_in_use`): the
    /// admin who revokes always keeps a working admin token, so the server can never lock its admins out.
    /// Web sessions made with the token end on their next request (`WebUI.session` checks revocation).
    func revokeToken(id: String, byTokenId: String, actor: String) async throws -> APIToken {
        guard id != byTokenId else {
            throw APIError(.conflict, code: "token_in_use", "A token cannot revoke itself; revoke `\(actor)` with another admin token")
        }
        let before = try await store.listTokens().first { $0.id == id }
        let revoked = try await store.revokeToken(id: id)
        if before?.isRevoked == false { try await store.appendAudit(Self.tokenEvent(.tokenRevoke, revoked, actor: actor)) }
        return revoked
    }

    static func tokenEvent(_ action: AuditEvent.Action, _ token: APIToken, actor: String) -> AuditEvent {
        AuditEvent(id: UUID().uuidString.lowercased(), at: Date(), actor: actor, action: action, deploymentId: nil, outcome: .succeeded,
                   detail: "token `\(token.name)` (\(token.role.rawValue), id \(token.id))")
    }

    /// A filter from the query string; absent or empty means no filter.
    static func textQuery(_ request: Request, _ name: String) -> String? {
        guard let value = request.uri.queryParameters[Substring(name)].map(String.init), !value.isEmpty else { return nil }
        return value
    }
}

extension AuditEvent.Action {
    public static let tokenCreate: Self = "token.create"
    public static let tokenRevoke: Self = "token.revoke"

    /// The actions Airlock records, for the audit log's filter.
    static let known: [Self] = [.deployCreate, .deployRollback, .deployStart, .deployPrune, .deploymentCreate, .deploymentSettings,
                                .deploymentPin, .deploymentUnpin, .tokenCreate, .tokenRevoke]
}

struct CreateTokenBody: Decodable {
    var name: String
    var role: Role
}

/// The answer to `POST /tokens`: the secret, which the server never shows again, and the token's record.
struct CreatedToken: Encodable, Sendable {
    var secret: String
    var token: APIToken
}

struct TokenList: Encodable, Sendable { var tokens: [APIToken] }
