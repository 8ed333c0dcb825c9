import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import PythonPackaging
import Testing

@Suite struct ConstraintsSourceTests {
    @Test func readsALocalMirror() async throws {
        let source = ConstraintsSource(base: TestSupport.constraintsMirror.path, paths: AirlockPaths(cacheRoot: try TestSupport.scratchFolder()))
        let (file, warning) = try await source.constraints(airflow: try #require(Version("2.10.5")), python: "3.11")
        let constraints = try #require(file)
        #expect(warning == nil)
        #expect(constraints.pins.count == 728)
        #expect(constraints.pins[PackageName("apache-airflow")] == nil)
        #expect(constraints.location.hasSuffix("constraints-2.10.5/constraints-3.11.txt"))
        let (missing, _) = try await source.constraints(airflow: try #require(Version("2.10.5")), python: "3.9")
        #expect(missing == nil)
    }

    @Test func aMissingMirrorFolderIsAUsageError() async throws {
        let source = ConstraintsSource(base: "/definitely/not/here", paths: AirlockPaths(cacheRoot: try TestSupport.scratchFolder()))
        await #expect {
            try await source.constraints(airflow: try #require(Version("2.10.5")), python: "3.11")
        } throws: { ($0 as? AirlockError)?.kind == .usage }
    }

    @Test func fetchesFromAURLAndCachesForever() async throws {
        let server = try StaticHTTPServer(serving: TestSupport.constraintsMirror)
        let cache = AirlockPaths(cacheRoot: try TestSupport.scratchFolder())
        let source = ConstraintsSource(base: server.baseURL, paths: cache)
        let version = try #require(Version("3.0.6"))
        let (first, _) = try await source.constraints(airflow: version, python: "3.12")
        #expect(first?.pins.count == 797)
        let (absent, absentWarning) = try await source.constraints(airflow: version, python: "3.7")
        #expect(absent == nil)
        #expect(absentWarning == nil)  // a 404 is "no constraints", not a failure
        server.stop()
        let (second, _) = try await source.constraints(airflow: version, python: "3.12")
        #expect(second?.pins.count == 797)  // served from the cache with the server gone
        let (unreachable, warning) = try await source.constraints(airflow: version, python: "3.11")
        #expect(unreachable == nil)
        #expect(warning?.contains("Cannot fetch constraints") == true)
    }
}

@Suite struct CatalogLoaderTests {
    @Test func explicitFeedFileIsUsed() async throws {
        let folder = try TestSupport.scratchFolder()
        let feed = folder.appendingPathComponent("feed.json")
        try Data(#"{"runtimeVersionsV3": {"3.1-12": {"metadata": {"airflowVersion": "3.1.3", "channel": "stable"}}}}"#.utf8).write(to: feed)
        let loaded = await CatalogLoader(paths: AirlockPaths(cacheRoot: folder), feedLocation: feed.path, offline: true).load()
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.catalog.runtimes.map(\.version.description) == ["3.1-12"])
        #expect(loaded.catalog.latestRuntime?.defaultPython == "3.12")
    }

    @Test(arguments: ["{ not json", "<html>oops</html>", "{\"other\": true}"])
    func malformedFeedFallsBackWithAWarning(contents: String) async throws {
        let folder = try TestSupport.scratchFolder()
        let feed = folder.appendingPathComponent("feed.json")
        try Data(contents.utf8).write(to: feed)
        let loaded = await CatalogLoader(paths: AirlockPaths(cacheRoot: folder), feedLocation: feed.path, offline: true).load()
        #expect(loaded.feedSource == "bundled snapshot")
        #expect(loaded.catalog.runtimes.count == 129)
        #expect(loaded.warnings.contains { $0.contains("unusable") })
    }

    @Test func unreachableFeedFallsBackWithAWarning() async throws {
        let folder = try TestSupport.scratchFolder()
        let loaded = await CatalogLoader(paths: AirlockPaths(cacheRoot: folder), feedLocation: "http://127.0.0.1:9/feed.json", offline: true).load()
        #expect(loaded.feedSource == "bundled snapshot")
        #expect(loaded.warnings.count == 1)
    }

    @Test func feedServedOverHTTP() async throws {
        let folder = try TestSupport.scratchFolder()
        try Data(BundledData.runtimeFeed.utf8).write(to: folder.appendingPathComponent("astronomer-runtime"))
        let server = try StaticHTTPServer(serving: folder)
        defer { server.stop() }
        let loaded = await CatalogLoader(paths: AirlockPaths(cacheRoot: folder), feedLocation: "\(server.baseURL)/astronomer-runtime", offline: true).load()
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.catalog.runtimes.count == 129)
    }
}
