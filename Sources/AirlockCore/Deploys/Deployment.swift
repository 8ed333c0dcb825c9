import Foundation

/// Where a deployment runs. Rollback rules do not depend on it; storage and the deploy engine do.
public enum DeploymentTarget: String, Hashable, Codable, Sendable, CaseIterable {
    /// The embedded default: Airflow supervised as processes on this machine (SPEC §4.2).
    case local
    /// A Kubernetes cluster, installed with Helm (`DeploymentSettings.kubernetes` says where and how).
    case kubernetes
}

/// How code reaches a deployment. Rollback needs the artifacts of each deploy, which `nfs` and
/// `git-sync` deployments do not keep (SPEC §4.3 rule 3).
public enum DeployMechanism: String, Hashable, Codable, Sendable, CaseIterable {
    case image
    case dagOnly = "dag-only"
    case nfs
    case gitSync = "git-sync"
}

/// A deployment's settings. Only `dagDeployEnabled` is rolled back with a deploy; everything else
/// stays as it is (SPEC §4.3 rule 6), which is why the rollback preview lists it.
public struct DeploymentSettings: Hashable, Codable, Sendable {
    /// Off by default: rollback must be switched on per deployment ("Settings → Rollback Deploy → Enable").
    public var rollbackEnabled: Bool
    /// Whether DAGs are deployed separately from the image.
    public var dagDeployEnabled: Bool
    public var deployMechanism: DeployMechanism
    /// How long deploy artifacts are kept, and so how far back a rollback can reach.
    public var retentionDays: Int
    public var environmentVariables: [String: String]
    /// The executor (and, by extension, the resources); `nil` means Airflow's default.
    public var executor: String?
    /// Airflow's metadata database: `nil` is SQLite in the deployment's home, else a PostgreSQL URL
    /// without a password (`postgresql://user@host:port/db`; the password comes from `~/.pgpass` or
    /// `PGPASSWORD`, so it is never stored or shown). Chosen at creation: moving a deployment to
    /// another database is not a settings change.
    public var metadataDatabaseUrl: String?
    /// Where and how a `.kubernetes` deployment is installed; nil for the local target.
    public var kubernetes: KubernetesSettings?

    public static let defaultRetentionDays = 90
    /// The retention windows a deployment may have: at least a day (a shorter one would expire the
    /// deploy just made), at most a hundred years.
    public static let retentionDaysRange = 1...36_500

    /// Sets the retention window, refusing one outside `retentionDaysRange` (`.usage`). The API, the
    /// Settings page and the CLI all come here, so the bounds live in one place.
    public mutating func setRetentionDays(_ days: Int) throws(AirlockError) {
        guard Self.retentionDaysRange.contains(days) else {
            throw .usage("The retention window is from \(Self.retentionDaysRange.lowerBound) to \(Self.retentionDaysRange.upperBound) days (got \(days))")
        }
        retentionDays = days
    }

    public init(rollbackEnabled: Bool = false, dagDeployEnabled: Bool = true, deployMechanism: DeployMechanism = .image,
                retentionDays: Int = DeploymentSettings.defaultRetentionDays, environmentVariables: [String: String] = [:],
                executor: String? = nil, metadataDatabaseUrl: String? = nil, kubernetes: KubernetesSettings? = nil) {
        self.rollbackEnabled = rollbackEnabled
        self.dagDeployEnabled = dagDeployEnabled
        self.deployMechanism = deployMechanism
        self.retentionDays = retentionDays
        self.environmentVariables = environmentVariables
        self.executor = executor
        self.metadataDatabaseUrl = metadataDatabaseUrl
        self.kubernetes = kubernetes
    }

    /// Checks a metadata-database URL: PostgreSQL, with a database name, and no password in it.
    public static func validateMetadataDatabaseUrl(_ url: String) throws(AirlockError) {
        guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://"),
              let components = URLComponents(string: url), let host = components.host, !host.isEmpty,
              components.path.count > 1 else {
            throw .usage("The metadata database must be a PostgreSQL URL like postgresql://user@host:5432/airflow (got `\(url.split(separator: "@").last ?? "")`)")
        }
        guard components.password == nil else {
            throw .usage("Leave the password out of the metadata database URL; put it in ~/.pgpass or PGPASSWORD for the server",
                         hint: "the URL is stored in the deployment's settings and shown by the API")
        }
    }

    private enum CodingKeys: String, CodingKey {
        case rollbackEnabled, dagDeployEnabled, deployMechanism, retentionDays, environmentVariables, executor, metadataDatabaseUrl, kubernetes
    }

    /// Missing keys take their defaults, so a settings update or an older stored record decodes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DeploymentSettings()
        rollbackEnabled = try container.decodeIfPresent(Bool.self, forKey: .rollbackEnabled) ?? defaults.rollbackEnabled
        dagDeployEnabled = try container.decodeIfPresent(Bool.self, forKey: .dagDeployEnabled) ?? defaults.dagDeployEnabled
        deployMechanism = try container.decodeIfPresent(DeployMechanism.self, forKey: .deployMechanism) ?? defaults.deployMechanism
        retentionDays = try container.decodeIfPresent(Int.self, forKey: .retentionDays) ?? defaults.retentionDays
        environmentVariables = try container.decodeIfPresent([String: String].self, forKey: .environmentVariables) ?? [:]
        executor = try container.decodeIfPresent(String.self, forKey: .executor)
        metadataDatabaseUrl = try container.decodeIfPresent(String.self, forKey: .metadataDatabaseUrl)
        kubernetes = try container.decodeIfPresent(KubernetesSettings.self, forKey: .kubernetes)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rollbackEnabled, forKey: .rollbackEnabled)
        try container.encode(dagDeployEnabled, forKey: .dagDeployEnabled)
        try container.encode(deployMechanism, forKey: .deployMechanism)
        try container.encode(retentionDays, forKey: .retentionDays)
        try container.encode(environmentVariables, forKey: .environmentVariables)
        try container.encode(executor, forKey: .executor)
        try container.encode(metadataDatabaseUrl, forKey: .metadataDatabaseUrl)
        try container.encode(kubernetes, forKey: .kubernetes)
    }
}

/// Where a Kubernetes deployment's Airflow is installed with Helm, chosen at creation
/// (`airlock deployment create --target kubernetes …`). The values file is passed to Helm as the user
/// wrote it; Airlock only sets what a deploy owns (the image by digest, the Airflow version, the
/// migration job, the metadata connection's Secret).
public struct KubernetesSettings: Hashable, Codable, Sendable {
    /// A kubeconfig file on the server's machine.
    public var kubeconfig: String
    /// The kubeconfig context; nil: its current context.
    public var context: String?
    public var namespace: String
    /// The Helm release name.
    public var release: String
    /// A chart folder or archive on the server's machine, or `REPO/CHART`.
    public var chart: String
    public var chartVersion: String?
    /// `HOST[:PORT]/REPOSITORY`: where deploy images are pushed (and pulled from by the cluster).
    public var registry: String
    /// A Helm values file on the server's machine, passed as written.
    public var valuesFile: String?
    /// The base image with the project's Python; nil: `<registry host>/airlock/python:<X.Y>-bookworm`.
    public var baseImage: String?
    /// The chart's value keys for what a deploy sets, by role (`ValueRole`), where they differ from the
    /// official chart's; nil or a role left out: the official chart's key (`valueKey(for:)`).
    public var valueKeys: [String: String]?
    /// How long a start may take — Helm's `--wait` for the pods to be ready, a schema Job to finish — before the
    /// deploy fails and the previous deploy is put back; nil: `defaultStartTimeout`. A cluster that pulls large
    /// images slowly needs more; one where a stuck start should fail soon, less. (A component that crash-loops
    /// fails the deploy at once either way: `PodStartFailure`.)
    public var startTimeoutSeconds: Int?

    public static let defaultStartTimeout = 900
    /// From a minute (Airflow's pods need that on a small node) to a day.
    public static let startTimeoutRange = 60...86_400

    /// The start timeout in force.
    public var startTimeout: Int { startTimeoutSeconds ?? Self.defaultStartTimeout }

    /// Sets the start timeout (`PATCH …/settings`, `airlock deployment settings --start-timeout`); a value outside
    /// `startTimeoutRange` is refused and changes nothing.
    public mutating func setStartTimeout(_ seconds: Int) throws(AirlockError) {
        try Self.validateStartTimeout(seconds)
        startTimeoutSeconds = seconds
    }

    static func validateStartTimeout(_ seconds: Int) throws(AirlockError) {
        guard startTimeoutRange.contains(seconds) else {
            throw .usage("The start timeout (`startTimeoutSeconds`, `--start-timeout`) is from \(startTimeoutRange.lowerBound) to \(startTimeoutRange.upperBound) seconds (got \(seconds))")
        }
    }

    public init(kubeconfig: String, context: String? = nil, namespace: String, release: String, chart: String,
                chartVersion: String? = nil, registry: String, valuesFile: String? = nil, baseImage: String? = nil,
                valueKeys: [String: String]? = nil, startTimeoutSeconds: Int? = nil) {
        self.kubeconfig = kubeconfig
        self.context = context
        self.namespace = namespace
        self.release = release
        self.chart = chart
        self.chartVersion = chartVersion
        self.registry = registry
        self.valuesFile = valuesFile
        self.baseImage = baseImage
        self.valueKeys = valueKeys
        self.startTimeoutSeconds = startTimeoutSeconds
    }

    /// Kubernetes object names (DNS-1123 labels): the namespace and the Helm release.
    static let labelRule = "1–53 lowercase letters, digits and `-`, starting with a letter and not ending with `-`"

    // The rules as patterns, once: `validate` matches them and the OpenAPI document publishes them, so the
    // server and its schema agree on every value (schemathesis sends both what the schema allows and what
    // it does not). ASCII classes only, which ICU and ECMAScript regexes read alike.
    /// A namespace or Helm release name.
    public static let labelPattern = "^[a-z]([a-z0-9-]{0,51}[a-z0-9])?$"
    /// A file, chart, context, version or image reference: one line, not starting with `-` (an option to
    /// helm/kubectl) or a blank.
    public static let textPattern = "^[^-\\n\\t ][^\\n]*$"
    /// `HOST[:PORT]/REPOSITORY`, lowercase repository, no tag or digest.
    public static let registryPattern = "^[^-/@\\n\\t ][^/@\\n\\t ]*/[a-z0-9._-]+(/[a-z0-9._-]+)*$"

    /// Whether all of `value` matches `pattern` (a final newline never counts as the end, as in ECMAScript).
    public static func matches(_ value: String, _ pattern: String) -> Bool {
        guard !value.hasSuffix("\n"), let regex = try? NSRegularExpression(pattern: pattern) else { return false }
        let whole = NSRange(value.startIndex..., in: value)
        return regex.firstMatch(in: value, range: whole)?.range == whole
    }

    /// Checks each field on its own; the error names the field (`--namespace`, …) as the CLI spells it.
    /// Files are checked by the target when it uses them (they live on the server's machine).
    public func validate() throws(AirlockError) {
        func label(_ value: String, _ field: String) throws(AirlockError) {
            guard Self.matches(value, Self.labelPattern) else { throw .usage("`\(field)` `\(value)` is invalid: use \(Self.labelRule)") }
        }
        func text(_ value: String?, _ field: String) throws(AirlockError) {
            guard let value, !Self.matches(value, Self.textPattern) else { return }
            throw .usage("`\(field)` must be one line, not empty and not starting with `-` or a blank (got `\(value)`)")
        }
        try text(kubeconfig, "kubeconfig")
        try text(context, "context")
        try label(namespace, "namespace")
        try label(release, "release")
        try text(chart, "chart")
        try text(chartVersion, "chartVersion")
        try text(valuesFile, "valuesFile")
        guard Self.matches(registry, Self.registryPattern) else {
            throw .usage("`registry` `\(registry)` is invalid: expected HOST[:PORT]/REPOSITORY (lowercase, no tag or digest)")
        }
        try text(baseImage, "baseImage")
        if let startTimeoutSeconds { try Self.validateStartTimeout(startTimeoutSeconds) }
        try validateValueKeys()
    }
}

/// A named place Airflow runs, with its deploy history. The unit that is deployed to and rolled back.
public struct Deployment: Hashable, Codable, Sendable {
    /// Set by `airlock rollback --pin`: later automated deploys are refused until unpinned, so CI
    /// does not silently undo a rollback (argo-cd#5351; SPEC §4.3 rule 10).
    public struct Pin: Hashable, Codable, Sendable {
        public var reason: String
        /// The user or token that pinned.
        public var by: String
        public var at: Date

        public init(reason: String, by: String, at: Date) {
            self.reason = reason
            self.by = by
            self.at = at
        }
    }

    public var id: String
    /// Validated by `validateName(_:)`: it appears in URLs, folder names and, later, Kubernetes objects.
    public var name: String
    public var target: DeploymentTarget
    public var settings: DeploymentSettings
    /// The deploy that is running now; `nil` before the first successful deploy.
    public var currentDeployId: String?
    public var pinned: Pin?

    public init(id: String, name: String, target: DeploymentTarget = .local, settings: DeploymentSettings = DeploymentSettings(),
                currentDeployId: String? = nil, pinned: Pin? = nil) {
        self.id = id
        self.name = name
        self.target = target
        self.settings = settings
        self.currentDeployId = currentDeployId
        self.pinned = pinned
    }

    public static let maximumNameLength = 63

    /// Accepts 1–63 characters of `a-z`, `0-9` and `-`, starting with a letter.
    public static func validateName(_ name: String) throws(AirlockError) {
        let rule = "use 1–63 lowercase letters, digits and `-`, starting with a letter"
        guard !name.isEmpty else {
            throw .usage("A deployment name is required: \(rule)")
        }
        guard name.count <= maximumNameLength else {
            throw .usage("Deployment name `\(name)` is \(name.count) characters long; the limit is \(maximumNameLength)")
        }
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "-"
        }
        guard allowed, let first = name.unicodeScalars.first, ("a"..."z").contains(first) else {
            throw .usage("Deployment name `\(name)` is invalid: \(rule)")
        }
    }

    private enum CodingKeys: String, CodingKey {
        case id, name, target, settings, currentDeployId, pinned
    }

    /// Writes `null` for absent values so API clients always see the same keys.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(target, forKey: .target)
        try container.encode(settings, forKey: .settings)
        try container.encode(currentDeployId, forKey: .currentDeployId)
        try container.encode(pinned, forKey: .pinned)
    }
}
