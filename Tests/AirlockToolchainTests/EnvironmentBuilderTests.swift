import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import PythonPackaging
import Testing

@Suite struct EnvironmentBuilderTests {
    /// Two builders asking for the same lock at once get one environment: one builds, the other waits and reuses.
    @Test func concurrentBuildsOfTheSameLockShareOneEnvironment() async throws {
        let cache = AirlockPaths(cacheRoot: try TestSupport.scratchFolder("airlock-envs"))
        let uv = try await UVTool.locate(paths: TestSupport.sharedCache)
        let builder = EnvironmentBuilder(uv: uv, paths: cache)
        let pins = PinnedSet(freezeText: "six==1.16.0\n")
        async let first = builder.environment(pins: pins, python: "3.11")
        async let second = builder.environment(pins: pins, python: "3.11")
        let (a, b) = try await (first, second)
        #expect(a.0.root == b.0.root)
        #expect([a.reused, b.reused].sorted { !$0 && $1 } == [false, true])
        let check = try await ProcessRunner.run(a.0.python, ["-c", "import six; print(six.__version__)"])
        #expect(check.stdout == "1.16.0\n")

        // A different lock is a different environment; the same lock later is reused.
        let (other, otherReused) = try await builder.environment(pins: PinnedSet(freezeText: "six==1.17.0\n"), python: "3.11")
        #expect(other.root != a.0.root)
        #expect(!otherReused)
        #expect(try await builder.environment(pins: pins, python: "3.11").reused)
        #expect(EnvironmentBuilder.list(cache).count == 2)

        // `airlock cache list` and `prune` see the same environments.
        let list = try await TestSupport.airlock(["cache", "list", "--json"], environment: ["AIRLOCK_CACHE_DIR": cache.cacheRoot.path])
        let listing = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
        #expect((listing?["environments"] as? [Any])?.count == 2)
        let prune = try await TestSupport.airlock(["cache", "prune", "--all"], environment: ["AIRLOCK_CACHE_DIR": cache.cacheRoot.path])
        #expect(prune.status == 0)
        #expect(prune.stdout.contains("Removed 2 environment(s)"))
        #expect(EnvironmentBuilder.list(cache).isEmpty)
    }

    @Test func aMissingPythonIsAClearEnvironmentError() async throws {
        let cache = AirlockPaths(cacheRoot: try TestSupport.scratchFolder("airlock-envs"))
        let uv = try await UVTool.locate(paths: TestSupport.sharedCache)
        await #expect {
            try await EnvironmentBuilder(uv: uv, paths: cache).environment(pins: PinnedSet(freezeText: "six==1.16.0\n"), python: "3.4")
        } throws: { error in
            (error as? AirlockError)?.message.contains("No Python 3.4") == true
        }
    }
}
