import AirlockCore
import Foundation

/// One database row as every store reads it, so the row → value mapping below exists once.
/// Implementations throw (never trap) on a missing or mistyped column.
protocol DeployHistoryRow {
    func string(_ column: String) throws -> String
    func optionalString(_ column: String) throws -> String?
    func int(_ column: String) throws -> Int
    func optionalInt(_ column: String) throws -> Int?
    func double(_ column: String) throws -> Double
    func optionalDouble(_ column: String) throws -> Double?
    func bool(_ column: String) throws -> Bool
}

/// The database-independent half of every `DeployHistoryStore`: validation, the exact refusal
/// messages, JSON columns, row mapping and the audit events that writes append. SQLite and
/// PostgreSQL both go through here, so they cannot drift apart on what the contract says.
enum DeployHistoryRecords {
    // MARK: Refusals (`.usage`; the contract tests check these texts)

    static func noDeployment(_ id: String) -> AirlockError { .notFound("No deployment with id `\(id)`") }
    static func noDeploy(_ id: String) -> AirlockError { .notFound("No deploy with id `\(id)`") }
    static func noToken(_ id: String) -> AirlockError { .notFound("No API token with id `\(id)`") }
    static func duplicateDeploymentName(_ name: String) -> AirlockError { .usage("A deployment named `\(name)` already exists") }
    static func duplicateDeploymentId(_ id: String) -> AirlockError { .usage("A deployment with id `\(id)` already exists") }
    static func duplicateDeploy(_ id: String) -> AirlockError { .usage("A deploy with id `\(id)` already exists") }
    static func duplicateAudit(_ id: String) -> AirlockError {
        .usage("An audit event with id `\(id)` already exists; audit events are append-only")
    }
    static func foreignReference(_ label: String, _ reference: String) -> AirlockError {
        .usage("`\(label)` names deploy `\(reference)`, which is not a deploy of this deployment")
    }
    static func foreignDeploy(_ deployId: String, deploymentName: String) -> AirlockError {
        .usage("Deploy `\(deployId)` belongs to another deployment, not `\(deploymentName)`")
    }
    static func immovableDeploy(_ existing: Deploy) -> AirlockError {
        .usage("Deploy `\(existing.id)` is \(existing.label) of deployment `\(existing.deploymentId)`; its deployment and sequence cannot change")
    }
    /// A UNIQUE(deployment_id, sequence) violation: another writer won the race for the number.
    static let sequenceRace = AirlockError.environment("Another deploy took the same sequence number at the same moment", hint: "retry the deploy")

    // MARK: Validation

    /// Checks a new deployment and encodes its JSON columns (`settings`, `pinned`).
    static func validateNewDeployment(_ deployment: Deployment) throws(AirlockError) -> (settings: String, pinned: String?) {
        try Deployment.validateName(deployment.name)
        guard !deployment.id.isEmpty else { throw .usage("A deployment id is required") }
        guard deployment.currentDeployId == nil else {
            throw .usage("A new deployment cannot have a current deploy; it gets one from its first successful deploy")
        }
        return (try json(deployment.settings), try deployment.pinned.map { pin throws(AirlockError) in try json(pin) })
    }

    /// Checks a deploy to store and encodes its JSON columns (`image`, `git`).
    static func encodedNested(_ deploy: Deploy) throws(AirlockError) -> (image: String?, git: String?) {
        guard !deploy.id.isEmpty else { throw .usage("A deploy id is required") }
        return (try deploy.image.map { value throws(AirlockError) in try json(value) },
                try deploy.git.map { value throws(AirlockError) in try json(value) })
    }

    /// The deploy as stored under `sequence`: a `DEPLOYED` deploy has always been deployed.
    static func numbered(_ deploy: Deploy, sequence: Int) -> Deploy {
        var stored = deploy
        stored.sequence = sequence
        stored.everDeployed = deploy.everDeployed || deploy.status == .deployed
        return stored
    }

    static func validatePage(offset: Int, limit: Int) throws(AirlockError) {
        guard offset >= 0 else { throw .usage("`offset` must be 0 or more (got \(offset))") }
        try validateLimit(limit)
    }

    static func validateLimit(_ limit: Int) throws(AirlockError) {
        guard limit >= 0 else { throw .usage("`limit` must be 0 or more (got \(limit))") }
    }

    /// The audit query's filters as `column = value` conditions (ANDed), in a fixed order, after checking its page.
    static func auditConditions(_ query: AuditQuery) throws(AirlockError) -> [(column: String, value: String)] {
        try validatePage(offset: query.offset, limit: query.limit)
        var conditions: [(column: String, value: String)] = []
        if let deploymentId = query.deploymentId { conditions.append(("deployment_id", deploymentId)) }
        if let actor = query.actor { conditions.append(("actor", actor)) }
        if let action = query.action { conditions.append(("action", action.rawValue)) }
        return conditions
    }

    /// The trimmed token name, or a refusal.
    static func validatedTokenName(_ name: String) throws(AirlockError) -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .usage("A token name is required: say what the token is for") }
        guard trimmed.count <= APIToken.maximumNameLength else {
            throw .usage("The token name is \(trimmed.count) characters long; the limit is \(APIToken.maximumNameLength)")
        }
        return trimmed
    }

    /// `airlock_` + 64 hex digits from the system CSPRNG (256 bits).
    static func newTokenSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        var secret = APIToken.secretPrefix
        for _ in 0..<32 {
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            secret.append(digits[Int(byte >> 4)])
            secret.append(digits[Int(byte & 0x0f)])
        }
        return secret
    }

    static func newId() -> String { UUID().uuidString.lowercased() }

    // MARK: JSON columns (dates as Unix seconds)

    static func json<T: Encodable>(_ value: T) throws(AirlockError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw .environment("Could not encode \(T.self) for the deploy history: \(error)")
        }
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?, decoder: JSONDecoder, column: String) throws -> T? {
        guard let text else { return nil }
        do {
            return try decoder.decode(T.self, from: Data(text.utf8))
        } catch {
            throw AirlockError.environment("The deploy history database holds an unreadable `\(column)` value: \(error)")
        }
    }

    // MARK: Rows → values

    static func deployment(from row: some DeployHistoryRow) throws -> Deployment {
        let decoder = decoder()
        let targetText = try row.string("target")
        guard let target = DeploymentTarget(rawValue: targetText) else {
            throw AirlockError.environment("The deploy history database holds an unknown deployment target `\(targetText)`")
        }
        return Deployment(id: try row.string("id"), name: try row.string("name"), target: target,
                          settings: try decode(DeploymentSettings.self, try row.string("settings"), decoder: decoder, column: "settings")
                              ?? DeploymentSettings(),
                          currentDeployId: try row.optionalString("current_deploy_id"),
                          pinned: try decode(Deployment.Pin.self, try row.optionalString("pinned"), decoder: decoder, column: "pinned"))
    }

    static func deploy(from row: some DeployHistoryRow, decoder: JSONDecoder) throws -> Deploy {
        let typeText = try row.string("type")
        let statusText = try row.string("status")
        guard let type = DeployType(rawValue: typeText), let status = DeployStatus(rawValue: statusText) else {
            throw AirlockError.environment("The deploy history database holds an unknown deploy type or status (`\(typeText)`, `\(statusText)`)")
        }
        return Deploy(id: try row.string("id"), deploymentId: try row.string("deployment_id"), sequence: try row.int("sequence"),
                      type: type, status: status, description: try row.string("description"),
                      createdAt: Date(timeIntervalSince1970: try row.double("created_at")), createdBy: try row.string("created_by"),
                      image: try decode(DeployImage.self, try row.optionalString("image"), decoder: decoder, column: "image"),
                      dagBundleVersion: try row.optionalString("dag_bundle_version"), dagDeployEnabled: try row.bool("dag_deploy_enabled"),
                      dbSchemaHead: try row.optionalString("db_schema_head"),
                      git: try decode(GitMetadata.self, try row.optionalString("git"), decoder: decoder, column: "git"),
                      rollbackFromId: try row.optionalString("rollback_from_id"), rollbackToId: try row.optionalString("rollback_to_id"),
                      artifactsStored: try row.bool("artifacts_stored"), everDeployed: try row.bool("ever_deployed"),
                      targetImage: try row.optionalString("target_image"), helmRevision: try row.optionalInt("helm_revision"))
    }

    static func auditEvent(from row: some DeployHistoryRow) throws -> AuditEvent {
        AuditEvent(id: try row.string("id"), at: Date(timeIntervalSince1970: try row.double("at")), actor: try row.string("actor"),
                   action: AuditEvent.Action(rawValue: try row.string("action")), deploymentId: try row.optionalString("deployment_id"),
                   beforeDeployId: try row.optionalString("before_deploy_id"), afterDeployId: try row.optionalString("after_deploy_id"),
                   beforeRuntime: try row.optionalString("before_runtime"), afterRuntime: try row.optionalString("after_runtime"),
                   outcome: AuditEvent.Outcome(rawValue: try row.string("outcome")) ?? .failed,
                   requestId: try row.optionalString("request_id"), detail: try row.optionalString("detail"))
    }

    static func token(from row: some DeployHistoryRow) throws -> APIToken {
        // An unknown role (written by a newer Airlock) grants the least.
        APIToken(id: try row.string("id"), name: try row.string("name"), role: Role(rawValue: try row.string("role")) ?? .viewer,
                 createdAt: Date(timeIntervalSince1970: try row.double("created_at")),
                 revokedAt: try row.optionalDouble("revoked_at").map(Date.init(timeIntervalSince1970:)),
                 lastUsedAt: try row.optionalDouble("last_used_at").map(Date.init(timeIntervalSince1970:)))
    }

    static func webSession(from row: some DeployHistoryRow) throws -> WebSessionRecord {
        WebSessionRecord(idSHA256: try row.string("id_sha256"), tokenId: try row.string("token_id"), csrf: try row.string("csrf"),
                         createdAt: Date(timeIntervalSince1970: try row.double("created_at")),
                         expiresAt: Date(timeIntervalSince1970: try row.double("expires_at")))
    }

    // MARK: Audit events appended by writes

    static func settingsEvent(id: String, at: Date, actor: String, requestId: String?, deployment: Deployment,
                              newSettings: DeploymentSettings) -> AuditEvent {
        AuditEvent(id: id, at: at, actor: actor, action: .deploymentSettings, deploymentId: deployment.id,
                   beforeDeployId: deployment.currentDeployId, afterDeployId: deployment.currentDeployId, outcome: .succeeded,
                   requestId: requestId, detail: describeChanges(from: deployment.settings, to: newSettings))
    }

    static func pinEvent(id: String, at: Date, actor: String, requestId: String?, deployment: Deployment,
                         pin: Deployment.Pin?) -> AuditEvent {
        AuditEvent(id: id, at: at, actor: actor, action: pin == nil ? .deploymentUnpin : .deploymentPin, deploymentId: deployment.id,
                   beforeDeployId: deployment.currentDeployId, afterDeployId: deployment.currentDeployId, outcome: .succeeded,
                   requestId: requestId, detail: pin?.reason ?? deployment.pinned.map { "was pinned: \($0.reason)" })
    }

    /// `deploy.create` / `deploy.rollback` for a deploy that became DEPLOYED (`reason == nil`) or FAILED.
    static func deployOutcomeEvent(id: String, at: Date, actor: String, requestId: String?, deploy: Deploy, previous: Deploy?,
                                   failureReason reason: String?) -> AuditEvent {
        AuditEvent(id: id, at: at, actor: actor, action: deploy.isRollback ? .deployRollback : .deployCreate,
                   deploymentId: deploy.deploymentId, beforeDeployId: previous?.id, afterDeployId: deploy.id,
                   beforeRuntime: previous?.image?.versionLabel, afterRuntime: deploy.image?.versionLabel,
                   outcome: reason == nil ? .succeeded : .failed, requestId: requestId,
                   detail: reason ?? "\(deploy.label) deployed\(deploy.description.isEmpty ? "" : ": \(deploy.description)")")
    }

    /// `rollbackEnabled: false → true; environmentVariables: +API_KEY ~REGION` — variable names only,
    /// since values may be secrets.
    static func describeChanges(from old: DeploymentSettings, to new: DeploymentSettings) -> String {
        var changes: [String] = []
        func field<V: Equatable>(_ name: String, _ a: V, _ b: V, _ show: (V) -> String) {
            if a != b { changes.append("\(name): \(show(a)) → \(show(b))") }
        }
        field("rollbackEnabled", old.rollbackEnabled, new.rollbackEnabled) { "\($0)" }
        field("dagDeployEnabled", old.dagDeployEnabled, new.dagDeployEnabled) { "\($0)" }
        field("deployMechanism", old.deployMechanism, new.deployMechanism) { $0.rawValue }
        field("retentionDays", old.retentionDays, new.retentionDays) { "\($0)" }
        field("executor", old.executor, new.executor) { $0 ?? "default" }
        field("startTimeoutSeconds", old.kubernetes?.startTimeout, new.kubernetes?.startTimeout) { $0.map { "\($0)" } ?? "–" }
        if old.environmentVariables != new.environmentVariables {
            let keys = Set(old.environmentVariables.keys).union(new.environmentVariables.keys).sorted()
            let marks = keys.compactMap { key -> String? in
                switch (old.environmentVariables[key], new.environmentVariables[key]) {
                case (nil, _?): "+\(key)"
                case (_?, nil): "-\(key)"
                case let (a?, b?) where a != b: "~\(key)"
                default: nil
                }
            }
            changes.append("environmentVariables: \(marks.joined(separator: " "))")
        }
        return changes.isEmpty ? "no changes" : changes.joined(separator: "; ")
    }
}
