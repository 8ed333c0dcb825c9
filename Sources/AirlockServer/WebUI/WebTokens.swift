import AirlockCore
import AirlockStorage
import Foundation
import Hummingbird

/// The Tokens page (`/tokens`, admins only): create a token with a name and a role — its secret is
/// shown once, in the body of the answer to the form's POST (never in a URL, never again) — list every
/// token (name, role, created, last used, revoked) and revoke one after a confirmation page. The API's
/// functions do the work (`DeploymentsAPI.createToken` / `revokeToken`), so both are audited alike.
/// A revoked token's sessions end at once (`WebUI.session` checks revocation on every request).
extension WebUI {
    /// An admin's session, or the browser goes to sign in (none) or gets 403 (another role).
    func adminReader(_ request: Request) async throws -> WebSession {
        guard let session = try await session(request) else { throw WebRedirect.signIn(from: request) }
        guard session.role == .admin else {
            throw WebPageError(.forbidden, "Tokens are managed by admins; you are signed in as `\(session.role.rawValue)`")
        }
        return session
    }

    func tokensPage(_ request: Request) async throws -> Response {
        let session = try await adminReader(request)
        let notice = request.uri.queryParameters["revoked"] != nil
            ? "Revoked. API calls with that token now get 401, and browser sessions signed in with it have ended." : nil
        return try await renderTokens(session: session, notice: notice)
    }

    func renderTokens(session: WebSession, created: CreatedToken? = nil, notice: String? = nil, error: String? = nil, typedName: String? = nil,
                      typedRole: Role? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let tokens = try await store.listTokens()
        let rows = tokens.reversed().map { token in
            TokensPageView.Row(id: token.id, name: token.name, role: token.role.rawValue, created: TimeView(token.createdAt),
                               lastUsed: token.lastUsedAt.map { TimeView($0) }, revoked: token.revokedAt.map { TimeView($0) },
                               isSelf: token.id == session.tokenId,
                               revokeHref: "/tokens/\(Self.pathSegment(token.id))/revoke")
        }
        let role = typedRole ?? .viewer
        let model = TokensPageView(frame: Frame(title: "API tokens", session: session), csrf: session.csrf,
                                   roles: Role.allCases.map { .init(value: $0.rawValue, text: $0.rawValue, selected: $0 == role) },
                                   created: created.map { .init(name: $0.token.name, role: $0.token.role.rawValue, secret: $0.secret) },
                                   notice: notice, error: error, typedName: typedName, tokens: rows)
        return WebTemplates.render("tokens", model, status: status)
    }

    func createToken(_ request: Request) async throws -> Response {
        let form = try await WebForm.read(request)
        let session = try await writer(request, form: form, needs: .admin)
        let name = form["name"] ?? ""
        guard let role = form["role"].flatMap(Role.init(rawValue:)) else {
            return try await renderTokens(session: session, error: "Choose a role for the token", typedName: name, status: .unprocessableContent)
        }
        do {
            let created = try await api.createToken(name: name, role: role, actor: session.tokenName)
            // 201 with the secret in this page only: a redirect would need it in a URL or kept on the server.
            return try await renderTokens(session: session, created: created, status: .created)
        } catch let error as AirlockError where error.kind == .usage {
            return try await renderTokens(session: session, error: error.message, typedName: name, typedRole: role, status: .unprocessableContent)
        }
    }

    /// The confirmation page of a revoke (works without JavaScript).
    func revokeTokenPage(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try await adminReader(request)
        let token = try await token(context)
        let model = RevokeTokenPageView(frame: Frame(title: "Revoke token \(token.name)", session: session), csrf: session.csrf,
                                        id: token.id, pathId: Self.pathSegment(token.id), name: token.name, role: token.role.rawValue,
                                        created: TimeView(token.createdAt), lastUsed: token.lastUsedAt.map { TimeView($0) },
                                        revoked: token.revokedAt.map { TimeView($0) },
                                        isSelf: token.id == session.tokenId)
        return WebTemplates.render("revoke_token", model)
    }

    func revokeToken(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let form = try await WebForm.read(request)
        let session = try await writer(request, form: form, needs: .admin)
        let token = try await token(context)
        _ = try await api.revokeToken(id: token.id, byTokenId: session.tokenId, actor: session.tokenName)
        try await sessions.end(tokenId: token.id)
        return Response(status: .seeOther, headers: [.location: "/tokens?revoked=1"])
    }

    private func token(_ context: BasicRequestContext) async throws -> APIToken {
        let id = try context.parameters.require("id")
        guard let token = try await store.listTokens().first(where: { $0.id == id }) else {
            throw WebPageError(.notFound, "No API token with id `\(id)`")
        }
        return token
    }
}

struct TokensPageView {
    struct Row {
        var id: String
        var name: String
        var role: String
        var created: TimeView
        var lastUsed: TimeView?
        var revoked: TimeView?
        var isSelf: Bool
        var revokeHref: String
    }

    struct Created { var name: String; var role: String; var secret: String }

    var frame: Frame
    var csrf: String
    var roles: [OptionView]
    var created: Created?
    var notice: String?
    var error: String?
    var typedName: String?
    var tokens: [Row]
}

struct RevokeTokenPageView {
    var frame: Frame
    var csrf: String
    var id: String
    var pathId: String
    var name: String
    var role: String
    var created: TimeView
    var lastUsed: TimeView?
    var revoked: TimeView?
    var isSelf: Bool
}
