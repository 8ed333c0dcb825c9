import AirlockCore
import Foundation
import PythonPackaging

/// An official Airflow constraints file for one Airflow and Python version.
public struct ConstraintsFile: Sendable {
    public var airflowVersion: Version
    public var python: String
    /// The file path or URL it was read from.
    public var location: String
    public var text: String
    /// The pins it holds. Apache constraints do not pin `apache-airflow` itself.
    public var pins: PinnedSet

    public init(airflowVersion: Version, python: String, location: String, text: String) {
        self.airflowVersion = airflowVersion
        self.python = python
        self.location = location
        self.text = text
        self.pins = PinnedSet(freezeText: text)
    }
}

/// Where constraints files come from: `<base>/constraints-<airflow>/constraints-<python>.txt`.
///
/// The default base is the Apache Airflow repository's constraints tags on GitHub; `--constraints-source`
/// points at a local mirror folder or another URL with the same layout. Remote files are cached
/// forever (constraints tags do not move).
public struct ConstraintsSource: Sendable, CustomStringConvertible {
    public static let officialBase = "https://raw.githubusercontent.com/apache/airflow"

    /// A folder path or an `http(s)://` base URL.
    public var base: String
    public var paths: AirlockPaths
    public var offline: Bool

    public init(base: String? = nil, paths: AirlockPaths, offline: Bool = false, workingDirectory: String = FileManager.default.currentDirectoryPath) {
        var resolved = base ?? ConstraintsSource.officialBase
        if !HTTPFetcher.isRemote(resolved), !resolved.hasPrefix("/") {
            resolved = URL(fileURLWithPath: workingDirectory).appendingPathComponent(resolved).standardizedFileURL.path
        }
        self.base = resolved
        self.paths = paths
        self.offline = offline
    }

    public var description: String { base }

    public var isRemote: Bool { HTTPFetcher.isRemote(base) }

    func location(airflow: Version, python: String) -> String {
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        return "\(trimmed)/constraints-\(airflow)/constraints-\(python).txt"
    }

    /// The constraints for one Airflow/Python pair, or nil when the source has none (then resolution
    /// falls back to `--exclude-newer`).
    /// - Throws: `AirlockError.usage` when a local mirror folder does not exist.
    public func constraints(airflow: Version, python: String) async throws(AirlockError) -> (file: ConstraintsFile?, warning: String?) {
        let location = location(airflow: airflow, python: python)
        if !isRemote {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: base, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .usage("--constraints-source `\(base)` is not a folder")
            }
            guard let data = FileManager.default.contents(atPath: location) else { return (nil, nil) }
            return (ConstraintsFile(airflowVersion: airflow, python: python, location: location, text: String(decoding: data, as: UTF8.self)), nil)
        }
        let cached = paths.constraints
            .appendingPathComponent(SHA256.hex(base).prefix(16).description)
            .appendingPathComponent("constraints-\(airflow)/constraints-\(python).txt")
        if let data = FileManager.default.contents(atPath: cached.path) {
            return (ConstraintsFile(airflowVersion: airflow, python: python, location: location, text: String(decoding: data, as: UTF8.self)), nil)
        }
        if offline { return (nil, "No cached constraints for Airflow \(airflow) / Python \(python) (offline)") }
        do {
            switch try await HTTPFetcher.fetch(location, timeout: 15) {
            case .found(let data):
                try? CacheFile.writeAtomically(data, to: cached)
                return (ConstraintsFile(airflowVersion: airflow, python: python, location: location, text: String(decoding: data, as: UTF8.self)), nil)
            case .notFound:
                return (nil, nil)
            }
        } catch {
            return (nil, "Cannot fetch constraints for Airflow \(airflow) / Python \(python): \(error.message)")
        }
    }
}
