import AirlockCore
import Foundation
import PythonPackaging
import Testing

func lookup(_ catalog: RuntimeCatalog, _ version: String) throws -> RuntimeRelease {
    let parsed = try #require(RuntimeVersion(version))
    return try #require(catalog.runtime(parsed))
}

@Suite struct RuntimeCatalogTests {
    let catalog = RuntimeCatalog.bundled()

    @Test func bundledSnapshotLoads() throws {
        #expect(catalog.runtimes.count == 129)  // 4.0.0–12.0.0 plus 9.18.0–9.21.0 from runtime_versions.csv
        #expect(catalog.airflowReleases.count >= 67)
        let release = try lookup(catalog, "9.10.0")
        #expect(release.airflowVersion == "2.7.3")
        #expect(release.defaultPython == "3.11")
    }

    @Test func newestStableRuntimeForAnAirflowVersion() {
        #expect(catalog.newestRuntime(forAirflow: "2.9.2")?.version.description == "11.6.0")
        #expect(catalog.newestRuntime(forAirflow: "2.7.3")?.version.description == "9.21.0")
        #expect(catalog.newestRuntime(forAirflow: "9.9.9") == nil)
    }

    @Test func latestSkipsYankedAndNonStable() throws {
        let json = """
        {"runtimeVersions": {
          "12.0.0": {"metadata": {"airflowVersion": "2.10.0", "channel": "stable", "releaseDate": "2024-08-16"}},
          "12.1.0": {"metadata": {"airflowVersion": "2.10.1", "channel": "stable", "yanked": true, "yankedReason": "bad"}},
          "12.2.0": {"metadata": {"airflowVersion": "2.10.2", "channel": "beta"}}},
         "runtimeVersionsV3": {
          "3.0-1": {"metadata": {"airflowVersion": "3.0.0", "channel": "stable", "yanked": true}},
          "3.0-2": {"metadata": {"airflowVersion": "3.0.1", "channel": "stable", "defaultPythonVersion": "3.12"}, "migrations": {"airflowDatabase": true}},
          "3.0-3": {"metadata": {"airflowVersion": "3.0.1", "channel": "alpha"}}}}
        """
        let feed = try RuntimeFeed.decode(Data(json.utf8))
        let catalog = RuntimeCatalog(feed: feed, airflowReleases: [])
        #expect(catalog.latestRuntime?.version.description == "3.0-2")
        #expect(catalog.latestRuntime?.databaseMigration == true)
        #expect(catalog.newestRuntime(forAirflow: "2.10.1") == nil)
        #expect(catalog.newestBuild(inSeries: "3.0")?.version.description == "3.0-3")
        let yanked = try lookup(catalog, "12.1.0")
        let warnings = RuntimeCatalog.warnings(for: yanked, today: "2026-11-22")
        #expect(warnings.contains { $0.contains("yanked: bad") })
    }

    @Test func endOfMaintenanceWarning() throws {
        let release = try lookup(catalog, "9.10.0")
        #expect(RuntimeCatalog.warnings(for: release, today: "2026-11-22").contains { $0.contains("end of maintenance") })
        #expect(RuntimeCatalog.warnings(for: release, today: "2025-01-15").isEmpty)
    }

    @Test(arguments: ["not json", "{\"foo\": 1}", "{\"runtimeVersions\": {\"1.0.0\": {\"metadata\": {}}}}", "<html>502</html>"])
    func malformedFeedIsAnEnvironmentError(text: String) {
        #expect {
            try RuntimeFeed.decode(Data(text.utf8))
        } throws: { error in
            (error as? AirlockError)?.kind == .environment
        }
    }

    @Test func airflowReleaseCSVHandlesQuotedFields() throws {
        let releases = AirflowRelease.parseCSV("airflow_version,pypi_upload_date,requires_python,yanked\n3.3.2,2026-09-17,\"!=3.15,>=3.10\",False\n2.0.0,2020-12-17,~=3.6,True\n")
        #expect(releases.count == 2)
        #expect(releases[0].requiresPython == "!=3.15,>=3.10")
        #expect(releases[1].yanked)
    }

    @Test func pypiJSONGivesFirstUploadDate() throws {
        let json = """
        {"info": {}, "releases": {
          "2.10.5": [{"upload_time_iso_8601": "2025-02-10T12:00:00Z", "requires_python": ">=3.8", "yanked": false},
                     {"upload_time_iso_8601": "2025-02-09T12:00:00Z", "requires_python": ">=3.8", "yanked": false}],
          "2.0.0b1": [], "1.0.0": [{"upload_time": "2018-01-01T00:00:00", "yanked": true}]}}
        """
        let releases = try AirflowRelease.parsePyPIJSON(Data(json.utf8)).sorted { $0.version < $1.version }
        #expect(releases.map(\.version) == ["1.0.0", "2.10.5"])
        #expect(releases[1].releaseDate == "2025-02-09")
        #expect(releases[0].yanked)
    }
}

@Suite struct UpgradeSideResolverTests {
    let catalog = RuntimeCatalog.bundled()

    func astroCurrent(_ tag: String) throws -> UpgradeSide {
        let image = try #require(ImageReference("quay.io/astronomer/astro-runtime:\(tag)"))
        return try UpgradeSideResolver.current(base: BaseImage(image), baseLocation: "Dockerfile:1", airflowOverride: nil, python: nil, catalog: catalog)
    }

    @Test func astroProjectWithAirflowTargetPicksNewestRuntime() throws {
        let current = try astroCurrent("9.10.0")
        #expect(current.label == "9.10.0")
        #expect(current.airflowVersion.description == "2.7.3")
        let selection = try UpgradeSideResolver.target(TargetRequest(airflowVersion: "2.9.2"), current: current, catalog: catalog, today: "2024-07-01")
        #expect(selection.side.label == "11.6.0")
        #expect(selection.side.airflowVersion.description == "2.9.2")
        #expect(selection.side.python == "3.11")
    }

    @Test func apacheProjectKeepsItsPython() throws {
        let image = try #require(ImageReference("apache/airflow:2.10.5-python3.11"))
        let current = try UpgradeSideResolver.current(base: BaseImage(image), baseLocation: "Dockerfile:1", airflowOverride: nil, python: nil, catalog: catalog)
        let selection = try UpgradeSideResolver.target(TargetRequest(airflowVersion: "3.0.6"), current: current, catalog: catalog, today: "2026-11-22")
        #expect(selection.side.label == "3.0.6")
        #expect(selection.side.python == "3.11")
        #expect(selection.side.runtime == nil)
        #expect(selection.warnings.isEmpty)
    }

    @Test func downgradeIsAllowedWithAWarning() throws {
        let current = try astroCurrent("11.6.0")
        let selection = try UpgradeSideResolver.target(TargetRequest(runtimeVersion: "9.10.0"), current: current, catalog: catalog, today: "2024-02-01")
        #expect(selection.side.label == "9.10.0")
        #expect(selection.warnings.contains { $0.contains("downgrade") })
    }

    @Test func unknownVersionsAreUsageErrors() throws {
        let current = try astroCurrent("9.10.0")
        for request in [TargetRequest(runtimeVersion: "99.0.0"), TargetRequest(airflowVersion: "not-a-version"),
                        TargetRequest(runtimeVersion: "9.10.0", airflowVersion: "2.9.2")] {
            #expect {
                try UpgradeSideResolver.target(request, current: current, catalog: catalog, today: "2026-11-22")
            } throws: { ($0 as? AirlockError)?.kind == .usage }
        }
        let image = try #require(ImageReference("apache/airflow:2.10.5"))
        let apache = try UpgradeSideResolver.current(base: BaseImage(image), baseLocation: "Dockerfile:1", airflowOverride: nil, python: nil, catalog: catalog)
        #expect(apache.python == "3.12")
        #expect {
            try UpgradeSideResolver.target(TargetRequest(airflowVersion: "2.99.0"), current: apache, catalog: catalog, today: "2026-11-22")
        } throws: { ($0 as? AirlockError)?.message.contains("2.99.0") == true }
    }

    @Test func astroProjectFallsBackToApacheAirflowWithAWarning() throws {
        let current = try astroCurrent("12.0.0")
        let selection = try UpgradeSideResolver.target(TargetRequest(airflowVersion: "3.0.6"), current: current, catalog: catalog, today: "2026-11-22")
        #expect(selection.side.runtime == nil)
        #expect(selection.side.label == "3.0.6")
        #expect(selection.warnings.contains { $0.contains("No stable Astro Runtime") })
    }

    @Test func customImageNeedsAnOverride() throws {
        let image = try #require(ImageReference("mycorp/airflow:7"))
        #expect {
            try UpgradeSideResolver.current(base: BaseImage(image), baseLocation: "Dockerfile:2", airflowOverride: nil, python: nil, catalog: catalog)
        } throws: { error in
            let error = error as? AirlockError
            return error?.kind == .usage && error?.message.hasPrefix("Dockerfile:2") == true
        }
        let side = try UpgradeSideResolver.current(base: BaseImage(image), baseLocation: "Dockerfile:2", airflowOverride: "2.10.5", python: "3.11", catalog: catalog)
        #expect(side.label == "2.10.5")
        #expect(side.python == "3.11")
    }
}
