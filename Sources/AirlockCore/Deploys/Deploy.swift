import Foundation

/// What a deploy shipped. Raw values are Astro's, so API clients written for Astro read them.
public enum DeployType: String, Hashable, Codable, Sendable, CaseIterable {
    case imageAndDag = "IMAGE_AND_DAG"
    case imageOnly = "IMAGE_ONLY"
    case dagOnly = "DAG_ONLY"
}

/// Where a deploy is in its life. `DEPLOYED` means Airflow reported healthy on it at least once
/// at the time; a later deploy replacing it does not change its status.
public enum DeployStatus: String, Hashable, Codable, Sendable, CaseIterable {
    case initialized = "INITIALIZED"
    case deploying = "DEPLOYING"
    case deployed = "DEPLOYED"
    case failed = "FAILED"
}

/// The environment a deploy runs: enough to rebuild it and to compare it with another deploy.
public struct DeployImage: Hashable, Codable, Sendable {
    /// Astro Runtime version (`12.7.1`, `3.0-6`); `nil` for plain Apache Airflow images.
    public var runtimeVersion: String?
    public var airflowVersion: String
    public var python: String
    /// Hash of the environment lock (the resolved pins).
    public var lockHash: String
    /// sha256 of the project's non-DAG files.
    public var projectDigest: String

    public init(runtimeVersion: String?, airflowVersion: String, python: String, lockHash: String, projectDigest: String) {
        self.runtimeVersion = runtimeVersion
        self.airflowVersion = airflowVersion
        self.python = python
        self.lockHash = lockHash
        self.projectDigest = projectDigest
    }

    /// `Runtime 3.0-6 (Airflow 3.0.6)` or `Airflow 2.10.5`: what the audit log and previews show.
    public var versionLabel: String {
        if let runtimeVersion { return "Runtime \(runtimeVersion) (Airflow \(airflowVersion))" }
        return "Airflow \(airflowVersion)"
    }

    private enum CodingKeys: String, CodingKey {
        case runtimeVersion, airflowVersion, python, lockHash, projectDigest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(runtimeVersion, forKey: .runtimeVersion)
        try container.encode(airflowVersion, forKey: .airflowVersion)
        try container.encode(python, forKey: .python)
        try container.encode(lockHash, forKey: .lockHash)
        try container.encode(projectDigest, forKey: .projectDigest)
    }
}

/// Git facts of the deployed project, when it was a checkout: lets teams revert the repository in
/// step with a rollback.
public struct GitMetadata: Hashable, Codable, Sendable {
    public var commit: String
    public var branch: String?
    public var author: String?
    public var remote: String?

    public init(commit: String, branch: String? = nil, author: String? = nil, remote: String? = nil) {
        self.commit = commit
        self.branch = branch
        self.author = author
        self.remote = remote
    }

    private enum CodingKeys: String, CodingKey {
        case commit, branch, author, remote
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(commit, forKey: .commit)
        try container.encode(branch, forKey: .branch)
        try container.encode(author, forKey: .author)
        try container.encode(remote, forKey: .remote)
    }
}

/// One entry of a deployment's history (SPEC §4.1). Records are never deleted; a rollback is a new
/// deploy pointing at the one it restored, and pruning only clears `artifactsStored`.
///
/// JSON keys are the property names exactly, plus `runtimeVersion` and `airflowVersion` copied from
/// `image`; absent values are written as `null` so the REST API and `airlock deploys list --json`
/// always print the same keys.
public struct Deploy: Hashable, Codable, Sendable, Identifiable {
    public var id: String
    public var deploymentId: String
    /// Per deployment, from 1: shown as `#1`, `#2`, …
    public var sequence: Int
    public var type: DeployType
    public var status: DeployStatus
    public var description: String
    public var createdAt: Date
    /// The user or API token that started it.
    public var createdBy: String
    public var image: DeployImage?
    /// sha256 of the DAG files.
    public var dagBundleVersion: String?
    /// The deployment's DAG-deploy setting at deploy time; rolled back with the deploy.
    public var dagDeployEnabled: Bool
    /// Alembic head of the metadata DB once this deploy ran; what a rollback downgrades to.
    public var dbSchemaHead: String?
    public var git: GitMetadata?
    /// On rollback deploys: the deploy that was current when the rollback started.
    public var rollbackFromId: String?
    /// On rollback deploys: the deploy whose image and DAG bundle were restored.
    public var rollbackToId: String?
    /// False once the retention prune deleted the image and DAG bundle ("artifacts expired").
    public var artifactsStored: Bool
    /// True once the deploy reached `DEPLOYED`, even if a later step marked it otherwise.
    public var everDeployed: Bool
    /// The image the target ran, as an OCI reference by digest (`registry/repo@sha256:…`): what a rollback
    /// to this deploy redeploys. `nil` on the local target, and on deploys that never reached the target's start.
    public var targetImage: String?
    /// The Helm revision this deploy's `helm upgrade` made (Kubernetes target; issue #13 item 4), also on a
    /// deploy that failed after it (the revision that failed). `nil` on the local target.
    public var helmRevision: Int?

    public init(id: String, deploymentId: String, sequence: Int, type: DeployType, status: DeployStatus, description: String,
                createdAt: Date, createdBy: String, image: DeployImage?, dagBundleVersion: String?, dagDeployEnabled: Bool,
                dbSchemaHead: String?, git: GitMetadata? = nil, rollbackFromId: String? = nil, rollbackToId: String? = nil,
                artifactsStored: Bool = true, everDeployed: Bool, targetImage: String? = nil, helmRevision: Int? = nil) {
        self.id = id
        self.deploymentId = deploymentId
        self.sequence = sequence
        self.type = type
        self.status = status
        self.description = description
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.image = image
        self.dagBundleVersion = dagBundleVersion
        self.dagDeployEnabled = dagDeployEnabled
        self.dbSchemaHead = dbSchemaHead
        self.git = git
        self.rollbackFromId = rollbackFromId
        self.rollbackToId = rollbackToId
        self.artifactsStored = artifactsStored
        self.everDeployed = everDeployed
        self.targetImage = targetImage
        self.helmRevision = helmRevision
    }

    /// `#3`: how people refer to a deploy.
    public var label: String { "#\(sequence)" }

    /// The sequence number a reference names (`3` or `#3`), or nil when it is not one (an id).
    public static func sequence(fromReference reference: String) -> Int? {
        let digits = reference.hasPrefix("#") ? reference.dropFirst() : Substring(reference)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let sequence = Int(digits), sequence > 0 else { return nil }
        return sequence
    }

    /// Whether this deploy is a rollback of another one.
    public var isRollback: Bool { rollbackToId != nil }

    /// Whether the deploy ran healthy at least once, the condition for being a rollback target.
    public var reachedDeployed: Bool { everDeployed || status == .deployed }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case id, deploymentId, sequence, type, status, description, createdAt, createdBy, image, dagBundleVersion,
             dagDeployEnabled, dbSchemaHead, git, rollbackFromId, rollbackToId, artifactsStored, everDeployed, targetImage, helmRevision
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(deploymentId, forKey: .deploymentId)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(type, forKey: .type)
        try container.encode(status, forKey: .status)
        try container.encode(description, forKey: .description)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(createdBy, forKey: .createdBy)
        try container.encode(image, forKey: .image)
        try container.encode(dagBundleVersion, forKey: .dagBundleVersion)
        try container.encode(dagDeployEnabled, forKey: .dagDeployEnabled)
        try container.encode(dbSchemaHead, forKey: .dbSchemaHead)
        try container.encode(git, forKey: .git)
        try container.encode(rollbackFromId, forKey: .rollbackFromId)
        try container.encode(rollbackToId, forKey: .rollbackToId)
        try container.encode(artifactsStored, forKey: .artifactsStored)
        try container.encode(everDeployed, forKey: .everDeployed)
        try container.encode(targetImage, forKey: .targetImage)
        try container.encode(helmRevision, forKey: .helmRevision)
        // Flat copies of the image's versions: the fields `airlock deploys list --json` promises per deploy.
        var flat = encoder.container(keyedBy: FlatKeys.self)
        try flat.encode(image?.runtimeVersion, forKey: .runtimeVersion)
        try flat.encode(image?.airflowVersion, forKey: .airflowVersion)
    }

    private enum FlatKeys: String, CodingKey { case runtimeVersion, airflowVersion }
}
