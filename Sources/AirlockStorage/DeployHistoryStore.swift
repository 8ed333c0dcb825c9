import AirlockCore
import Foundation

/// Where deployments, their deploys, audit events and API tokens are kept (SPEC §4.1, §4.5).
///
/// One contract, several implementations (SQLite and PostgreSQL), so the server and the
/// rollback executor never depend on the database in use. Writes that belong together happen
/// in one transaction: after a crash at any point the history is consistent and every deployment
/// points at a deploy that exists (or at none).
///
/// Errors: every method is `async throws(AirlockError)`.
/// - `.usage` — the request itself is wrong: a duplicate deployment name or id, an unknown
///   deployment/deploy/token id, a deploy that belongs to another deployment, an invalid name.
/// - `.environment` — the database failed (I/O, locked past the busy timeout, corrupt file).
///
/// Ordering: deploy lists and `history` are newest first (sequence descending); audit events are
/// newest first in append order (the order the store accepted them, not the callers' clocks).
///
/// Dates are stored as Unix seconds (a `Double`), so dates with whole milliseconds or coarser
/// round-trip exactly.
public protocol DeployHistoryStore: Sendable {
    /// The version of the store's schema: the number of the newest applied migration (`1` for v1).
    func schemaVersion() async throws(AirlockError) -> Int

    // MARK: Deployments

    /// Stores a new deployment. Validates the name (`Deployment.validateName`); refuses a name or
    /// id already in use (`A deployment named `x` already exists`). `currentDeployId` must be `nil`.
    @discardableResult
    func createDeployment(_ deployment: Deployment) async throws(AirlockError) -> Deployment
    func deployment(named name: String) async throws(AirlockError) -> Deployment?
    func deployment(id: String) async throws(AirlockError) -> Deployment?
    /// Every deployment, by name.
    func listDeployments() async throws(AirlockError) -> [Deployment]
    /// Replaces the settings and appends a `deployment.settings` audit event listing what changed
    /// (environment variable names only, never values), in one transaction. Returns the updated deployment.
    @discardableResult
    func updateSettings(deploymentId: String, settings: DeploymentSettings, actor: String,
                        requestId: String?) async throws(AirlockError) -> Deployment
    /// Sets (`pin != nil`) or clears the pin and appends a `deployment.pin` / `deployment.unpin`
    /// audit event, in one transaction. Returns the updated deployment.
    @discardableResult
    func setPin(deploymentId: String, pin: Deployment.Pin?, actor: String,
                requestId: String?) async throws(AirlockError) -> Deployment

    // MARK: Deploys

    /// Stores a new deploy. `deploy.sequence` is ignored: the store assigns max+1 for the deployment
    /// inside the write transaction (a UNIQUE(deployment_id, sequence) index backs it), so concurrent
    /// creators never share a number. Returns the deploy as stored, with its sequence.
    @discardableResult
    func createDeploy(_ deploy: Deploy) async throws(AirlockError) -> Deploy
    /// Stores several deploys in one transaction, numbered consecutively in the given order (imports,
    /// benchmarks). All or none are stored.
    @discardableResult
    func createDeploys(_ deploys: [Deploy]) async throws(AirlockError) -> [Deploy]
    /// Replaces the stored fields of an existing deploy. `deploymentId` and `sequence` cannot change;
    /// `everDeployed` never goes back to false. Returns the deploy as stored.
    @discardableResult
    func updateDeploy(_ deploy: Deploy) async throws(AirlockError) -> Deploy
    func deploy(id: String) async throws(AirlockError) -> Deploy?
    /// One page of a deployment's deploys, newest first, and how many it has in total; with a `search`,
    /// only the deploys it matches and how many match. The database filters, counts and pages (never the
    /// caller), so a search stays one scan of the deployment's rows however long its history.
    func listDeploys(deploymentId: String, offset: Int, limit: Int,
                     search: DeploySearch?) async throws(AirlockError) -> (deploys: [Deploy], totalCount: Int)
    /// Every deploy of the deployment, newest first: the input of `RollbackPolicy` and `RollbackPlanner`.
    func history(deploymentId: String) async throws(AirlockError) -> [Deploy]

    /// In one transaction: the deploy becomes `DEPLOYED` (and `everDeployed`), its `dbSchemaHead` is
    /// set when given, the deployment's `currentDeployId` becomes this deploy, and an audit event
    /// (`deploy.create`, or `deploy.rollback` for rollback deploys) records before/after deploy and runtime.
    @discardableResult
    func markDeployed(deployId: String, deploymentId: String, dbSchemaHead: String?, actor: String,
                      requestId: String?) async throws(AirlockError) -> Deploy
    /// In one transaction: the deploy becomes `FAILED` and an audit event with outcome `failed` and
    /// `reason` as detail is appended. The deployment's current deploy does not change.
    @discardableResult
    func markFailed(deployId: String, reason: String, actor: String, requestId: String?) async throws(AirlockError) -> Deploy
    /// Sets what the target ran the deploy as (`targetImage`, `helmRevision`; `nil` clears), leaving every other
    /// field, whatever the deploy's status: the coordinator records them once the target started the deploy's
    /// release, before it marks the deploy `DEPLOYED` or `FAILED`. Returns the deploy as stored.
    @discardableResult
    func recordTargetRun(deployId: String, targetImage: String?, helmRevision: Int?) async throws(AirlockError) -> Deploy

    // MARK: Audit (append-only: there is no update or delete)

    func appendAudit(_ event: AuditEvent) async throws(AirlockError)
    /// One page of the audit events the query's filters match, newest first, and how many match in
    /// all. The filters are applied by the database (indexed), so the page stays fast on a long log.
    func auditEvents(_ query: AuditQuery) async throws(AirlockError) -> AuditPage

    // MARK: API tokens

    /// Creates a token and returns its secret once; only the secret's SHA-256 is stored.
    func createToken(name: String, role: Role) async throws(AirlockError) -> (token: String, record: APIToken)
    /// The unrevoked token whose secret this is, if any. A match records the use in `lastUsedAt`, at most
    /// once per `APIToken.lastUsedResolution` (a write per minute per token, not per request).
    func token(matching secret: String) async throws(AirlockError) -> APIToken?
    /// Every token, revoked ones included, oldest first.
    func listTokens() async throws(AirlockError) -> [APIToken]
    /// Revokes the token (idempotent: a second revoke keeps the first time) and ends its web sessions.
    /// Unknown ids are refused.
    @discardableResult
    func revokeToken(id: String) async throws(AirlockError) -> APIToken

    // MARK: Web UI sessions (issue 12)

    /// Keeps a browser's session (`WebSessionRecord`: the SHA-256 of its cookie value, never the value)
    /// and removes the sessions that expired by its creation. In the store rather than in one server's
    /// memory, so a restart does not sign everyone out and every server of a shared history knows it.
    func createWebSession(_ session: WebSessionRecord) async throws(AirlockError)
    /// The session whose cookie value hashes to `idSHA256`, unless it expired by `now`.
    func webSession(idSHA256: String, now: Date) async throws(AirlockError) -> WebSessionRecord?
    /// Ends one session (sign-out); unknown ids do nothing.
    func deleteWebSession(idSHA256: String) async throws(AirlockError)
    /// Ends every session made with the token. `revokeToken` does this too, in its transaction.
    func deleteWebSessions(tokenId: String) async throws(AirlockError)

    // MARK: Artifacts (SPEC §4.3 rule 11)

    /// Marks the deploys' artifacts as expired (`artifactsStored = false`); the records stay.
    /// Unknown ids are ignored. Returns how many deploys changed.
    @discardableResult
    func markArtifactsExpired(deployIds: [String]) async throws(AirlockError) -> Int

    // MARK: Several servers on one history (issue 13 item 6)

    /// Runs `body` holding the deployment's lock, after waiting for it: one holder at a time, in this
    /// process or in any other Airlock server on the same history. The coordinator holds it for a whole
    /// deploy or rollback and for the reconciliation of the deployment, so the work of two servers on one
    /// deployment never interleaves. A holder that dies frees the lock (the kernel drops a `flock`,
    /// PostgreSQL drops a session's advisory locks with its connection), so the next server can repair
    /// what the dead one left. Errors thrown by `body` are rethrown as they are.
    func withDeploymentLock<T: Sendable>(deploymentId: String,
                                         _ body: @Sendable () async throws(AirlockError) -> T) async throws(AirlockError) -> T

    /// Whether other Airlock servers may use this history at the same time (PostgreSQL): then a deploy
    /// still `INITIALIZED` at a server's start may be another server's upload or queue, not a leftover.
    var isSharedByServers: Bool { get }
}

extension DeployHistoryStore {
    /// One page of the whole history (no search).
    public func listDeploys(deploymentId: String, offset: Int, limit: Int) async throws(AirlockError) -> (deploys: [Deploy], totalCount: Int) {
        try await listDeploys(deploymentId: deploymentId, offset: offset, limit: limit, search: nil)
    }

    @discardableResult
    public func updateSettings(deploymentId: String, settings: DeploymentSettings, actor: String) async throws(AirlockError) -> Deployment {
        try await updateSettings(deploymentId: deploymentId, settings: settings, actor: actor, requestId: nil)
    }

    @discardableResult
    public func setPin(deploymentId: String, pin: Deployment.Pin?, actor: String) async throws(AirlockError) -> Deployment {
        try await setPin(deploymentId: deploymentId, pin: pin, actor: actor, requestId: nil)
    }

    @discardableResult
    public func markDeployed(deployId: String, deploymentId: String, dbSchemaHead: String?, actor: String) async throws(AirlockError) -> Deploy {
        try await markDeployed(deployId: deployId, deploymentId: deploymentId, dbSchemaHead: dbSchemaHead, actor: actor, requestId: nil)
    }

    @discardableResult
    public func markFailed(deployId: String, reason: String, actor: String) async throws(AirlockError) -> Deploy {
        try await markFailed(deployId: deployId, reason: reason, actor: actor, requestId: nil)
    }

    /// The 100 newest audit events of the deployment.
    public func auditEvents(deploymentId: String?) async throws(AirlockError) -> [AuditEvent] {
        try await auditEvents(deploymentId: deploymentId, limit: 100)
    }

    /// The `limit` newest audit events; `deploymentId == nil` means every deployment (and events without one).
    public func auditEvents(deploymentId: String?, limit: Int) async throws(AirlockError) -> [AuditEvent] {
        try await auditEvents(AuditQuery(deploymentId: deploymentId, limit: limit)).events
    }
}

/// Which audit events to list: every filter that is set must match exactly (`nil` matches all).
public struct AuditQuery: Hashable, Sendable {
    /// Events of this deployment only; `nil`: every deployment and events without one (token changes).
    public var deploymentId: String?
    public var actor: String?
    public var action: AuditEvent.Action?
    public var offset: Int
    public var limit: Int

    public init(deploymentId: String? = nil, actor: String? = nil, action: AuditEvent.Action? = nil, offset: Int = 0, limit: Int = 100) {
        self.deploymentId = deploymentId
        self.actor = actor
        self.action = action
        self.offset = offset
        self.limit = limit
    }
}

/// A page of audit events, newest first, and how many events match the query in all.
public struct AuditPage: Hashable, Sendable {
    public var events: [AuditEvent]
    public var totalCount: Int

    public init(events: [AuditEvent], totalCount: Int) {
        self.events = events
        self.totalCount = totalCount
    }
}

/// A Deploy History search (SPEC §4.4 "A deployment"): what a person types in the search box or
/// `?search=` carries. `#12` names deploy 12 only; any other text matches, case-insensitively and
/// as a substring (ASCII letters at least; PostgreSQL folds all of Unicode), the description, who deployed, the Airflow version or the Runtime version — and, when
/// it is a bare number, also the deploy with that number. The text is taken literally: `%`, `_` and `\`
/// are escaped before they reach a SQL `LIKE`.
public struct DeploySearch: Hashable, Sendable {
    /// The trimmed text as typed.
    public let text: String
    /// The deploy number the text names (`#12` or `12`), if any.
    public let sequence: Int?
    /// Whether the text fields are searched (everything but `#N`).
    public let matchesText: Bool

    public static let maximumLength = 200

    /// `nil` for an empty or blank query (no search: the whole history). Longer than `maximumLength`
    /// characters is refused (`.usage`).
    public init?(_ query: String?) throws(AirlockError) {
        // Counted in Unicode scalars before trimming, as JSON Schema's `maxLength` counts them.
        let length = query?.unicodeScalars.count ?? 0
        guard length <= Self.maximumLength else {
            throw .usage("`search` is at most \(Self.maximumLength) characters (got \(length))")
        }
        let text = (query ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return nil }
        self.text = text
        let digits = text.hasPrefix("#") ? text.dropFirst() : Substring(text)
        let number = digits.allSatisfy(\.isASCII) && digits.count <= 18 ? Int(digits) : nil
        sequence = number.flatMap { $0 >= 1 ? $0 : nil }
        matchesText = !(text.hasPrefix("#") && sequence != nil)
    }

    /// `%text%` for `LIKE … ESCAPE '\'`, with the text's own `\`, `%` and `_` escaped so they match themselves.
    public var likePattern: String {
        var escaped = ""
        for character in text {
            if character == "\\" || character == "%" || character == "_" { escaped.append("\\") }
            escaped.append(character)
        }
        return "%" + escaped + "%"
    }
}

/// An API token (SPEC §4.4). The secret itself is never stored; only its SHA-256.
/// A signed-in browser (the web UI's session), as stored: the cookie value itself is never stored, only its
/// SHA-256, so a copy of the table cannot be replayed as cookies.
public struct WebSessionRecord: Hashable, Sendable {
    public var idSHA256: String
    public var tokenId: String
    /// The synchronizer token the session's forms carry (useless without the cookie).
    public var csrf: String
    public var createdAt: Date
    public var expiresAt: Date

    public init(idSHA256: String, tokenId: String, csrf: String, createdAt: Date, expiresAt: Date) {
        self.idSHA256 = idSHA256
        self.tokenId = tokenId
        self.csrf = csrf
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

public struct APIToken: Hashable, Codable, Sendable, Identifiable {
    public var id: String
    /// What the token is for (`ci-prod`, `alice laptop`).
    public var name: String
    public var role: Role
    public var createdAt: Date
    public var revokedAt: Date?
    /// When the token last authenticated a request or a sign-in, to within `lastUsedResolution`.
    public var lastUsedAt: Date?

    public init(id: String, name: String, role: Role, createdAt: Date, revokedAt: Date? = nil, lastUsedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }

    /// `lastUsedAt` is written at most this often per token, so authenticating stays a read.
    public static let lastUsedResolution: TimeInterval = 60

    /// Whether a use at `now` should be written: never used, or last written a resolution ago.
    public func needsUseRecorded(at now: Date) -> Bool {
        guard let lastUsedAt else { return true }
        return now.timeIntervalSince(lastUsedAt) >= Self.lastUsedResolution
    }

    public var isRevoked: Bool { revokedAt != nil }

    /// The prefix of every secret, so leaked tokens are easy to recognise in logs and scanners.
    public static let secretPrefix = "airlock_"
    public static let maximumNameLength = 100

    private enum CodingKeys: String, CodingKey {
        case id, name, role, createdAt, revokedAt, lastUsedAt
    }

    /// Writes `null` for absent values so API clients always see the same keys.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(role, forKey: .role)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(revokedAt, forKey: .revokedAt)
        try container.encode(lastUsedAt, forKey: .lastUsedAt)
    }
}
