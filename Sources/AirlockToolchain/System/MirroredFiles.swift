import AirlockCore
import Foundation

/// Text files that live under a base — a local mirror folder or an `http(s)://` base URL with the
/// same layout — where remote files are cached once fetched (constraints tags and runtime freezes do
/// not change). One way of reading such files for every source that has this shape (Apache's
/// constraints files, Astronomer's runtime freezes).
public struct MirroredFiles: Sendable, CustomStringConvertible {
    public enum Outcome: Sendable {
        case found(text: String, location: String)
        /// The source has no such file (local: no file; remote: 404, remembered for a while).
        case absent
        /// Remote, not cached, and `--offline`.
        case offline
        /// The fetch failed now (the message says why); a failure is not retried for a while.
        case failed(String)
    }

    /// A folder path or an `http(s)://` base URL.
    public let base: String
    /// The flag that names this source in messages (`--constraints-source`).
    public let flag: String
    public let offline: Bool
    /// Where fetched files, remembered misses and failures of this base are kept.
    let cacheFolder: URL
    let timeout: TimeInterval
    /// How long a remote "not found" is remembered, and how long after a failed fetch none is tried
    /// (nil: always ask again).
    let rememberMissing: TimeInterval?
    let retryAfterFailure: TimeInterval?

    public init(base: String, flag: String, cacheRoot: URL, offline: Bool, timeout: TimeInterval,
                rememberMissing: TimeInterval? = nil, retryAfterFailure: TimeInterval? = nil,
                workingDirectory: String = FileManager.default.currentDirectoryPath) {
        var resolved = base
        if !HTTPFetcher.isRemote(resolved), !resolved.hasPrefix("/") {
            resolved = URL(fileURLWithPath: workingDirectory).appendingPathComponent(resolved).standardizedFileURL.path
        }
        self.base = resolved
        self.flag = flag
        self.offline = offline
        self.cacheFolder = cacheRoot.appendingPathComponent(String(SHA256.hex(resolved).prefix(16)))
        self.timeout = timeout
        self.rememberMissing = rememberMissing
        self.retryAfterFailure = retryAfterFailure
    }

    public var description: String { base }

    public var isRemote: Bool { HTTPFetcher.isRemote(base) }

    /// The path or URL of `relative` under the base.
    public func location(_ relative: String) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/" + relative
    }

    /// Reads `relative`. - Throws: `AirlockError.usage` when a local base is not a folder.
    public func read(_ relative: String) async throws(AirlockError) -> Outcome {
        let location = location(relative)
        if !isRemote {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: base, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .usage("\(flag) `\(base)` is not a folder")
            }
            guard let data = FileManager.default.contents(atPath: location) else { return .absent }
            return .found(text: String(decoding: data, as: UTF8.self), location: location)
        }
        let cached = cacheFolder.appendingPathComponent(relative)
        if let data = FileManager.default.contents(atPath: cached.path) {
            return .found(text: String(decoding: data, as: UTF8.self), location: location)
        }
        let missing = cacheFolder.appendingPathComponent(".missing").appendingPathComponent(relative)
        if let rememberMissing, let age = CacheFile.age(of: missing), age < rememberMissing { return .absent }
        if offline { return .offline }
        let failed = cacheFolder.appendingPathComponent(".unreachable")
        if let retryAfterFailure, let age = CacheFile.age(of: failed), age < retryAfterFailure { return .absent }
        do {
            switch try await HTTPFetcher.fetch(location, timeout: timeout) {
            case .found(let data):
                try? CacheFile.writeAtomically(data, to: cached)
                return .found(text: String(decoding: data, as: UTF8.self), location: location)
            case .notFound:
                if rememberMissing != nil { try? CacheFile.writeAtomically(Data(), to: missing) }
                return .absent
            }
        } catch {
            if retryAfterFailure != nil { try? CacheFile.writeAtomically(Data(), to: failed) }
            return .failed(error.message)
        }
    }
}
