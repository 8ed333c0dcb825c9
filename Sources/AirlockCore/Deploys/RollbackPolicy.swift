import Foundation
import PythonPackaging

/// What an API token or user may do (SPEC §4.4). Rollback permissions are split between images and
/// DAGs, as in Astronomer Software 0.37, so a team can let DAG authors undo DAG-only deploys without
/// letting them move the runtime.
public enum Role: String, Hashable, Codable, Sendable, CaseIterable {
    case viewer
    case deployer
    case rollbackImages = "rollback-images"
    case rollbackDags = "rollback-dags"
    case admin

    /// Whether holding `self` is enough for an action that needs `required`: the same role, or `admin`.
    public func satisfies(_ required: Role) -> Bool {
        self == required || self == .admin
    }
}

/// Why a deploy cannot be rolled back to (or why an action is refused), with the message shown next
/// to the deploy in the history table and in CLI refusals.
///
/// Encoded as `{"code": "...", "message": "...", …details}` so API clients can match on a stable code.
public enum RollbackIneligibility: Hashable, Sendable {
    case rollbackDisabled
    case noCurrentDeploy
    case isCurrentDeploy
    case neverDeployed
    case artifactsExpired
    case outsideRetention(days: Int)
    /// The deploy has no recorded image, so there is nothing to restore.
    case imageUnknown
    /// The target's runtime is below Runtime 5 / Airflow 2.3 (where rollback support starts).
    case belowMinimumRuntime(runtime: String?, airflow: String)
    /// `nfs` or `git-sync`.
    case unsupportedMechanism(String)
    /// The current or the target runtime is in `RollbackPolicy.unsupportedRuntimeRanges`.
    case unsupportedPair(runtime: String)
    /// An automated deploy to a deployment pinned after a rollback.
    case pinned(Deployment.Pin)
    case descriptionMissing
    case descriptionTooLong(characters: Int)
    case missingPermission(Role)

    /// A stable machine-readable code (the case name).
    public var code: String {
        switch self {
        case .rollbackDisabled: "rollbackDisabled"
        case .noCurrentDeploy: "noCurrentDeploy"
        case .isCurrentDeploy: "isCurrentDeploy"
        case .neverDeployed: "neverDeployed"
        case .artifactsExpired: "artifactsExpired"
        case .outsideRetention: "outsideRetention"
        case .imageUnknown: "imageUnknown"
        case .belowMinimumRuntime: "belowMinimumRuntime"
        case .unsupportedMechanism: "unsupportedMechanism"
        case .unsupportedPair: "unsupportedPair"
        case .pinned: "pinned"
        case .descriptionMissing: "descriptionMissing"
        case .descriptionTooLong: "descriptionTooLong"
        case .missingPermission: "missingPermission"
        }
    }

    /// The user-facing reason.
    public var message: String {
        switch self {
        case .rollbackDisabled:
            return "Rollback is disabled for this deployment. Enable it in Settings → Rollback Deploy → Enable"
        case .noCurrentDeploy:
            return "The deployment has no current deploy to roll back from"
        case .isCurrentDeploy:
            return "This is the current deploy; there is nothing to roll back to"
        case .neverDeployed:
            return "This deploy never reached `DEPLOYED`, so it is not a known-good state to return to"
        case .artifactsExpired:
            return "The artifacts of this deploy expired and were deleted, so it cannot be restored"
        case .outsideRetention(let days):
            return "This deploy is older than the \(days)-day retention window; past it only the latest earlier deploy stays eligible"
        case .imageUnknown:
            return "This deploy has no recorded image, so it cannot be restored"
        case .belowMinimumRuntime(let runtime, let airflow):
            let running = runtime.map { "Runtime `\($0)` (Airflow `\(airflow)`)" } ?? "Airflow `\(airflow)`"
            return "Rollback needs Runtime 5 / Airflow 2.3 or newer; this deploy runs \(running)"
        case .unsupportedMechanism(let mechanism):
            return "Deployments using `\(mechanism)` deploys cannot be rolled back; only image and DAG-only deploys can"
        case .unsupportedPair(let runtime):
            let excluded = RuntimeVersion(runtime).flatMap(RollbackPolicy.unsupportedRange(containing:))
                .map { " (Runtime `\($0.lowerBound)` … `\($0.upperBound)` are excluded on either side)" } ?? ""
            return "Rolling back to or from Runtime `\(runtime)` is not supported\(excluded)"
        case .pinned(let pin):
            return "The deployment was pinned by `\(pin.by)` after a rollback (\(pin.reason)); automated deploys are refused until it is unpinned"
        case .descriptionMissing:
            return "A description is required: say why you are rolling back (1–\(RollbackPolicy.maximumDescriptionLength) characters)"
        case .descriptionTooLong(let characters):
            return "The description is \(characters) characters long; the limit is \(RollbackPolicy.maximumDescriptionLength)"
        case .missingPermission(let role):
            return "This rollback needs the `\(role.rawValue)` role (or `admin`)"
        }
    }
}

extension RollbackIneligibility: Codable {
    private enum CodingKeys: String, CodingKey {
        case code, message, days, runtime, airflow, mechanism, pin, characters, role
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encode(message, forKey: .message)
        switch self {
        case .outsideRetention(let days): try container.encode(days, forKey: .days)
        case .belowMinimumRuntime(let runtime, let airflow):
            try container.encode(runtime, forKey: .runtime)
            try container.encode(airflow, forKey: .airflow)
        case .unsupportedMechanism(let mechanism): try container.encode(mechanism, forKey: .mechanism)
        case .unsupportedPair(let runtime): try container.encode(runtime, forKey: .runtime)
        case .pinned(let pin): try container.encode(pin, forKey: .pin)
        case .descriptionTooLong(let characters): try container.encode(characters, forKey: .characters)
        case .missingPermission(let role): try container.encode(role, forKey: .role)
        case .rollbackDisabled, .noCurrentDeploy, .isCurrentDeploy, .neverDeployed, .artifactsExpired, .imageUnknown, .descriptionMissing:
            break
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let code = try container.decode(String.self, forKey: .code)
        switch code {
        case "rollbackDisabled": self = .rollbackDisabled
        case "noCurrentDeploy": self = .noCurrentDeploy
        case "isCurrentDeploy": self = .isCurrentDeploy
        case "neverDeployed": self = .neverDeployed
        case "artifactsExpired": self = .artifactsExpired
        case "outsideRetention": self = .outsideRetention(days: try container.decode(Int.self, forKey: .days))
        case "imageUnknown": self = .imageUnknown
        case "belowMinimumRuntime":
            self = .belowMinimumRuntime(runtime: try container.decodeIfPresent(String.self, forKey: .runtime),
                                        airflow: try container.decode(String.self, forKey: .airflow))
        case "unsupportedMechanism": self = .unsupportedMechanism(try container.decode(String.self, forKey: .mechanism))
        case "unsupportedPair": self = .unsupportedPair(runtime: try container.decode(String.self, forKey: .runtime))
        case "pinned": self = .pinned(try container.decode(Deployment.Pin.self, forKey: .pin))
        case "descriptionMissing": self = .descriptionMissing
        case "descriptionTooLong": self = .descriptionTooLong(characters: try container.decode(Int.self, forKey: .characters))
        case "missingPermission": self = .missingPermission(try container.decode(Role.self, forKey: .role))
        default:
            throw DecodingError.dataCorruptedError(forKey: .code, in: container, debugDescription: "Unknown rollback ineligibility `\(code)`")
        }
    }
}

/// The rollback rules of SPEC §4.3 (1–4, 9–11) as pure functions of the deployment, its history and
/// `now`, so the CLI, the API and the history table give the same answer for the same deploy.
public enum RollbackPolicy {
    /// Rollback support starts at Runtime 5.0.0 / Airflow 2.3.0: the large 2.3 schema change is the
    /// oldest one Airflow can still downgrade across.
    public static let minimumRuntime = RuntimeVersion(scheme: .semantic, numbers: [5, 0, 0])
    public static let minimumAirflow = Version(release: [2, 3, 0])

    /// Runtimes that must not be on either side of a rollback (Astro Private Cloud excludes
    /// 3.0-1 … 3.1-1). Ranges are closed; add more as they become known.
    public static let unsupportedRuntimeRanges: [ClosedRange<RuntimeVersion>] = [
        RuntimeVersion(scheme: .airflowBuild, numbers: [3, 0, 1])...RuntimeVersion(scheme: .airflowBuild, numbers: [3, 1, 1]),
    ]

    public static let maximumDescriptionLength = 500

    static let secondsPerDay: TimeInterval = 86_400

    /// The first unsupported range holding `runtime`.
    public static func unsupportedRange(containing runtime: RuntimeVersion) -> ClosedRange<RuntimeVersion>? {
        unsupportedRuntimeRanges.first { $0.contains(runtime) }
    }

    // MARK: History facts

    /// The deploys of `deployment` only, whatever the caller passed.
    static func own(_ history: [Deploy], _ deployment: Deployment) -> [Deploy] {
        history.filter { $0.deploymentId == deployment.id }
    }

    /// The deploy that is running now, if it is in the history.
    public static func currentDeploy(in history: [Deploy], deployment: Deployment) -> Deploy? {
        guard let id = deployment.currentDeployId else { return nil }
        return own(history, deployment).first { $0.id == id }
    }

    /// The newest deploy before the current one that reached `DEPLOYED`: the natural "undo" target,
    /// which stays eligible (and keeps its artifacts) even when it is older than the retention window.
    public static func latestEarlierDeploy(in history: [Deploy], deployment: Deployment) -> Deploy? {
        let current = currentDeploy(in: history, deployment: deployment)
        return own(history, deployment)
            .filter { deploy in
                deploy.reachedDeployed && deploy.id != current?.id && (current.map { deploy.sequence < $0.sequence } ?? true)
            }
            .max { $0.sequence < $1.sequence }
    }

    /// Deploys created before this instant are outside the window; one created exactly at it is inside.
    public static func retentionCutoff(_ deployment: Deployment, now: Date) -> Date {
        now.addingTimeInterval(-Double(max(0, deployment.settings.retentionDays)) * secondsPerDay)
    }

    // MARK: Eligibility (rules 1–3)

    /// Every reason `target` cannot be rolled back to; empty means eligible. Deployment-wide reasons
    /// come first, then the target's own. The current deploy gets only `isCurrentDeploy`.
    public static func eligibility(of target: Deploy, in history: [Deploy], deployment: Deployment, now: Date) -> [RollbackIneligibility] {
        var reasons: [RollbackIneligibility] = []
        if !deployment.settings.rollbackEnabled { reasons.append(.rollbackDisabled) }
        switch deployment.settings.deployMechanism {
        case .nfs, .gitSync: reasons.append(.unsupportedMechanism(deployment.settings.deployMechanism.rawValue))
        case .image, .dagOnly: break
        }
        let current = currentDeploy(in: history, deployment: deployment)
        guard let current else { return reasons + [.noCurrentDeploy] }
        if target.id == current.id { return reasons + [.isCurrentDeploy] }

        if !target.reachedDeployed { reasons.append(.neverDeployed) }
        if !target.artifactsStored { reasons.append(.artifactsExpired) }
        if target.createdAt < retentionCutoff(deployment, now: now),
           target.id != latestEarlierDeploy(in: history, deployment: deployment)?.id {
            reasons.append(.outsideRetention(days: deployment.settings.retentionDays))
        }
        guard let image = target.image else { return reasons + [.imageUnknown] }
        if isBelowMinimum(image) {
            reasons.append(.belowMinimumRuntime(runtime: image.runtimeVersion, airflow: image.airflowVersion))
        }
        for side in [current.image?.runtimeVersion, image.runtimeVersion] {
            guard let text = side, let runtime = RuntimeVersion(text), unsupportedRange(containing: runtime) != nil else { continue }
            let reason = RollbackIneligibility.unsupportedPair(runtime: text)
            if !reasons.contains(reason) { reasons.append(reason) }
        }
        return reasons
    }

    /// Whether the history would offer "Rollback to" for `target`.
    public static func isEligible(_ target: Deploy, in history: [Deploy], deployment: Deployment, now: Date) -> Bool {
        eligibility(of: target, in: history, deployment: deployment, now: now).isEmpty
    }

    /// Below Runtime 5 or Airflow 2.3; a version Airlock cannot read counts as below, since the
    /// minimum cannot be confirmed.
    static func isBelowMinimum(_ image: DeployImage) -> Bool {
        if let text = image.runtimeVersion, let runtime = RuntimeVersion(text), runtime < minimumRuntime { return true }
        guard let airflow = Version(image.airflowVersion) else {
            return image.runtimeVersion.flatMap(RuntimeVersion.init) == nil
        }
        return airflow < minimumAirflow
    }

    // MARK: Description (rule 4)

    /// Requires 1–500 characters after trimming whitespace and newlines; returns the trimmed text.
    @discardableResult
    public static func validateDescription(_ description: String?) throws(AirlockError) -> String {
        let trimmed = (description ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { throw .usage(RollbackIneligibility.descriptionMissing.message) }
        if trimmed.count > maximumDescriptionLength {
            throw .usage(RollbackIneligibility.descriptionTooLong(characters: trimmed.count).message)
        }
        return trimmed
    }

    // MARK: Permissions and pins (rule 10)

    /// A rollback that changes the image needs `rollback-images`; one that only changes DAGs needs
    /// `rollback-dags`. `admin` satisfies both (`Role.satisfies`).
    public static func requiredRole(for type: DeployType) -> Role {
        type == .dagOnly ? .rollbackDags : .rollbackImages
    }

    public static func requiredRole(for plan: RollbackPlan) -> Role {
        requiredRole(for: plan.type)
    }

    /// Why a new deploy is refused: a pin set after a rollback blocks automated deploys (CI tokens)
    /// until someone unpins; people deploying by hand are not blocked. Rollbacks are never blocked by a pin.
    public static func deployRefusal(for deployment: Deployment, automated: Bool) -> RollbackIneligibility? {
        guard automated, let pin = deployment.pinned else { return nil }
        return .pinned(pin)
    }

    /// Throwing form of `deployRefusal(for:automated:)`, for the deploy command and endpoint.
    public static func checkDeployAllowed(_ deployment: Deployment, automated: Bool) throws(AirlockError) {
        if let refusal = deployRefusal(for: deployment, automated: automated) {
            throw .usage(refusal.message, hint: "unpin the deployment to let automated deploys through")
        }
    }

    // MARK: Retention (rule 11)

    /// Ids of deploys whose artifacts the prune step may delete, oldest first: still stored, created
    /// before the retention window, finished (not `INITIALIZED`/`DEPLOYING`), and neither the current
    /// deploy nor the latest earlier one. Records stay; storage marks them "artifacts expired".
    ///
    /// Artifacts are content-addressed and a rollback deploy reuses its target's, so storage must
    /// delete only blobs that no kept deploy references.
    public static func prunable(history: [Deploy], deployment: Deployment, now: Date) -> [String] {
        let cutoff = retentionCutoff(deployment, now: now)
        let keep = Set([deployment.currentDeployId, latestEarlierDeploy(in: history, deployment: deployment)?.id].compactMap { $0 })
        return own(history, deployment)
            .filter { $0.artifactsStored && $0.createdAt < cutoff && !keep.contains($0.id) }
            .filter { $0.status == .deployed || $0.status == .failed }
            .sorted { $0.sequence < $1.sequence }
            .map(\.id)
    }
}
