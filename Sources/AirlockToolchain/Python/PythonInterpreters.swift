import AirlockCore
import Foundation

/// Finds a local CPython for an `X.Y` version. uv must not download interpreters here (no access to
/// GitHub), so Airlock looks where Python lives on a developer machine and checks each candidate.
public enum PythonInterpreters {
    /// An interpreter for `version` (`3.11`), verified by running it.
    public static func find(_ version: String, environment: [String: String] = ProcessInfo.processInfo.environment) async throws(AirlockError) -> String {
        for candidate in candidates(version, environment: environment) {
            guard FileManager.default.isExecutableFile(atPath: candidate) else { continue }
            let output = try? await ProcessRunner.run(candidate, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], timeout: 120)
            if let output, output.succeeded, output.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == version {
                return candidate
            }
        }
        throw .environment("No Python \(version) interpreter found on this machine",
                           hint: "install Python \(version) (e.g. `pyenv install \(version)`), set AIRLOCK_PYTHON_\(version.replacingOccurrences(of: ".", with: "_")) to its path, or pass --python")
    }

    static func candidates(_ version: String, environment: [String: String]) -> [String] {
        var result: [String] = []
        if let explicit = environment["AIRLOCK_PYTHON_\(version.replacingOccurrences(of: ".", with: "_"))"] { result.append(explicit) }
        let pyenvRoot = environment["PYENV_ROOT"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.pyenv")
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: "\(pyenvRoot)/versions") {
            let matching = versions.filter { $0 == version || $0.hasPrefix("\(version).") }
                .sorted { $0.compare($1, options: .numeric) == .orderedDescending }
            result += matching.map { "\(pyenvRoot)/versions/\($0)/bin/python\(version)" }
        }
        for directory in ["/usr/local/bin", "/usr/bin"] { result.append("\(directory)/python\(version)") }
        for directory in (environment["PATH"] ?? "").split(separator: ":") where !directory.contains("/shims") {
            result.append("\(directory)/python\(version)")
        }
        return result
    }
}
