import Foundation

/// Where Airlock keeps what it can rebuild: tools, feeds, constraints, resolutions.
public struct AirlockPaths: Sendable {
    public var cacheRoot: URL

    public init(cacheRoot: URL) {
        self.cacheRoot = cacheRoot
    }

    /// `AIRLOCK_CACHE_DIR`, else `$XDG_CACHE_HOME/airlock`, else `~/.cache/airlock`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> AirlockPaths {
        if let explicit = environment["AIRLOCK_CACHE_DIR"], !explicit.isEmpty {
            return AirlockPaths(cacheRoot: URL(fileURLWithPath: explicit))
        }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            return AirlockPaths(cacheRoot: URL(fileURLWithPath: xdg).appendingPathComponent("airlock"))
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return AirlockPaths(cacheRoot: URL(fileURLWithPath: home).appendingPathComponent(".cache/airlock"))
    }

    public var tools: URL { cacheRoot.appendingPathComponent("tools") }
    public var feeds: URL { cacheRoot.appendingPathComponent("feeds") }
    public var constraints: URL { cacheRoot.appendingPathComponent("constraints") }
    public var resolutions: URL { cacheRoot.appendingPathComponent("resolutions") }
    public var environments: URL { cacheRoot.appendingPathComponent("environments") }
}

/// Small file helpers shared by the caches: atomic writes and freshness checks.
public enum CacheFile {
    /// Writes `data` to `url` through a temporary file and a rename, so readers never see half a file.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        try data.write(to: temporary)
        // rename(2) replaces an existing file atomically.
        guard rename(temporary.path, url.path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "rename failed: \(String(cString: strerror(code)))"])
        }
    }

    /// Seconds since `url` was last written, or nil when it does not exist.
    public static func age(of url: URL, now: Date = Date()) -> TimeInterval? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
              let modified = attributes[.modificationDate] as? Date else { return nil }
        return now.timeIntervalSince(modified)
    }
}
