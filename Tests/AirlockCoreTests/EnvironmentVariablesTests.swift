import AirlockCore
import Foundation
import Testing

@Suite struct EnvironmentVariablesTests {
    @Test(arguments: ["A", "_", "REGION", "airflow_var_x", "AIRFLOW__CORE__PARALLELISM", "_9", String(repeating: "K", count: 256)])
    func acceptsPOSIXNames(key: String) throws {
        try EnvironmentVariables.validateKey(key)
    }

    @Test(arguments: ["", "9LIVES", "A-B", "A B", "A=B", "ÄPFEL", "A.B", String(repeating: "K", count: 257), "X\u{0}"])
    func refusesOtherNames(key: String) {
        let error = #expect(throws: AirlockError.self) { try EnvironmentVariables.validateKey(key) }
        #expect(error?.kind == .usage)
    }

    @Test(arguments: ["PATH", "VIRTUAL_ENV", "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    func refusesNamesTheDeployOwns(key: String) {
        let error = #expect(throws: AirlockError.self) { try EnvironmentVariables.validateKey(key) }
        #expect(error?.message.contains("set by Airlock") == true)
    }

    @Test func valuesUpTo32KiBWithoutNUL() throws {
        try EnvironmentVariables.validateValue("", key: "A")
        try EnvironmentVariables.validateValue(String(repeating: "x", count: 32 * 1024), key: "A")
        try EnvironmentVariables.validateValue("line 1\nline 2 ünïcödé", key: "A")
        #expect(throws: AirlockError.self) { try EnvironmentVariables.validateValue(String(repeating: "x", count: 32 * 1024 + 1), key: "A") }
        // The limit is in UTF-8 bytes: 16,385 two-byte characters are over it.
        #expect(throws: AirlockError.self) { try EnvironmentVariables.validateValue(String(repeating: "é", count: 16 * 1024 + 1), key: "A") }
        #expect(throws: AirlockError.self) { try EnvironmentVariables.validateValue("a\u{0}b", key: "A") }
        #expect(throws: AirlockError.self) { try EnvironmentVariables.validateValue(EnvironmentVariables.maskedValue, key: "A") }
    }

    @Test(arguments: ["API_KEY", "DB_PASSWORD", "db_passwd", "SMTP_PASS", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__WEBSERVER__SECRET_KEY",
                      "GITHUB_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "SSH_PRIVATE_KEY_FILE", "BASIC_AUTH", "KEY", "SECRET"])
    func secretNames(key: String) {
        #expect(EnvironmentVariables.looksSecret(key: key, value: "x"))
    }

    @Test(arguments: ["REGION", "KEYBOARD_LAYOUT", "MONKEY", "PASSENGER_COUNT", "AUTHOR", "TOKENIZER", "AIRFLOW__CORE__PARALLELISM"])
    func plainNames(key: String) {
        #expect(!EnvironmentVariables.looksSecret(key: key, value: "eu-west-1"))
    }

    @Test func urisWithAPasswordAndJSONConnectionsAreSecretWhateverTheName() {
        #expect(EnvironmentVariables.looksSecret(key: "AIRFLOW_CONN_WAREHOUSE", value: "postgresql://etl:hunter2@db.internal:5432/dw"))
        #expect(EnvironmentVariables.looksSecret(key: "AIRFLOW_CONN_S3", value: "aws://AKIA:abc%2Fdef@"))
        #expect(EnvironmentVariables.looksSecret(key: "AIRFLOW_CONN_X", value: #"{"conn_type": "http", "password": "pw"}"#))
        #expect(!EnvironmentVariables.looksSecret(key: "AIRFLOW_CONN_PUBLIC", value: "https://user@example.com/path"))
        #expect(!EnvironmentVariables.looksSecret(key: "DOCS_URL", value: "https://example.com:8443/a"))
        #expect(!EnvironmentVariables.looksSecret(key: "NOTE", value: "a:b@c"))
    }

    @Test func maskingReplacesOnlySecretValues() {
        let settings = DeploymentSettings(environmentVariables: ["REGION": "eu", "API_KEY": "k-123",
                                                                 "AIRFLOW_CONN_DB": "postgres://u:pw@h/db"])
        let masked = Deployment(id: "d", name: "prod", settings: settings).withSecretsMasked.settings.environmentVariables
        #expect(masked == ["REGION": "eu", "API_KEY": EnvironmentVariables.maskedValue, "AIRFLOW_CONN_DB": EnvironmentVariables.maskedValue])
        #expect(settings.environmentVariables["API_KEY"] == "k-123", "the settings themselves keep the value")
    }

    @Test func settingAndRemovingGoThroughTheRule() throws {
        var settings = DeploymentSettings()
        try settings.setEnvironmentVariable("REGION", to: "eu")
        #expect(throws: AirlockError.self) { try settings.setEnvironmentVariable("AIRFLOW_HOME", to: "/tmp") }
        #expect(throws: AirlockError.self) { try settings.setEnvironmentVariable("1X", to: "") }
        #expect(settings.environmentVariables == ["REGION": "eu"])
        let removed = settings.removeEnvironmentVariable("REGION")
        let removedAgain = settings.removeEnvironmentVariable("REGION")
        #expect(removed && !removedAgain)
        #expect(settings.environmentVariables.isEmpty)
    }
}
