import AirlockCore
import Foundation
import Testing

@Suite struct DeploymentSettingsTests {
    @Test(arguments: ["postgresql://airflow@127.0.0.1:5432/airflow", "postgres://u@db.internal/meta", "postgresql://u@h:1/d?sslmode=require"])
    func acceptsPostgresURLsWithoutPassword(url: String) throws {
        try DeploymentSettings.validateMetadataDatabaseUrl(url)
    }

    @Test(arguments: ["sqlite:///tmp/a.db", "postgresql://u@h:5432", "postgresql://u@h:5432/", "mysql://u@h/db", "not a url", ""])
    func refusesOtherURLs(url: String) {
        #expect(throws: AirlockError.self) { try DeploymentSettings.validateMetadataDatabaseUrl(url) }
    }

    @Test func refusesAPasswordWithoutShowingIt() {
        let error = #expect(throws: AirlockError.self) { try DeploymentSettings.validateMetadataDatabaseUrl("postgresql://u:s3cret@h:5432/db") }
        #expect(error?.kind == .usage)
        #expect(error.map { !$0.message.contains("s3cret") } == true)
    }

    @Test func oldRecordsWithoutTheFieldDecodeAsSQLite() throws {
        let settings = try JSONDecoder().decode(DeploymentSettings.self, from: Data(#"{"rollbackEnabled": true}"#.utf8))
        #expect(settings.metadataDatabaseUrl == nil && settings.rollbackEnabled)
        let roundTrip = try JSONDecoder().decode(DeploymentSettings.self, from: JSONEncoder().encode(DeploymentSettings(metadataDatabaseUrl: "postgresql://u@h/d")))
        #expect(roundTrip.metadataDatabaseUrl == "postgresql://u@h/d")
    }
}
