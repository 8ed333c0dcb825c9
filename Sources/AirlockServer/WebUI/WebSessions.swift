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

/// The web UI's sessions, kept in the deploy-history store (`WebSessionRecord`), so a server restart
/// signs no one out and every server of a shared history knows every session. Ids are stored as their
/// SHA-256, so a dump of the table cannot be replayed as cookies. Sessions expire after `lifetime`, end
/// on sign-out, and end at once when their token is revoked (the store deletes them with the revocation,
/// and `WebUI.session` checks the token on every request).
struct WebSessionStore: Sendable {
    static let lifetime: TimeInterval = 8 * 3600

    let store: any DeployHistoryStore

    /// Creates a session and returns its id (the cookie value), 256 random bits as hex.
    func create(for token: APIToken, now: Date = Date()) async throws(AirlockError) -> String {
        let id = Self.randomHex()
        try await store.createWebSession(WebSessionRecord(idSHA256: SHA256.hex(id), tokenId: token.id, csrf: Self.randomHex(),
                                                          createdAt: now, expiresAt: now.addingTimeInterval(Self.lifetime)))
        return id
    }

    /// The live session of the cookie value `id` with what its token says of it; nil (and its sessions
    /// ended) when the token was revoked.
    func session(id: String, now: Date = Date()) async throws(AirlockError) -> WebSession? {
        guard let record = try await store.webSession(idSHA256: SHA256.hex(id), now: now) else { return nil }
        guard let owner = try await store.listTokens().first(where: { $0.id == record.tokenId }), !owner.isRevoked else {
            try await store.deleteWebSessions(tokenId: record.tokenId)
            return nil
        }
        return WebSession(tokenId: owner.id, tokenName: owner.name, role: owner.role, csrf: record.csrf, expiresAt: record.expiresAt)
    }

    func end(id: String) async throws(AirlockError) {
        try await store.deleteWebSession(idSHA256: SHA256.hex(id))
    }

    /// Ends every session made with the token (it was revoked).
    func end(tokenId: String) async throws(AirlockError) {
        try await store.deleteWebSessions(tokenId: tokenId)
    }

    /// 32 bytes from the system CSPRNG, as 64 hex digits.
    static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }
}
