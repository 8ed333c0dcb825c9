import Foundation

/// One append-only audit log entry (SPEC §4.1, §4.3 rule 10). Unlike peers, it records the
/// before/after deploy and runtime, so "who moved production from 3.0.6 to 2.10.5" has an answer.
public struct AuditEvent: Hashable, Codable, Sendable, Identifiable {
    /// A dotted action name. A struct rather than an enum so later features add actions without
    /// breaking stored logs.
    public struct Action: RawRepresentable, Hashable, Codable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public var rawValue: String

        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }

        public var description: String { rawValue }

        public static let deploymentCreate: Action = "deployment.create"
        public static let deploymentSettings: Action = "deployment.settings"
        public static let deploymentPin: Action = "deployment.pin"
        public static let deploymentUnpin: Action = "deployment.unpin"
        /// A queued deploy or rollback began to run (its turn came): serialisation is visible in the log.
        public static let deployStart: Action = "deploy.start"
        public static let deployCreate: Action = "deploy.create"
        public static let deployRollback: Action = "deploy.rollback"
        public static let deployPrune: Action = "deploy.prune"
    }

    public enum Outcome: String, Hashable, Codable, Sendable, CaseIterable {
        case succeeded
        case failed
        /// Stopped by a rule (ineligible target, missing permission, pin) before anything changed.
        case refused
    }

    public var id: String
    public var at: Date
    /// The user or API token.
    public var actor: String
    public var action: Action
    public var deploymentId: String?
    public var beforeDeployId: String?
    public var afterDeployId: String?
    /// `DeployImage.versionLabel` of the deploy before and after.
    public var beforeRuntime: String?
    public var afterRuntime: String?
    public var outcome: Outcome
    /// Ties the entry to the API request or CLI invocation.
    public var requestId: String?
    /// Free text: the rollback description, the refusal message, the changed settings.
    public var detail: String?

    public init(id: String, at: Date, actor: String, action: Action, deploymentId: String?, beforeDeployId: String? = nil,
                afterDeployId: String? = nil, beforeRuntime: String? = nil, afterRuntime: String? = nil, outcome: Outcome,
                requestId: String? = nil, detail: String? = nil) {
        self.id = id
        self.at = at
        self.actor = actor
        self.action = action
        self.deploymentId = deploymentId
        self.beforeDeployId = beforeDeployId
        self.afterDeployId = afterDeployId
        self.beforeRuntime = beforeRuntime
        self.afterRuntime = afterRuntime
        self.outcome = outcome
        self.requestId = requestId
        self.detail = detail
    }

    /// The entry for a rollback: before is the deploy that was current, after the new rollback
    /// deploy (or the target when none was created), runtimes from both images.
    public static func rollback(_ plan: RollbackPlan, id: String, at: Date, actor: String, outcome: Outcome,
                                newDeployId: String?, requestId: String? = nil, detail: String? = nil) -> AuditEvent {
        AuditEvent(id: id, at: at, actor: actor, action: .deployRollback, deploymentId: plan.deploymentId,
                   beforeDeployId: plan.fromDeploy.id, afterDeployId: newDeployId ?? plan.toDeploy.id,
                   beforeRuntime: plan.fromDeploy.image?.versionLabel, afterRuntime: plan.toDeploy.image?.versionLabel,
                   outcome: outcome, requestId: requestId, detail: detail ?? plan.description)
    }

    private enum CodingKeys: String, CodingKey {
        case id, at, actor, action, deploymentId, beforeDeployId, afterDeployId, beforeRuntime, afterRuntime, outcome, requestId, detail
    }

    /// Writes `null` for absent values so every entry has the same keys.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(at, forKey: .at)
        try container.encode(actor, forKey: .actor)
        try container.encode(action, forKey: .action)
        try container.encode(deploymentId, forKey: .deploymentId)
        try container.encode(beforeDeployId, forKey: .beforeDeployId)
        try container.encode(afterDeployId, forKey: .afterDeployId)
        try container.encode(beforeRuntime, forKey: .beforeRuntime)
        try container.encode(afterRuntime, forKey: .afterRuntime)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(requestId, forKey: .requestId)
        try container.encode(detail, forKey: .detail)
    }
}
