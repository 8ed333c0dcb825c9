import AirlockCore
import AirlockStorage
import Foundation
import Hummingbird

/// Pin and unpin in the browser (`/deployments/{name}/pin`): one page that pins with a reason when the
/// deployment is not pinned and confirms the unpin when it is (SPEC §4.4 "A deployment", "Settings").
/// The same change as the API's `DELETE …/pin` and the rollback's "pin after rollback": `store.setPin`,
/// which appends the `deployment.pin` / `deployment.unpin` audit event in the same transaction, and the
/// same role (`admin`). Works without JavaScript: the confirmation is a page of its own.
struct PinPage {
    var frame: Frame
    var name: String
    var pathName: String
    var pinned: PinView?
    var csrf: String?
    /// Why this viewer cannot pin or unpin (not signed in, not `admin`), in words.
    var refusal: String?
    var error: String?
    var typedReason: String?
    var maximumReason = RollbackPolicy.maximumDescriptionLength
}

extension WebUI {
    static let pinRole = Role.admin

    /// Why the session cannot pin or unpin, or `nil` when it can (the API's `DELETE …/pin` needs `admin`).
    static func pinRefusal(_ session: WebSession?) -> String? {
        guard let session else { return "Pinning and unpinning need a signed-in session with the `admin` role" }
        if session.role.satisfies(pinRole) { return nil }
        return "Pinning and unpinning need the `admin` role; you are signed in as `\(session.role.rawValue)`"
    }

    func pinPage(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try await reader(request)
        let deployment = try await deployment(context)
        return renderPin(deployment, session: session, error: nil, typedReason: nil, status: .ok)
    }

    func renderPin(_ deployment: Deployment, session: WebSession?, error: String?, typedReason: String?,
                   status: HTTPResponse.Status) -> Response {
        let verb = deployment.pinned == nil ? "Pin" : "Unpin"
        let refusal = Self.pinRefusal(session)
        let model = PinPage(frame: Frame(title: "\(verb) \(deployment.name)", session: session), name: deployment.name,
                            pathName: Self.pathSegment(deployment.name), pinned: deployment.pinned.map(PinView.init),
                            csrf: refusal == nil ? session?.csrf : nil, refusal: refusal, error: error, typedReason: typedReason)
        return WebTemplates.render("pin", model, status: status)
    }

    /// Pins with the typed reason (1–500 characters, as a rollback's description), or unpins when the form
    /// says `action=unpin`. A stale form (already pinned / already unpinned) is a 409 page.
    func changePin(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let form = try await WebForm.read(request)
        let session = try await writer(request, form: form, needs: Self.pinRole)
        let deployment = try await deployment(context)
        let pathName = Self.pathSegment(deployment.name)
        switch form["action"] {
        case "unpin":
            guard deployment.pinned != nil else { throw WebPageError(.conflict, "`\(deployment.name)` is not pinned") }
            try await store.setPin(deploymentId: deployment.id, pin: nil, actor: session.tokenName)
        case "pin":
            guard deployment.pinned == nil else { throw WebPageError(.conflict, "`\(deployment.name)` is already pinned; unpin it first") }
            let reason: String
            do {
                reason = try RollbackPolicy.validateDescription(form["reason"])
            } catch {
                let message = error.message.replacingOccurrences(of: "description", with: "reason")
                return renderPin(deployment, session: session, error: message, typedReason: form["reason"], status: .unprocessableContent)
            }
            try await store.setPin(deploymentId: deployment.id, pin: Deployment.Pin(reason: reason, by: session.tokenName, at: Date()),
                                   actor: session.tokenName)
        default:
            throw WebPageError(.badRequest, "The form says neither pin nor unpin")
        }
        return Response(status: .seeOther, headers: [.location: "/deployments/\(pathName)"])
    }
}
