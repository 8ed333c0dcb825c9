import Foundation
import HTTPTypes
import Hummingbird

/// The UI's cookies (`HttpOnly`, `SameSite=Strict`) get `Secure` when the request arrived over TLS, so a
/// browser never sends them back over plain HTTP.
///
/// The rule: the request came over `https` — its own scheme (`airlock server` itself speaks plain HTTP,
/// so in practice this is a TLS-terminating reverse proxy) or a proxy that says so with
/// `X-Forwarded-Proto: https` or `Forwarded: proto=https` (RFC 7239). These headers are trusted from any
/// peer because they can only *add* `Secure`: a client that forges one over plain HTTP gets a cookie its
/// browser will not store, which hurts only itself. Without them (loopback HTTP) cookies stay usable.
extension WebUI {
    static func arrivedOverTLS(_ request: Request) -> Bool {
        if request.head.scheme?.lowercased() == "https" { return true }
        if let proto = request.headers[.xForwardedProto]?.split(separator: ",").first,
           proto.trimmingCharacters(in: .whitespaces).lowercased() == "https" { return true }
        if let forwarded = request.headers[.forwarded]?.split(separator: ",").first {
            for pair in forwarded.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                if parts.count == 2, parts[0] == "proto", parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == "https" { return true }
            }
        }
        return false
    }

    /// A UI cookie: `HttpOnly`, `SameSite=Strict`, and `Secure` when the request arrived over TLS.
    static func cookie(_ request: Request, name: String, value: String, maxAge: Int, path: String) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: arrivedOverTLS(request), httpOnly: true, sameSite: .strict)
    }
}

extension HTTPField.Name {
    static let xForwardedProto = Self("X-Forwarded-Proto")!
    static let forwarded = Self("Forwarded")!
}
