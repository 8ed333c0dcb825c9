import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import PythonPackaging
import Testing

@Suite(.serialized) struct UVResolverTests {
    func constraints(_ airflow: String, _ python: String) throws -> String {
        try String(contentsOf: TestSupport.constraintsMirror.appendingPathComponent("constraints-\(airflow)/constraints-\(python).txt"), encoding: .utf8)
    }

    @Test func resolvesUnderConstraintsAndCaches() async throws {
        let paths = TestSupport.sharedCache
        let uv = try await UVTool.locate(paths: paths)
        let resolver = UVResolver(uv: uv, paths: AirlockPaths(cacheRoot: try TestSupport.scratchFolder()))
        let input = ResolutionInput(airflowVersion: try #require(Version("2.10.5")), python: "3.11",
                                    requirementLines: ["requests>=2.31"], constraintsText: try constraints("2.10.5", "3.11"), excludeNewer: nil)
        let (first, firstCached) = try await resolver.resolve(input)
        guard case .resolved(let pins) = first else { Issue.record("expected a resolution, got \(first)"); return }
        #expect(!firstCached)
        #expect(pins[PackageName("apache-airflow")]?.version == "2.10.5")
        #expect(pins[PackageName("requests")]?.version == PinnedSet(freezeText: try constraints("2.10.5", "3.11"))[PackageName("requests")]?.version)
        let (_, secondCached) = try await resolver.resolve(input)
        #expect(secondCached)
    }

    @Test func conflictsKeepUVsExplanation() async throws {
        let uv = try await UVTool.locate(paths: TestSupport.sharedCache)
        let resolver = UVResolver(uv: uv, paths: AirlockPaths(cacheRoot: try TestSupport.scratchFolder()))
        let input = ResolutionInput(airflowVersion: try #require(Version("2.10.5")), python: "3.11",
                                    requirementLines: ["pandas==1.5.3"], constraintsText: try constraints("2.10.5", "3.11"), excludeNewer: nil)
        let (result, _) = try await resolver.resolve(input)
        guard case .unsatisfiable(let explanation) = result else { Issue.record("expected a conflict"); return }
        #expect(explanation.contains("pandas==1.5.3"))
        #expect(UVResolver.summary(of: explanation).hasPrefix("Because"))
    }

    @Test func resolvesForAPythonThatIsNotTheDefault() async throws {
        let uv = try await UVTool.locate(paths: TestSupport.sharedCache)
        let resolver = UVResolver(uv: uv, paths: AirlockPaths(cacheRoot: try TestSupport.scratchFolder()))
        let input = ResolutionInput(airflowVersion: try #require(Version("3.0.6")), python: "3.12",
                                    requirementLines: [], constraintsText: try constraints("3.0.6", "3.12"), excludeNewer: nil)
        let (result, _) = try await resolver.resolve(input)
        guard case .resolved(let pins) = result else { Issue.record("expected a resolution"); return }
        #expect(pins[PackageName("apache-airflow-core")]?.version == "3.0.6")
    }
}

@Suite struct UVBootstrapTests {
    /// With no uv on PATH, Airlock installs the pinned uv into its own cache with pip.
    @Test func bootstrapsUVIntoTheCache() async throws {
        let cache = AirlockPaths(cacheRoot: try TestSupport.scratchFolder())
        let bin = try TestSupport.scratchFolder("airlock-path")
        let python = try #require(ProcessRunner.which("python3"))
        try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent("python3").path, withDestinationPath: python)
        let uv = try await UVTool.locate(paths: cache, environment: ["PATH": bin.path])
        #expect(uv.executable.hasPrefix(cache.tools.path))
        #expect(uv.version.contains(UVTool.pinnedVersion))
        let again = try await UVTool.locate(paths: cache, environment: ["PATH": bin.path])
        #expect(again.executable == uv.executable)
    }
}

@Suite struct ProcessRunnerTests {
    @Test func capturesOutputAndStatus() async throws {
        let output = try await ProcessRunner.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(output.status == 3)
        #expect(output.stdout == "out\n")
        #expect(output.stderr == "err\n")
    }

    @Test func killsOnTimeout() async throws {
        let started = Date()
        let output = try await ProcessRunner.run("/bin/sleep", ["30"], timeout: 0.5)
        #expect(output.timedOut)
        // Killed, not waited for: well under the 30 s the child would run. Not tighter: spawns are serialized
        // (`ProcessRunner`), and CI's parallel suites once made this take 10.9 s.
        #expect(Date().timeIntervalSince(started) < 25)
    }

    @Test func missingExecutableIsAnEnvironmentError() async {
        await #expect { try await ProcessRunner.run("/no/such/tool", []) } throws: { ($0 as? AirlockError)?.kind == .environment }
    }
}
