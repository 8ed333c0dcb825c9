import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import PythonPackaging
import Testing

/// The toolchain half of building a side like its image: freeze files from a folder or URL, sdists that
/// do not build, uv preferences and per-package dates. Real uv, real PyPI.
@Suite struct ImageSideToolchainTests {
    @Test func freezeFilesComeFromAFolderOrAURL() async throws {
        let folder = try TestSupport.scratchFolder("airlock-freeze")
        try TestSupport.writeTree(["runtime-12.7.1-python-3.12.txt": "apache-airflow==2.10.5+astro.1\napache-airflow-providers-postgres==5.14.0\npsycopg2-binary==2.9.10\n"],
                                  under: folder)
        let paths = AirlockPaths(cacheRoot: try TestSupport.scratchFolder("airlock-freeze-cache"))
        let local = RuntimeFreezeSource(base: folder.path, paths: paths)
        let version = try #require(RuntimeVersion("12.7.1"))
        let (found, warning) = try await local.packages(runtime: version, python: "3.12")
        #expect(warning == nil)
        #expect(found?.pins.sorted.map(\.freezeLine) == ["apache-airflow-providers-postgres==5.14.0", "psycopg2-binary==2.9.10"])
        #expect(found?.source == folder.appendingPathComponent("runtime-12.7.1-python-3.12.txt").path)
        #expect(try await local.packages(runtime: version, python: "3.11").packages == nil)
        await #expect(throws: AirlockError.self) {
            try await RuntimeFreezeSource(base: folder.appendingPathComponent("missing").path, paths: paths).packages(runtime: version, python: "3.12")
        }
        // The default is Astronomer's CDN, laid out as the Astro CLI reads it; unreachable, it is a warning, tried once.
        let remote = RuntimeFreezeSource(paths: paths)
        #expect(remote.location(runtime: version, python: "3.12") == "https://cdn.astronomer.io/runtime-freeze/runtime-12.7.1-python-3.12.txt")
        let unreachable = RuntimeFreezeSource(base: "http://127.0.0.1:9/runtime-freeze", paths: paths)
        let (none, failure) = try await unreachable.packages(runtime: version, python: "3.12")
        #expect(none == nil)
        #expect(failure?.contains("could not be fetched") == true)
        let (again, quiet) = try await unreachable.packages(runtime: version, python: "3.12")
        #expect(again == nil && quiet == nil)
        #expect(try await RuntimeFreezeSource(paths: paths, offline: true).packages(runtime: version, python: "3.12").packages == nil)
    }

    /// docutils 0.21.post1 (the newest on 2024-04-09, the day after Airflow 2.9.0) is an sdist whose
    /// metadata says 0.21: it does not build. The build failure names it; a resolution taking it only as a
    /// wheel picks 0.21 instead.
    @Test func anSdistThatDoesNotBuildIsRetriedAsAWheel() async throws {
        let paths = TestSupport.sharedCache
        let uv = try await UVTool.locate(paths: paths)
        let cache = AirlockPaths(cacheRoot: try TestSupport.scratchFolder("airlock-wheel-envs"))
        let outcome = try await EnvironmentBuilder(uv: uv, paths: cache).build(pins: PinnedSet(freezeText: "docutils==0.21.post1\n"), python: "3.11")
        guard case .buildFailed(let package, let version, let explanation) = outcome else {
            Issue.record("docutils 0.21.post1 built")
            return
        }
        #expect(package == "docutils" && version == "0.21.post1")
        #expect(explanation.contains("does not match"))

        let resolver = UVResolver(uv: uv, paths: paths)
        var input = ResolutionInput(airflowVersion: try #require(Version("2.9.0")), python: "3.11", requirementLines: [],
                                    constraintsText: nil, excludeNewer: "2024-04-09")
        let sdist = try await resolver.resolveRetryingBuilds(input)
        guard case .resolved(let pins) = sdist.result else { Issue.record("Airflow 2.9.0 did not resolve"); return }
        #expect(pins[PackageName("docutils")]?.version == "0.21.post1")
        input.onlyBinary = ["docutils"]
        guard case .resolved(let wheels) = try await resolver.resolve(input).result else { Issue.record("no wheel resolution"); return }
        #expect(wheels[PackageName("docutils")]?.version == "0.21")
        #expect(UVResolver.failedBuild(in: "error: Failed to build `docutils==0.21.post1`\n  cause: x")?.package == "docutils")
    }

    /// Preferences keep the image's versions where nothing forces another; per-package dates bound pip and
    /// setuptools to what an image of that day had (the newest setuptools has no `pkg_resources`).
    @Test func preferencesAndPackageDates() async throws {
        let paths = TestSupport.sharedCache
        let uv = try await UVTool.locate(paths: paths)
        let resolver = UVResolver(uv: uv, paths: paths)
        let constraints = try String(contentsOf: TestSupport.constraintsMirror.appendingPathComponent("constraints-2.10.5/constraints-3.11.txt"),
                                     encoding: .utf8)
        var input = ResolutionInput(airflowVersion: try #require(Version("2.10.5")), python: "3.11",
                                    requirementLines: ["pip", "setuptools", "apache-airflow-providers-http==4.1.0"],
                                    constraintsText: nil, excludeNewer: nil)
        input.preferencesText = constraints
        input.excludeNewerPackages = ["pip": "2025-02-11", "setuptools": "2025-02-11"]
        guard case .resolved(let pins) = try await resolver.resolve(input).result else { Issue.record("did not resolve"); return }
        #expect(pins[PackageName("apache-airflow-providers-http")]?.version == "4.1.0")  // the project's pin
        #expect(pins[PackageName("requests")]?.version == PinnedSet(freezeText: constraints)[PackageName("requests")]?.version)  // preferred
        #expect(pins[PackageName("setuptools")]?.version == "75.8.0")
        #expect(pins[PackageName("pip")]?.version == "25.0.1")
    }
}
