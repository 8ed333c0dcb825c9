/// The chart values a Kubernetes deploy sets (issue #13 item 2): only what a deploy owns — the image by
/// digest, the Airflow version, the chart's migration Job off, the metadata connection's Secret — under
/// the official Apache Airflow chart's keys unless `KubernetesSettings.valueKeys` maps them for another chart.
extension KubernetesSettings {
    /// What a deploy sets, by role; `valueKeys` is keyed by the raw values (`imageRepository`, …).
    public enum ValueRole: String, CaseIterable, Sendable {
        case imageRepository, imageDigest, airflowVersion, migrateDatabaseJobEnabled, metadataSecretName

        /// The official chart's key (and the test chart's, `Tests/Fixtures/airflow-chart`).
        public var officialChartKey: String {
            switch self {
            case .imageRepository: "images.airflow.repository"
            case .imageDigest: "images.airflow.digest"
            case .airflowVersion: "airflowVersion"
            case .migrateDatabaseJobEnabled: "migrateDatabaseJob.enabled"
            case .metadataSecretName: "data.metadataSecretName"
            }
        }

        /// Whether the role may be mapped to "" (not set, for a chart without such a value). Only the Airflow
        /// version: a chart reads it to choose its shapes and one without it decides by other means. The
        /// others carry the deploy's guarantees: the pods must run the deploy's image (a rollback redeploys
        /// that digest), the chart's own migration Job must stay off (after a downgrade it would migrate the
        /// DB back up), and the pods must read the connection of the DB Airlock backs up and migrates.
        public var mayBeUnset: Bool { self == .airflowVersion }

        /// The role named `name`; `.usage` naming it and the roles otherwise.
        public static func named(_ name: String) throws(AirlockError) -> ValueRole {
            guard let role = ValueRole(rawValue: name) else {
                throw .usage("`\(name)` is not a value-key role; the roles are \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return role
        }
    }

    /// A Helm value path: dot-separated segments of ASCII letters, digits, `_` and `-` (no escaped dots,
    /// list indices, `=` or `,`, which `--set` would read as its own syntax).
    public static let valueKeyPattern = "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$"
    /// `valueKeyPattern` or empty, for a role that may be left unset.
    public static let valueKeyOrEmptyPattern = "^([A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*)?$"

    /// The pattern a mapping of `role` must match (the OpenAPI document publishes it per role).
    public static func valueKeyPattern(for role: ValueRole) -> String {
        role.mayBeUnset ? valueKeyOrEmptyPattern : valueKeyPattern
    }

    /// The chart's key for `role`: the mapped one, else the official chart's; nil when mapped to "" (not set).
    public func valueKey(for role: ValueRole) -> String? {
        guard let mapped = valueKeys?[role.rawValue] else { return role.officialChartKey }
        return mapped.isEmpty ? nil : mapped
    }

    /// Each mapping on its own: a known role and a key of `valueKeyPattern(for:)` (as the OpenAPI document
    /// says). How the keys combine is checked by `deployValues`, which the schema cannot express.
    func validateValueKeys() throws(AirlockError) {
        for (name, key) in (valueKeys ?? [:]).sorted(by: { $0.key < $1.key }) {
            let role = try ValueRole.named(name)
            guard Self.matches(key, Self.valueKeyPattern(for: role)) else {
                if key.isEmpty {
                    throw .usage("`valueKeys.\(name)` cannot be empty: a deploy must set it (only \(ValueRole.allCases.filter(\.mayBeUnset).map(\.rawValue).joined(separator: ", ")) may be left unset)")
                }
                throw .usage("`valueKeys.\(name)` `\(key)` is not a Helm value path: use dot-separated segments of letters, digits, `_` and `-`")
            }
        }
    }

    /// `ROLE=PATH` assignments (`--value-key`) as `valueKeys`; nil when there are none. `ROLE=` leaves the role unset.
    public static func valueKeys(fromAssignments assignments: [String]) throws(AirlockError) -> [String: String]? {
        guard !assignments.isEmpty else { return nil }
        var keys: [String: String] = [:]
        for assignment in assignments {
            guard let equals = assignment.firstIndex(of: "=") else {
                throw .usage("--value-key `\(assignment)` must be ROLE=PATH (e.g. imageRepository=airflowImage.repo)")
            }
            let name = String(assignment[..<equals])
            _ = try ValueRole.named(name)
            guard keys[name] == nil else { throw .usage("--value-key \(name) is given twice") }
            keys[name] = String(assignment[assignment.index(after: equals)...])
        }
        return keys
    }

    /// One value a deploy sets in the chart.
    public struct DeployValue: Hashable, Sendable {
        public enum Value: Hashable, Sendable {
            case string(String)
            case bool(Bool)
        }

        public var role: ValueRole
        /// The Helm value path.
        public var key: String
        public var value: Value
    }

    /// What a deploy of `imageRepository@imageDigest` sets, under the chart's keys, in role order; a role
    /// mapped to "" is left out.
    /// - Throws: `.usage` when keys overlap (`validateValueKeysApart`).
    public func deployValues(imageRepository: String, imageDigest: String, airflowVersion: String,
                             metadataSecretName: String) throws(AirlockError) -> [DeployValue] {
        try validateValueKeysApart()
        return ValueRole.allCases.compactMap { role in
            guard let key = valueKey(for: role) else { return nil }
            switch role {
            case .imageRepository: return DeployValue(role: role, key: key, value: .string(imageRepository))
            case .imageDigest: return DeployValue(role: role, key: key, value: .string(imageDigest))
            case .airflowVersion: return DeployValue(role: role, key: key, value: .string(airflowVersion))
            case .migrateDatabaseJobEnabled: return DeployValue(role: role, key: key, value: .bool(false))
            case .metadataSecretName: return DeployValue(role: role, key: key, value: .string(metadataSecretName))
            }
        }
    }

    /// `.usage` when two roles land on one key or one key lies inside another (`a` and `a.b`): Helm would
    /// silently let one value win. The OpenAPI document cannot say it, so the API accepts such settings
    /// and the deploy refuses them (`deployValues`); the CLI checks before it creates a deployment.
    public func validateValueKeysApart() throws(AirlockError) {
        let keys = ValueRole.allCases.compactMap { role in valueKey(for: role).map { (role, $0) } }
        for (index, (firstRole, a)) in keys.enumerated() {
            for (secondRole, b) in keys[(index + 1)...] where a == b || a.hasPrefix(b + ".") || b.hasPrefix(a + ".") {
                throw .usage("The value keys of `\(firstRole.rawValue)` (`\(a)`) and `\(secondRole.rawValue)` (`\(b)`) overlap; "
                             + "map each role to a key of its own (deployment settings `valueKeys`)")
            }
        }
    }
}
