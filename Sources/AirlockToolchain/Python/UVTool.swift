import AirlockCore
import Foundation

/// The `uv` executable Airlock drives for every resolution and install.
///
/// Found through `AIRLOCK_UV`, then `PATH`, then Airlock's tool cache; when none has it, the pinned
/// version is installed into the cache with `python3 -m pip install --target` on first use.
public struct UVTool: Sendable {
    /// The uv release Airlock bootstraps and is tested with.
    public static let pinnedVersion = "0.13.9"

    public var executable: String
    /// `uv --version` output, part of every resolution cache key.
    public var version: String

    public init(executable: String, version: String) {
        self.executable = executable
        self.version = version
    }

    /// Locates uv, bootstrapping it into `paths.tools` when missing.
    public static func locate(paths: AirlockPaths, environment: [String: String] = ProcessInfo.processInfo.environment,
                              progress: (@Sendable (String) -> Void)? = nil) async throws(AirlockError) -> UVTool {
        if let explicit = environment["AIRLOCK_UV"], !explicit.isEmpty {
            return try await probe(explicit)
        }
        if let onPath = ProcessRunner.which("uv", path: environment["PATH"]) {
            return try await probe(onPath)
        }
        let home = paths.tools.appendingPathComponent("uv-\(pinnedVersion)")
        let binary = home.appendingPathComponent("bin/uv").path
        if FileManager.default.isExecutableFile(atPath: binary) {
            return try await probe(binary)
        }
        // One bootstrap at a time, across threads and processes: the others wait, then reuse it.
        let lock = try FileLock(paths.tools.appendingPathComponent(".uv.lock"))
        try await lock.acquire()
        defer { lock.release() }
        if !FileManager.default.isExecutableFile(atPath: binary) {
            progress?("Installing uv \(pinnedVersion) into \(paths.tools.path) (first use)")
            try await bootstrap(into: home, environment: environment)
        }
        return try await probe(binary)
    }

    private static func probe(_ executable: String) async throws(AirlockError) -> UVTool {
        let output = try await ProcessRunner.run(executable, ["--version"], timeout: 120)
        if output.timedOut { throw output.timeoutError(executable + " --version") }
        guard output.succeeded else {
            throw .environment("`\(executable) --version` failed: \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return UVTool(executable: executable, version: output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Installs the pinned uv with pip into a temporary folder, then renames it into place, so a
    /// reader never sees a half-installed tool.
    private static func bootstrap(into home: URL, environment: [String: String]) async throws(AirlockError) {
        guard let python = ProcessRunner.which("python3", path: environment["PATH"]) ?? ProcessRunner.which("python", path: environment["PATH"]) else {
            throw .environment("uv is not installed and there is no python3 to install it with",
                               hint: "install uv (https://docs.astral.sh/uv/) or Python 3 with pip")
        }
        let staging = home.deletingLastPathComponent().appendingPathComponent(".uv-staging-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        } catch {
            throw .environment("Cannot create `\(staging.path)`: \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: staging) }
        let output = try await ProcessRunner.run(
            python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-script-location",
                     "--target", staging.path, "uv==\(pinnedVersion)"],
            environment: ["PIP_ROOT_USER_ACTION": "ignore"], timeout: 600)
        if output.timedOut { throw output.timeoutError("pip", doing: "installing uv \(pinnedVersion)") }
        guard output.succeeded else {
            throw .environment("Installing uv \(pinnedVersion) with pip failed:\n\(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))",
                               hint: "check access to the Python package index, or install uv yourself")
        }
        do {
            try FileManager.default.moveItem(at: staging, to: home)
        } catch {
            // Another process won the race: its copy is as good as ours.
            if !FileManager.default.fileExists(atPath: home.appendingPathComponent("bin/uv").path) {
                throw .environment("Cannot move uv into `\(home.path)`: \(error.localizedDescription)")
            }
        }
    }
}
