import AirlockCore
import Foundation

/// A virtualenv with an exact package set installed: the "image" of a side.
///
/// Content-addressed by its lock (Python version + pins + index options), so every run and every
/// project that needs the same lock reuses it. The deploy side uses the same environments.
public struct PythonEnvironment: Sendable, Hashable {
    public var root: URL
    public var lockHash: String
    public var pythonVersion: String
    public var python: String { root.appendingPathComponent("bin/python").path }

    public init(root: URL, lockHash: String, pythonVersion: String) {
        self.root = root
        self.lockHash = lockHash
        self.pythonVersion = pythonVersion
    }
    public var bin: URL { root.appendingPathComponent("bin") }
    /// A folder inside the environment for Airlock's own per-environment files (e.g. the migrated DB template).
    public var airlockFolder: URL { root.appendingPathComponent("airlock") }
}

/// Builds environments with uv into Airlock's cache and hands out existing ones.
///
/// Safe when several Airlock processes want the same environment at once: builders take an
/// exclusive lock per environment, and an environment counts only once its completion marker exists.
public struct EnvironmentBuilder: Sendable {
    public var uv: UVTool
    public var paths: AirlockPaths

    public init(uv: UVTool, paths: AirlockPaths) {
        self.uv = uv
        self.paths = paths
    }

    static let markerName = "airlock-environment.json"

    /// The lock hash of a pin set: what identifies an environment.
    public static func lockHash(pins: PinnedSet, python: String, indexOptions: [String]) -> String {
        SHA256.hex("airlock-env-v2\npython=\(python)\n\(indexOptions.joined(separator: "\n"))\n\(pins.freezeText)")
    }

    /// Where the environment of a lock lives (built or not): environments are addressed by their lock hash.
    public static func environment(lockHash: String, python: String, paths: AirlockPaths) -> PythonEnvironment {
        PythonEnvironment(root: paths.environments.appendingPathComponent(String(lockHash.prefix(24))), lockHash: lockHash, pythonVersion: python)
    }

    /// The environment of a lock if it is completely built, without building it.
    public static func existing(lockHash: String, python: String, paths: AirlockPaths) -> PythonEnvironment? {
        let environment = environment(lockHash: lockHash, python: python, paths: paths)
        return FileManager.default.fileExists(atPath: environment.root.appendingPathComponent(markerName).path) ? environment : nil
    }

    /// The environment for `pins`, built if needed.
    /// - Returns: the environment and whether it already existed.
    public func environment(pins: PinnedSet, python: String, indexOptions: [String] = [],
                            progress: (@Sendable (String) -> Void)? = nil) async throws(AirlockError) -> (PythonEnvironment, reused: Bool) {
        switch try await build(pins: pins, python: python, indexOptions: indexOptions, progress: progress) {
        case .ready(let environment, let reused):
            return (environment, reused)
        case .buildFailed(let package, let version, let explanation):
            throw .environment("Installing the environment failed: \(package)==\(version) does not build from source:\n\(explanation)")
        }
    }

    /// An environment, or the package whose sdist failed to build (which a new resolution can avoid).
    public enum BuildOutcome: Sendable {
        case ready(PythonEnvironment, reused: Bool)
        case buildFailed(package: String, version: String, explanation: String)
    }

    /// Like `environment(pins:…)`, but a package that does not build is an answer, not an error.
    public func build(pins: PinnedSet, python: String, indexOptions: [String] = [],
                      progress: (@Sendable (String) -> Void)? = nil) async throws(AirlockError) -> BuildOutcome {
        let hash = Self.lockHash(pins: pins, python: python, indexOptions: indexOptions)
        let environment = Self.environment(lockHash: hash, python: python, paths: paths)
        let root = environment.root
        let marker = root.appendingPathComponent(Self.markerName)
        if FileManager.default.fileExists(atPath: marker.path) { return .ready(environment, reused: true) }

        let lock = try FileLock(paths.environments.appendingPathComponent(".\(hash.prefix(24)).lock"))
        try await lock.acquire()
        defer { lock.release() }
        if FileManager.default.fileExists(atPath: marker.path) { return .ready(environment, reused: true) }  // built while we waited

        progress?("Building environment \(hash.prefix(12)) (Python \(python), \(pins.count) packages)")
        try? FileManager.default.removeItem(at: root)  // a half-built leftover
        let interpreter = try await PythonInterpreters.find(python)
        let env = ["UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"]
        let venv = try await ProcessRunner.run(uv.executable, ["venv", "--quiet", "--python", interpreter, root.path], environment: env, timeout: 120)
        if venv.timedOut { throw venv.timeoutError("uv venv", doing: "creating the environment for Python \(python)") }
        guard venv.succeeded else {
            throw .environment("`uv venv` failed for Python \(python):\n\(venv.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let lockFile = root.appendingPathComponent("airlock-lock.txt")
        do {
            try Data(((indexOptions) + [pins.freezeText]).joined(separator: "\n").utf8).write(to: lockFile)
        } catch {
            throw .environment("Cannot write `\(lockFile.path)`: \(error.localizedDescription)")
        }
        // Exact pins: sync without resolving. Offline first (0.2 s from a warm uv cache), online when that misses.
        // No `--compile-bytecode`: compiling every module costs more than a cold run gains. The harness
        // writes .pyc files for the modules Airflow really imports, on first use (see DagParseHarness).
        let sync = ["pip", "sync", "--python", environment.python, "--no-progress", lockFile.path]
        var install = try await ProcessRunner.run(uv.executable, sync + ["--offline"], environment: env, timeout: 900)
        if !install.succeeded {
            install = try await ProcessRunner.run(uv.executable, sync, environment: env, timeout: 1800)
        }
        if install.timedOut {
            try? FileManager.default.removeItem(at: root)
            throw install.timeoutError("uv pip sync", doing: "installing \(pins.count) packages")
        }
        guard install.succeeded else {
            try? FileManager.default.removeItem(at: root)
            if let failed = UVResolver.failedBuild(in: install.stderr) {
                return .buildFailed(package: failed.package, version: failed.version, explanation: UVResolver.explanation(from: install.stderr))
            }
            throw .environment("Installing the environment failed:\n\(UVResolver.explanation(from: install.stderr))")
        }
        let info: [String: String] = ["lockHash": hash, "python": python, "createdAt": ISO8601DateFormatter().string(from: Date())]
        do {
            try FileManager.default.createDirectory(at: environment.airlockFolder, withIntermediateDirectories: true)
            try CacheFile.writeAtomically(try JSONEncoder().encode(info), to: marker)
        } catch {
            throw .environment("Cannot finish the environment in `\(root.path)`: \(error.localizedDescription)")
        }
        return .ready(environment, reused: false)
    }

    /// Every complete environment in the cache with its size and last use.
    public static func list(_ paths: AirlockPaths) -> [CachedEnvironment] {
        let folder = paths.environments
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return names.filter { !$0.hasPrefix(".") }.compactMap { name in
            let root = folder.appendingPathComponent(name)
            let marker = root.appendingPathComponent(Self.markerName)
            guard FileManager.default.fileExists(atPath: marker.path) else { return nil }
            let info = (FileManager.default.contents(atPath: marker.path)).flatMap { try? JSONDecoder().decode([String: String].self, from: $0) } ?? [:]
            return CachedEnvironment(root: root, python: info["python"] ?? "?", createdAt: info["createdAt"] ?? "",
                                     lastUsed: (try? FileManager.default.attributesOfItem(atPath: marker.path)[.modificationDate] as? Date) ?? nil,
                                     bytes: Self.size(of: root))
        }
    }

    /// Marks an environment as used now (prune keeps recently used ones).
    public func touch(_ environment: PythonEnvironment) {
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: environment.root.appendingPathComponent(Self.markerName).path)
    }

    static func size(of url: URL) -> Int64 {
        guard let enumerator = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.totalFileAllocatedSizeKey]) else { return 0 }
        var total: Int64 = 0
        for case let file as URL in enumerator {
            total += Int64((try? file.resourceValues(forKeys: [.totalFileAllocatedSizeKey]).totalFileAllocatedSize) ?? 0)
        }
        return total
    }
}

/// An environment found in the cache, for `airlock cache list|prune`.
public struct CachedEnvironment: Sendable, Codable {
    public var root: URL
    public var python: String
    public var createdAt: String
    public var lastUsed: Date?
    public var bytes: Int64
}
