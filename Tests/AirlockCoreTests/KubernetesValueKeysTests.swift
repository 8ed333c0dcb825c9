import AirlockCore
import Foundation
import Testing

/// `KubernetesSettings.valueKeys`: what a deploy sets, under the official chart's keys unless mapped.
@Suite struct KubernetesValueKeysTests {
    static let plain = KubernetesSettingsTests.good

    static func values(_ settings: KubernetesSettings) throws -> [String: KubernetesSettings.DeployValue.Value] {
        Dictionary(uniqueKeysWithValues: try settings.deployValues(imageRepository: "localhost:5000/a/prod", imageDigest: "sha256:abc",
                                                                   airflowVersion: "2.10.5", metadataSecretName: "prod-airlock-metadata")
            .map { ($0.key, $0.value) })
    }

    @Test func defaultsAreTheOfficialChartsKeys() throws {
        #expect(try Self.values(Self.plain) == [
            "images.airflow.repository": .string("localhost:5000/a/prod"), "images.airflow.digest": .string("sha256:abc"),
            "airflowVersion": .string("2.10.5"), "migrateDatabaseJob.enabled": .bool(false),
            "data.metadataSecretName": .string("prod-airlock-metadata"),
        ])
        var empty = Self.plain
        empty.valueKeys = [:]
        #expect(try Self.values(empty) == (try Self.values(Self.plain)))
    }

    @Test func mappedRolesMoveTheOthersKeepTheirDefaultAndAirflowVersionMayBeUnset() throws {
        var settings = Self.plain
        settings.valueKeys = ["imageRepository": "airflowImage.repo", "imageDigest": "airflowImage.digest", "airflowVersion": ""]
        try settings.validate()
        #expect(settings.valueKey(for: .imageRepository) == "airflowImage.repo")
        #expect(settings.valueKey(for: .airflowVersion) == nil)
        #expect(settings.valueKey(for: .metadataSecretName) == "data.metadataSecretName")
        #expect(try Self.values(settings) == [
            "airflowImage.repo": .string("localhost:5000/a/prod"), "airflowImage.digest": .string("sha256:abc"),
            "migrateDatabaseJob.enabled": .bool(false), "data.metadataSecretName": .string("prod-airlock-metadata"),
        ])
    }

    @Test(arguments: [
        ("image", "x", "`image` is not a value-key role"),
        ("imageDigest", "", "`valueKeys.imageDigest` cannot be empty"),
        ("migrateDatabaseJobEnabled", "", "`valueKeys.migrateDatabaseJobEnabled` cannot be empty"),
        ("metadataSecretName", "", "`valueKeys.metadataSecretName` cannot be empty"),
        ("imageRepository", "a..b", "`valueKeys.imageRepository` `a..b` is not a Helm value path"),
        ("imageRepository", "a.b=c", "is not a Helm value path"),
        ("imageRepository", "list[0].x", "is not a Helm value path"),
        ("airflowVersion", ".version", "is not a Helm value path"),
        ("imageRepository", "x,y", "is not a Helm value path"),
    ])
    func refusesUnknownRolesAndBadPathsNamingThem(role: String, key: String, message: String) {
        var settings = Self.plain
        settings.valueKeys = [role: key]
        let error = #expect(throws: AirlockError.self) { try settings.validate() }
        #expect(error?.kind == .usage)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    /// The patterns the OpenAPI document publishes accept exactly what `validate` accepts.
    @Test func publishedPatternsAgreeWithValidate() {
        for role in KubernetesSettings.ValueRole.allCases {
            for key in ["a", "a.b-c_D.9", "", "a..b", "a.", ".a", "a b", "a\n", "é"] {
                var settings = Self.plain
                settings.valueKeys = [role.rawValue: key]
                let valid = (try? settings.validate()) != nil
                #expect(valid == KubernetesSettings.matches(key, KubernetesSettings.valueKeyPattern(for: role)), "\(role) `\(key)`")
            }
        }
    }

    @Test(arguments: [
        ["imageRepository": "image", "imageDigest": "image"],
        ["imageRepository": "image", "imageDigest": "image.digest"],
        ["metadataSecretName": "images.airflow"],
        ["airflowVersion": "migrateDatabaseJob.enabled"],
    ])
    func overlappingKeysAreRefusedWhenTheValuesAreBuilt(keys: [String: String]) throws {
        var settings = Self.plain
        settings.valueKeys = keys
        try settings.validate()  // each key is fine on its own (the API's schema cannot compare them)
        let error = #expect(throws: AirlockError.self) { try Self.values(settings) }
        #expect(error?.kind == .usage)
        #expect(error?.message.contains("overlap") == true, "\(error?.message ?? "")")
        // Not a prefix of a segment: `image` and `imageDigest` are apart.
        settings.valueKeys = ["imageRepository": "image", "imageDigest": "imageDigest"]
        #expect(try Self.values(settings).count == 5)
    }

    @Test func cliAssignmentsBecomeValueKeys() throws {
        #expect(try KubernetesSettings.valueKeys(fromAssignments: []) == nil)
        #expect(try KubernetesSettings.valueKeys(fromAssignments: ["imageRepository=airflowImage.repo", "airflowVersion="])
            == ["imageRepository": "airflowImage.repo", "airflowVersion": ""])
        for (assignments, message) in [(["imageRepository"], "must be ROLE=PATH"), (["repo=x"], "`repo` is not a value-key role"),
                                       (["imageDigest=a", "imageDigest=b"], "given twice")] {
            let error = #expect(throws: AirlockError.self) { try KubernetesSettings.valueKeys(fromAssignments: assignments) }
            #expect(error?.kind == .usage)
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        }
    }

    @Test func recordsWithAndWithoutAMappingRoundTrip() throws {
        var settings = Self.plain
        settings.valueKeys = ["imageRepository": "airflowImage.repo", "airflowVersion": ""]
        #expect(try JSONDecoder().decode(KubernetesSettings.self, from: JSONEncoder().encode(settings)) == settings)
        let old = #"{"kubeconfig": "/k", "namespace": "ns", "release": "r", "chart": "/c", "registry": "localhost:5000/a"}"#
        #expect(try JSONDecoder().decode(KubernetesSettings.self, from: Data(old.utf8)).valueKeys == nil)
    }
}
