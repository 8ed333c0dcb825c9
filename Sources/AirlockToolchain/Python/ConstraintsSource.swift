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

    let files: MirroredFiles

    public init(base: String? = nil, paths: AirlockPaths, offline: Bool = false, workingDirectory: String = FileManager.default.currentDirectoryPath) {
        files = MirroredFiles(base: base ?? ConstraintsSource.officialBase, flag: "--constraints-source", cacheRoot: paths.constraints,
                              offline: offline, timeout: 15, workingDirectory: workingDirectory)
    }

    /// A folder path or an `http(s)://` base URL.
    public var base: String { files.base }

    public var description: String { files.base }

    public var isRemote: Bool { files.isRemote }

    func location(airflow: Version, python: String) -> String {
        files.location(Self.relativePath(airflow: airflow, python: python))
    }

    private static func relativePath(airflow: Version, python: String) -> String {
        "constraints-\(airflow)/constraints-\(python).txt"
    }

    /// The constraints for one Airflow/Python pair, or nil when the source has none (then resolution
    /// falls back to `--exclude-newer`).
    /// - Throws: `AirlockError.usage` when a local mirror folder does not exist.
    public func constraints(airflow: Version, python: String) async throws(AirlockError) -> (file: ConstraintsFile?, warning: String?) {
        switch try await files.read(Self.relativePath(airflow: airflow, python: python)) {
        case .found(let text, let location):
            return (ConstraintsFile(airflowVersion: airflow, python: python, location: location, text: text), nil)
        case .absent:
            return (nil, nil)
        case .offline:
            return (nil, "No cached constraints for Airflow \(airflow) / Python \(python) (offline)")
        case .failed(let message):
            return (nil, "Cannot fetch constraints for Airflow \(airflow) / Python \(python): \(message)")
        }
    }
}
