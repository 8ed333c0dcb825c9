import AirlockCore
import AirlockStorage
import Foundation

/// A browser's sign-in: made from an API token, which the browser sends once (the sign-in form's body)
/// and never keeps; the browser holds only the session's opaque id in a cookie.
struct WebSession: Sendable {
    var tokenId: String
    var tokenName: String
    var role: Role
    /// The synchronizer token every form of this session carries; POSTs without it are refused.
    var csrf: String
    var expiresAt: Date
}

/// The web UI's sessions, kept in memory: a restart signs everyone out (the first slice; a table in
/// the deploy-history store would let sessions survive restarts). Ids are stored as their SHA-256,
/// so a dump of this table cannot be replayed as cookies. Sessions expire after `lifetime`, end on
/// sign-out, and end at once when their token is revoked (checked on every request).
actor WebSessionStore {
    static let lifetime: TimeInterval = 8 * 3600

    private var sessions: [String: WebSession] = [:]

    /// Creates a session and returns its id (the cookie value), 256 random bits as hex.
    func create(for token: APIToken, now: Date = Date()) -> String {
        sessions = sessions.filter { $0.value.expiresAt > now }
        let id = Self.randomHex()
        sessions[SHA256.hex(id)] = WebSession(tokenId: token.id, tokenName: token.name, role: token.role, csrf: Self.randomHex(),
                                              expiresAt: now.addingTimeInterval(Self.lifetime))
        return id
    }

    /// The live session of the cookie value `id`; expired sessions are removed.
    func session(id: String, now: Date = Date()) -> WebSession? {
        let key = SHA256.hex(id)
        guard let session = sessions[key] else { return nil }
        guard session.expiresAt > now else {
            sessions[key] = nil
            return nil
        }
        return session
    }

    func end(id: String) {
        sessions[SHA256.hex(id)] = nil
    }

    /// Ends every session made with the token (it was revoked).
    func end(tokenId: String) {
        sessions = sessions.filter { $0.value.tokenId != tokenId }
    }

    /// 32 bytes from the system CSPRNG, as 64 hex digits.
    static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }
}
