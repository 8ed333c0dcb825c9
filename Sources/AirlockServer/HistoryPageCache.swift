import AirlockCore
import AirlockStorage
import Foundation
import NIOCore

/// Deploy-history pages as the server last encoded them, reused until the store changes.
///
/// Why: a page of 50 deploys costs two store reads, decoding 50 rows and encoding 50 deploys — about
/// 4 ms of CPU in a debug build, where `/health` costs 0.2 ms — and under load every client asks for
/// the same newest page (issue 9: 1,000 connections on the history page). The server is its store's
/// only writer (the CLI talks to it over HTTP), and every write goes through `ChangeCountingStore`,
/// which bumps `generation` once the write is done; a page is served only while the generation it was
/// read under is still current, so a client never sees a page older than a write it was answered.
/// Bounded: at most `maximumBytes` of pages (cleared when full), so odd offsets cannot grow it.
final class HistoryPageCache: @unchecked Sendable {
    struct Key: Hashable {
        var deploymentName: String
        var offset: Int
        var limit: Int
        /// The search's text (`nil`: the whole history): a searched page is another page.
        var search: String? = nil
    }

    static let maximumBytes = 16 * 1024 * 1024
    private let lock = NSLock()
    private var current: UInt64 = 0
    private var pages: [Key: (generation: UInt64, body: ByteBuffer)] = [:]
    private var bytes = 0

    /// The generation to read a page under (before reading it).
    var generation: UInt64 { lock.withLock { current } }

    /// A store write finished: every cached page may be stale.
    func invalidate() {
        lock.withLock {
            current &+= 1
            pages.removeAll(keepingCapacity: true)
            bytes = 0
        }
    }

    func page(_ key: Key) -> ByteBuffer? {
        lock.withLock {
            guard let page = pages[key], page.generation == current else { return nil }
            return page.body
        }
    }

    /// Keeps a page read under `generation`, unless a write happened since.
    func keep(_ body: ByteBuffer, for key: Key, readAt generation: UInt64) {
        lock.withLock {
            guard generation == current, body.readableBytes <= Self.maximumBytes else { return }
            if bytes + body.readableBytes > Self.maximumBytes {
                pages.removeAll(keepingCapacity: true)
                bytes = 0
            }
            bytes += body.readableBytes - (pages[key]?.body.readableBytes ?? 0)
            pages[key] = (generation, body)
        }
    }
}

/// The server's store: every call goes to `base`; every write then invalidates `pages`.
public final class ChangeCountingStore: DeployHistoryStore {
    let base: any DeployHistoryStore
    let pages = HistoryPageCache()

    public init(_ base: any DeployHistoryStore) {
        self.base = base
    }

    private func write<T>(_ body: () async throws(AirlockError) -> T) async throws(AirlockError) -> T {
        defer { pages.invalidate() }
        return try await body()
    }

    public func schemaVersion() async throws(AirlockError) -> Int { try await base.schemaVersion() }

    public func createDeployment(_ deployment: Deployment) async throws(AirlockError) -> Deployment {
        try await write { () async throws(AirlockError) in try await base.createDeployment(deployment) }
    }

    public func deployment(named name: String) async throws(AirlockError) -> Deployment? { try await base.deployment(named: name) }
    public func deployment(id: String) async throws(AirlockError) -> Deployment? { try await base.deployment(id: id) }
    public func listDeployments() async throws(AirlockError) -> [Deployment] { try await base.listDeployments() }

    public func updateSettings(deploymentId: String, settings: DeploymentSettings, actor: String,
                               requestId: String?) async throws(AirlockError) -> Deployment {
        try await write { () async throws(AirlockError) in
            try await base.updateSettings(deploymentId: deploymentId, settings: settings, actor: actor, requestId: requestId)
        }
    }

    public func setPin(deploymentId: String, pin: Deployment.Pin?, actor: String, requestId: String?) async throws(AirlockError) -> Deployment {
        try await write { () async throws(AirlockError) in
            try await base.setPin(deploymentId: deploymentId, pin: pin, actor: actor, requestId: requestId)
        }
    }

    public func createDeploy(_ deploy: Deploy) async throws(AirlockError) -> Deploy {
        try await write { () async throws(AirlockError) in try await base.createDeploy(deploy) }
    }

    public func createDeploys(_ deploys: [Deploy]) async throws(AirlockError) -> [Deploy] {
        try await write { () async throws(AirlockError) in try await base.createDeploys(deploys) }
    }

    public func updateDeploy(_ deploy: Deploy) async throws(AirlockError) -> Deploy {
        try await write { () async throws(AirlockError) in try await base.updateDeploy(deploy) }
    }

    public func deploy(id: String) async throws(AirlockError) -> Deploy? { try await base.deploy(id: id) }

    public func listDeploys(deploymentId: String, offset: Int, limit: Int,
                            search: DeploySearch?) async throws(AirlockError) -> (deploys: [Deploy], totalCount: Int) {
        try await base.listDeploys(deploymentId: deploymentId, offset: offset, limit: limit, search: search)
    }

    public func history(deploymentId: String) async throws(AirlockError) -> [Deploy] { try await base.history(deploymentId: deploymentId) }

    public func markDeployed(deployId: String, deploymentId: String, dbSchemaHead: String?, actor: String,
                             requestId: String?) async throws(AirlockError) -> Deploy {
        try await write { () async throws(AirlockError) in
            try await base.markDeployed(deployId: deployId, deploymentId: deploymentId, dbSchemaHead: dbSchemaHead, actor: actor,
                                        requestId: requestId)
        }
    }

    public func markFailed(deployId: String, reason: String, actor: String, requestId: String?) async throws(AirlockError) -> Deploy {
        try await write { () async throws(AirlockError) in
            try await base.markFailed(deployId: deployId, reason: reason, actor: actor, requestId: requestId)
        }
    }

    public func recordTargetRun(deployId: String, targetImage: String?, helmRevision: Int?) async throws(AirlockError) -> Deploy {
        try await write { () async throws(AirlockError) in
            try await base.recordTargetRun(deployId: deployId, targetImage: targetImage, helmRevision: helmRevision)
        }
    }

    public func appendAudit(_ event: AuditEvent) async throws(AirlockError) {
        try await write { () async throws(AirlockError) in try await base.appendAudit(event) }
    }

    public func auditEvents(_ query: AuditQuery) async throws(AirlockError) -> AuditPage { try await base.auditEvents(query) }

    public func createToken(name: String, role: Role) async throws(AirlockError) -> (token: String, record: APIToken) {
        try await write { () async throws(AirlockError) in try await base.createToken(name: name, role: role) }
    }

    public func token(matching secret: String) async throws(AirlockError) -> APIToken? { try await base.token(matching: secret) }
    public func listTokens() async throws(AirlockError) -> [APIToken] { try await base.listTokens() }

    public func revokeToken(id: String) async throws(AirlockError) -> APIToken {
        try await write { () async throws(AirlockError) in try await base.revokeToken(id: id) }
    }

    // A session is no change to any history page: nothing to invalidate.
    public func createWebSession(_ session: WebSessionRecord) async throws(AirlockError) { try await base.createWebSession(session) }
    public func webSession(idSHA256: String, now: Date) async throws(AirlockError) -> WebSessionRecord? {
        try await base.webSession(idSHA256: idSHA256, now: now)
    }
    public func deleteWebSession(idSHA256: String) async throws(AirlockError) { try await base.deleteWebSession(idSHA256: idSHA256) }
    public func deleteWebSessions(tokenId: String) async throws(AirlockError) { try await base.deleteWebSessions(tokenId: tokenId) }

    public func markArtifactsExpired(deployIds: [String]) async throws(AirlockError) -> Int {
        try await write { () async throws(AirlockError) in try await base.markArtifactsExpired(deployIds: deployIds) }
    }

    public func withDeploymentLock<T: Sendable>(deploymentId: String,
                                                _ body: @Sendable () async throws(AirlockError) -> T) async throws(AirlockError) -> T {
        try await base.withDeploymentLock(deploymentId: deploymentId, body)
    }

    public var isSharedByServers: Bool { base.isSharedByServers }
}
