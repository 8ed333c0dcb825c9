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

    let files: MirroredFiles

    public init(base: String? = nil, paths: AirlockPaths, offline: Bool = false,
                workingDirectory: String = FileManager.default.currentDirectoryPath) {
        files = MirroredFiles(base: base ?? RuntimeFreezeSource.officialBase, flag: "--runtime-freeze-source",
                              cacheRoot: paths.feeds.appendingPathComponent("runtime-freeze"), offline: offline, timeout: 8,
                              rememberMissing: CatalogLoader.timeToLive, retryAfterFailure: CatalogLoader.retryAfterFailure,
                              workingDirectory: workingDirectory)
    }

    /// A folder path or an `http(s)://` base URL.
    public var base: String { files.base }

    public var description: String { files.base }

    public var isRemote: Bool { files.isRemote }

    public func location(runtime: RuntimeVersion, python: String) -> String {
        files.location(Self.fileName(runtime: runtime, python: python))
    }

    private static func fileName(runtime: RuntimeVersion, python: String) -> String {
        "runtime-\(runtime)-python-\(python).txt"
    }

    /// The image's packages from its freeze file, or nil (with a warning when something failed) when
    /// there is none.
    /// - Throws: `AirlockError.usage` when a local folder does not exist.
    public func packages(runtime: RuntimeVersion, python: String) async throws(AirlockError) -> (packages: ImagePackages?, warning: String?) {
        switch try await files.read(Self.fileName(runtime: runtime, python: python)) {
        case .found(let text, let location):
            return (ImagePackages(freezeText: text, source: location), nil)
        case .absent, .offline:
            return (nil, nil)
        case .failed(let message):
            return (nil, "Astronomer's freeze file for Runtime \(runtime) (Python \(python)) could not be fetched (\(message)); "
                + "using the provider reference bundled with Airlock instead (--runtime-freeze-source DIR reads freeze files from a folder)")
        }
    }
}
