import Foundation

/// The rules for a deployment's environment variables (`DeploymentSettings.environmentVariables`), in
/// one place for the API, the web UI and the deploy targets: which names are valid, which values are
/// accepted, which names the deploy itself owns, and which values are secrets that are never shown.
public enum EnvironmentVariables {
    public static let maximumKeyLength = 256
    /// In UTF-8 bytes.
    public static let maximumValueBytes = 32 * 1024

    /// Set by the deploy target for every deploy and pinned over the deployment's own variables (the
    /// local target's `AirflowSupervisor`), so a setting for one would be silently ignored: refused instead.
    public static let deployOwnedKeys: Set<String> = [
        "PATH", "VIRTUAL_ENV", "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    ]

    /// What a secret value is shown as, in the web UI and the API.
    public static let maskedValue = "••••••"

    /// `_`-separated words of a name that mark its value as a secret (`API_KEY`, `DB_PASSWORD`,
    /// `AIRFLOW__CORE__FERNET_KEY`; not `KEYBOARD_LAYOUT`).
    public static let secretWords: Set<String> = [
        "PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "CREDENTIALS", "PRIVATE", "AUTH",
    ]

    /// Accepts a POSIX name (`[A-Za-z_][A-Za-z0-9_]*`) of at most 256 characters that the deploy does not own.
    public static func validateKey(_ key: String) throws(AirlockError) {
        guard !key.isEmpty else { throw .usage("An environment variable needs a name") }
        guard key.utf8.count <= maximumKeyLength else {
            throw .usage("The environment variable name is \(key.count) characters long; the limit is \(maximumKeyLength)")
        }
        func isLetter(_ byte: UInt8) -> Bool { (65...90).contains(byte) || (97...122).contains(byte) || byte == 95 }
        let bytes = Array(key.utf8)
        guard isLetter(bytes[0]), bytes.allSatisfy({ isLetter($0) || (48...57).contains($0) }) else {
            throw .usage("`\(key)` is not a valid environment variable name: use letters, digits and `_`, not starting with a digit")
        }
        guard !deployOwnedKeys.contains(key) else {
            throw .usage("`\(key)` is set by Airlock for every deploy and cannot be changed here",
                         hint: "Airlock owns \(deployOwnedKeys.sorted().joined(separator: ", "))")
        }
    }

    /// Accepts a value of at most 32 KiB without NUL characters (which no process environment can
    /// hold), and refuses the mask itself (a masked value copied back would replace the secret).
    public static func validateValue(_ value: String, key: String) throws(AirlockError) {
        guard value.utf8.count <= maximumValueBytes else {
            throw .usage("The value of `\(key)` is \(value.utf8.count) bytes long; the limit is \(maximumValueBytes) bytes (32 KiB)")
        }
        guard !value.utf8.contains(0) else {
            throw .usage("The value of `\(key)` contains a NUL character, which an environment variable cannot hold")
        }
        guard value != maskedValue else {
            throw .usage("The value of `\(key)` is the mask `\(maskedValue)`; type the real value")
        }
    }

    public static func validate(key: String, value: String) throws(AirlockError) {
        try validateKey(key)
        try validateValue(value, key: key)
    }

    /// Whether a value must never be shown: its name has a secret word, or it is a URI with a password
    /// (`postgresql://user:pw@host/db`, as `AIRFLOW_CONN_*` usually are), or a JSON connection with a
    /// `"password"`. Errs towards masking.
    public static func looksSecret(key: String, value: String) -> Bool {
        if key.uppercased().split(separator: "_").contains(where: { secretWords.contains(String($0)) }) { return true }
        return hasPassword(value)
    }

    /// `scheme://user:password@…` (the userinfo before the last `@` has a `:`), or a JSON object with a password field.
    static func hasPassword(_ value: String) -> Bool {
        let text = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("{"), text.lowercased().contains("\"password\"") { return true }
        guard let scheme = text.range(of: "://") else { return false }
        let rest = text[scheme.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return false }
        return rest[..<at].contains(":")
    }

    /// The variables with every secret value replaced by `maskedValue`.
    public static func masked(_ variables: [String: String]) -> [String: String] {
        var masked = variables
        for (key, value) in variables where looksSecret(key: key, value: value) { masked[key] = maskedValue }
        return masked
    }
}

extension DeploymentSettings {
    /// Adds or changes one variable after `EnvironmentVariables.validate`.
    public mutating func setEnvironmentVariable(_ key: String, to value: String) throws(AirlockError) {
        try EnvironmentVariables.validate(key: key, value: value)
        environmentVariables[key] = value
    }

    /// Removes one variable; `false` when it was not set (removing is idempotent; a page may say so).
    @discardableResult
    public mutating func removeEnvironmentVariable(_ key: String) -> Bool {
        environmentVariables.removeValue(forKey: key) != nil
    }

    /// These settings as shown outside the server (API responses, pages): secret values masked.
    public var withSecretsMasked: DeploymentSettings {
        var settings = self
        settings.environmentVariables = EnvironmentVariables.masked(environmentVariables)
        return settings
    }
}

extension Deployment {
    /// This deployment as shown outside the server: secret environment variable values masked.
    public var withSecretsMasked: Deployment {
        var deployment = self
        deployment.settings = settings.withSecretsMasked
        return deployment
    }
}
