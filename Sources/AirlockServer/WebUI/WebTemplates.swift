import AirlockCore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// The UI's Mustache templates and stylesheet, compiled into the binary (`WebUI/Resources`, SwiftPM
/// `.embedInCode`). Mustache HTML-escapes every `{{value}}` (`& < > " '`). One triple mustache exists:
/// `deployment`'s `{{{rowsHTML}}}`, the Deploy History rows as the escaping template `history_rows` rendered
/// them (`HistoryRowsCache`); so nothing user-written reaches a page unescaped.
enum WebTemplates {
    static let library: MustacheLibrary = {
        let sources: [String: [UInt8]] = [
            "layout": PackageResources.layout_mustache, "time": PackageResources.time_mustache,
            "message": PackageResources.message_mustache, "signin": PackageResources.signin_mustache,
            "deployments": PackageResources.deployments_mustache, "deployment": PackageResources.deployment_mustache,
            "history_rows": PackageResources.history_rows_mustache,
            "deploy": PackageResources.deploy_mustache, "settings": PackageResources.settings_mustache,
            "rollback": PackageResources.rollback_mustache,
            "audit": PackageResources.audit_mustache, "tokens": PackageResources.tokens_mustache, "revoke_token": PackageResources.revoke_token_mustache,
            "compare": PackageResources.compare_mustache, "pin": PackageResources.pin_mustache,
        ]
        var library = MustacheLibrary()
        for (name, bytes) in sources {
            // The templates are part of the binary; one that does not parse is a build defect the tests catch.
            guard let template = try? MustacheTemplate(string: String(decoding: bytes, as: UTF8.self)) else {
                preconditionFailure("The web UI template `\(name)` does not parse")
            }
            library.register(template, named: name)
        }
        return library
    }()

    /// Template `name` rendered with `model`.
    static func text(_ name: String, _ model: Any) -> String {
        library.render(model, withTemplate: name) ?? ""
    }

    static let stylesheet = String(decoding: PackageResources.airlock_css, as: UTF8.self)

    /// An HTML page from template `name` (the security headers come from `WebUIMiddleware`).
    static func render(_ name: String, _ model: Any, status: HTTPResponse.Status = .ok) -> Response {
        let html = text(name, model)
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// Headers on every UI response, and errors rendered as pages rather than the API's JSON.
struct WebUIMiddleware<Context: RequestContext>: RouterMiddleware {
    /// No script at all in this slice, styles only from this server, no framing.
    static var contentSecurityPolicy: String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let redirect as WebRedirect {
            response = Response(status: .seeOther, headers: [.location: redirect.location])
        } catch let error as WebPageError {
            response = Self.page(error.status, error.message)
        } catch let error as APIError {
            response = Self.page(error.status, error.message)
        } catch let error as AirlockError {
            response = Self.page(error.kind == .environment ? .internalServerError : (error.isNotFound ? .notFound : .badRequest), error.message)
        } catch let error as HTTPError {
            response = Self.page(error.status, error.body ?? error.status.reasonPhrase)
        }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.referrerPolicy] = "same-origin"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.xFrameOptions] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    static func page(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let link = status == .forbidden || status == .unauthorized ? LinkView(href: "/signin", text: "Sign in") : LinkView(href: "/", text: "Deployments")
        return WebTemplates.render("message", MessagePage(frame: Frame(title: "\(status.code) \(status.reasonPhrase)", session: nil),
                                                          title: "\(status.code) \(status.reasonPhrase)", message: message,
                                                          kind: "error", role: "alert", link: link), status: status)
    }
}

/// Sends the browser elsewhere (303), e.g. to sign in before a read on a closed server.
struct WebRedirect: Error {
    var location: String

    static func signIn(from request: Request) -> WebRedirect {
        let next = request.uri.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "/-_."))) ?? "/"
        return WebRedirect(location: "/signin?next=\(next)")
    }
}

/// A refusal shown as a page with its HTTP status (403 for a role or CSRF failure, 409 for a rule).
struct WebPageError: Error {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// An `application/x-www-form-urlencoded` body (what HTML forms post).
enum WebForm {
    static let maximumBytes = 64 * 1024

    static func read(_ request: Request) async throws -> [String: String] {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBytes)
        } catch {
            throw WebPageError(.contentTooLarge, "The form is larger than \(maximumBytes / 1024) KB")
        }
        return parse(String(buffer: buffer))
    }

    /// Fields by name; a repeated name keeps its first value.
    static func parse(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String { String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            let name = decode(parts[0])
            if fields[name] == nil { fields[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return fields
    }
}

extension HTTPField.Name {
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let xFrameOptions = Self("X-Frame-Options")!
}
