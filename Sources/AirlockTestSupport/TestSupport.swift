import AirlockCore
import AirlockToolchain
import Foundation

/// Shared helpers for Airlock's test targets: repository paths, scratch folders, the shared cache,
/// the built `airlock` binary and a throw-away HTTP server. Not shipped in the executable.
public enum TestSupport {
    /// The repository root (found from this file's location).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var constraintsMirror: URL { repositoryRoot.appendingPathComponent("examples/constraints") }

    /// A new empty folder under the system's temporary directory.
    public static func scratchFolder(_ name: String = "airlock-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The cache shared by one test run (`AIRLOCK_TEST_CACHE_DIR`, set by scripts/test), so the uv
    /// bootstrap and resolutions happen once per run rather than once per test.
    public static var sharedCache: AirlockPaths {
        if let dir = ProcessInfo.processInfo.environment["AIRLOCK_TEST_CACHE_DIR"], !dir.isEmpty {
            return AirlockPaths(cacheRoot: URL(fileURLWithPath: dir))
        }
        return AirlockPaths(cacheRoot: repositoryRoot.appendingPathComponent(".build/airlock-test-cache"))
    }

    /// Writes `files` (relative path → contents) under `root`.
    public static func writeTree(_ files: [String: String], under root: URL) throws {
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
    }

    /// Every file under `root` with the SHA-256 of its contents, to prove a tree was not touched.
    public static func snapshot(_ root: URL) -> [String: String] {
        var result: [String: String] = [:]
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [:] }
        let base = root.standardizedFileURL.path
        for case let url as URL in enumerator {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                  let data = FileManager.default.contents(atPath: url.path) else { continue }
            let path = String(url.standardizedFileURL.path.dropFirst(base.count + 1))
            result[path] = SHA256.hex(bytes: data)
        }
        return result
    }

    /// The `airlock` executable built next to the test bundle.
    public static var airlockBinary: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("airlock"),
            Bundle.main.bundleURL.appendingPathComponent("airlock"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("airlock"),
            repositoryRoot.appendingPathComponent(".build/debug/airlock"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates.last!
    }

    /// Runs the built `airlock` with `arguments`, in `directory`, with the shared cache unless `environment` says otherwise.
    public static func airlock(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                               timeout: Double = 600) async throws -> ProcessOutput {
        var env = ["AIRLOCK_CACHE_DIR": sharedCache.cacheRoot.path, "CI": "true"]
        for (key, value) in environment { env[key] = value }
        return try await ProcessRunner.run(airlockBinary.path, arguments, environment: env,
                                           workingDirectory: directory?.path, timeout: timeout)
    }
}

/// A real HTTP server on loopback serving a folder (`python3 -m http.server`), for the code paths
/// that read constraints and feeds from URLs.
public final class StaticHTTPServer: @unchecked Sendable {
    public let baseURL: String
    private let process: Process

    public init(serving folder: URL) throws {
        let port = Int.random(in: 20_000..<60_000)
        process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessRunner.which("python3") ?? "/usr/bin/python3")
        process.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", folder.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        baseURL = "http://127.0.0.1:\(port)"
        // Wait until it accepts connections.
        for _ in 0..<200 {
            if LoopbackPort.accepts(port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Kills the server. No `waitUntilExit()`: on Linux it spins the run loop of the calling thread.
    public func stop() {
        let pid = process.processIdentifier
        if pid > 0 { kill(pid, SIGKILL) }
    }

    deinit { stop() }
}
