import AirlockCore
import Foundation

/// Astronomer's per-runtime freeze files: `<base>/runtime-<tag>-python-<py>.txt`, the `pip freeze` of
/// a runtime image (the layout the Astro CLI's standalone mode reads; `<tag>` is the bare version,
/// without `-slim`/`-base`). When one is found it is the image's package list; otherwise the provider
/// reference bundled with Airlock stands in.
///
/// `--runtime-freeze-source` points at a local folder or another URL with the same layout. Remote files
/// are cached (a runtime's freeze does not change); a failed fetch is not tried again for ten minutes,
/// so an unreachable CDN costs one attempt, not one per run.
public struct RuntimeFreezeSource: Sendable, CustomStringConvertible {
    public static let officialBase = "https://cdn.astronomer.io/runtime-freeze"

    /// A folder path or an `http(s)://` base URL.
    public var base: String
    public var paths: AirlockPaths
    public var offline: Bool

    public init(base: String? = nil, paths: AirlockPaths, offline: Bool = false,
                workingDirectory: String = FileManager.default.currentDirectoryPath) {
        var resolved = base ?? RuntimeFreezeSource.officialBase
        if !HTTPFetcher.isRemote(resolved), !resolved.hasPrefix("/") {
            resolved = URL(fileURLWithPath: workingDirectory).appendingPathComponent(resolved).standardizedFileURL.path
        }
        self.base = resolved
        self.paths = paths
        self.offline = offline
    }

    public var description: String { base }

    public var isRemote: Bool { HTTPFetcher.isRemote(base) }

    public func location(runtime: RuntimeVersion, python: String) -> String {
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        return "\(trimmed)/runtime-\(runtime)-python-\(python).txt"
    }

    /// The image's packages from its freeze file, or nil (with a warning when something failed) when
    /// there is none.
    /// - Throws: `AirlockError.usage` when a local folder does not exist.
    public func packages(runtime: RuntimeVersion, python: String) async throws(AirlockError) -> (packages: ImagePackages?, warning: String?) {
        let location = location(runtime: runtime, python: python)
        if !isRemote {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: base, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .usage("--runtime-freeze-source `\(base)` is not a folder")
            }
            guard let data = FileManager.default.contents(atPath: location) else { return (nil, nil) }
            return (ImagePackages(freezeText: String(decoding: data, as: UTF8.self), source: location), nil)
        }
        let folder = paths.feeds.appendingPathComponent("runtime-freeze").appendingPathComponent(String(SHA256.hex(base).prefix(16)))
        let cached = folder.appendingPathComponent("runtime-\(runtime)-python-\(python).txt")
        if let data = FileManager.default.contents(atPath: cached.path) {
            return (ImagePackages(freezeText: String(decoding: data, as: UTF8.self), source: location), nil)
        }
        let missing = folder.appendingPathComponent(".runtime-\(runtime)-python-\(python).missing")
        if let age = CacheFile.age(of: missing), age < CatalogLoader.timeToLive { return (nil, nil) }
        let failed = folder.appendingPathComponent(".unreachable")
        if offline { return (nil, nil) }
        if let age = CacheFile.age(of: failed), age < CatalogLoader.retryAfterFailure { return (nil, nil) }
        do {
            switch try await HTTPFetcher.fetch(location, timeout: 8) {
            case .found(let data):
                try? CacheFile.writeAtomically(data, to: cached)
                return (ImagePackages(freezeText: String(decoding: data, as: UTF8.self), source: location), nil)
            case .notFound:
                try? CacheFile.writeAtomically(Data(), to: missing)
                return (nil, nil)
            }
        } catch {
            try? CacheFile.writeAtomically(Data(), to: failed)
            return (nil, "Astronomer's freeze file for Runtime \(runtime) (Python \(python)) could not be fetched (\(error.message)); "
                + "using the provider reference bundled with Airlock instead (--runtime-freeze-source DIR reads freeze files from a folder)")
        }
    }
}
