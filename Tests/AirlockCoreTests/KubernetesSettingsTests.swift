import AirlockCore
import Foundation
import Testing

/// `KubernetesSettings.validate`: each refusal is a usage error naming the field the user got wrong.
@Suite struct KubernetesSettingsTests {
    static let good = KubernetesSettings(kubeconfig: "/etc/kube/config", namespace: "airflow", release: "prod",
                                         chart: "/charts/airflow", registry: "localhost:5000/airlock/prod")

    @Test func acceptsAPlainDeployment() throws {
        try Self.good.validate()
        var other = Self.good
        other.registry = "registry.example.com/team/airflow"
        other.chart = "apache-airflow/airflow"
        other.chartVersion = "1.16.0"
        try other.validate()
    }

    @Test(arguments: [
        ("namespace", "Bad_NS"), ("namespace", ""), ("release", "prod-"), ("release", String(repeating: "a", count: 54)),
        ("registry", "localhost:5000"), ("registry", "localhost:5000/Airlock"), ("registry", "localhost:5000/airlock:tag"),
        ("chart", "--set=x"), ("kubeconfig", " "),
    ])
    func refusesNamingTheField(field: String, value: String) {
        var settings = Self.good
        switch field {
        case "namespace": settings.namespace = value
        case "release": settings.release = value
        case "registry": settings.registry = value
        case "chart": settings.chart = value
        default: settings.kubeconfig = value
        }
        let error = #expect(throws: AirlockError.self) { try settings.validate() }
        #expect(error?.kind == .usage)
        #expect(error?.message.contains("`\(field)`") == true, "\(error?.message ?? "")")
    }

    /// The start timeout (Helm's `--wait`, a schema Job): 900 s unless set, a minute to a day; a refusal changes nothing.
    @Test func startTimeoutDefaultsTo900SecondsAndStaysInItsRange() throws {
        var settings = Self.good
        #expect(settings.startTimeoutSeconds == nil && settings.startTimeout == 900)
        for seconds in [60, 1_200, 86_400] {
            try settings.setStartTimeout(seconds)
            #expect(settings.startTimeout == seconds)
            try settings.validate()
        }
        for seconds in [59, 0, -1, 86_401, Int.max] {
            let error = #expect(throws: AirlockError.self) { try settings.setStartTimeout(seconds) }
            #expect(error?.kind == .usage && error?.message.contains("`startTimeoutSeconds`") == true && error?.message.contains("got \(seconds)") == true,
                    "\(error?.message ?? "")")
            #expect(settings.startTimeout == 86_400, "a refusal leaves the timeout as it was")
            var given = Self.good
            given.startTimeoutSeconds = seconds
            #expect(throws: AirlockError.self, "validate refuses it too") { try given.validate() }
        }
        // A record stored before the setting existed reads as the default.
        let old = try JSONEncoder().encode(Self.good)
        #expect(!String(decoding: old, as: UTF8.self).contains("startTimeout"))
        #expect(try JSONDecoder().decode(KubernetesSettings.self, from: old).startTimeout == 900)
    }

    @Test func settingsRoundTripAndOldRecordsHaveNone() throws {
        let settings = DeploymentSettings(metadataDatabaseUrl: "postgresql://u@h/d", kubernetes: Self.good)
        #expect(try JSONDecoder().decode(DeploymentSettings.self, from: JSONEncoder().encode(settings)) == settings)
        #expect(try JSONDecoder().decode(DeploymentSettings.self, from: Data(#"{"rollbackEnabled": true}"#.utf8)).kubernetes == nil)
    }
}
