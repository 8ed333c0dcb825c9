import AirlockCore
import Foundation
import PythonPackaging

/// What to resolve for one side: Airflow at a version plus project requirement lines, for one Python.
public struct ResolutionInput: Sendable, Hashable {
    public var airflowVersion: Version
    public var python: String
    /// Global pip options (`--index-url …`) followed by requirement lines, as uv reads them.
    public var requirementLines: [String]
    /// The project's own `-c` constraint lines.
    public var userConstraintLines: [String]
    /// The official constraints text, when there is one.
    public var constraintsText: String?
    /// `YYYY-MM-DD`, used when there are no constraints.
    public var excludeNewer: String?

    public init(airflowVersion: Version, python: String, requirementLines: [String], userConstraintLines: [String] = [],
                constraintsText: String?, excludeNewer: String?) {
        self.airflowVersion = airflowVersion
        self.python = python
        self.requirementLines = requirementLines
        self.userConstraintLines = userConstraintLines
        self.constraintsText = constraintsText
        self.excludeNewer = excludeNewer
    }

    /// The requirements file uv reads: Airflow first, then the project's lines.
    var requirementsText: String {
        let options = requirementLines.filter { $0.hasPrefix("-") }
        let requirements = requirementLines.filter { !$0.hasPrefix("-") }
        return (options + ["apache-airflow==\(airflowVersion)"] + requirements).joined(separator: "\n") + "\n"
    }

    /// Everything that decides the answer, hashed: the cache key of a resolution.
    func cacheKey(uvVersion: String) -> String {
        var hasher = SHA256()
        hasher.update("airlock-resolution-v1\nuv=\(uvVersion)\npython=\(python)\nexclude-newer=\(excludeNewer ?? "")\n")
        hasher.update("requirements:\n\(requirementsText)\nuser-constraints:\n\(userConstraintLines.joined(separator: "\n"))\n")
        hasher.update("constraints:\n\(constraintsText ?? "<none>")")
        return hasher.finalizeHex()
    }
}

/// The resolver's answer for one input.
public enum ResolutionResult: Sendable, Hashable {
    case resolved(PinnedSet)
    /// The requirements cannot be installed together; `explanation` is uv's text, verbatim.
    case unsatisfiable(explanation: String)
}

/// Resolves with `uv pip compile` for a given Python version (which need not be installed) and
/// caches every answer, success or conflict, by the hash of its inputs.
public struct UVResolver: Sendable {
    public var uv: UVTool
    public var paths: AirlockPaths

    /// Resolve from uv's cache only (`--offline`).
    public var offline: Bool

    public init(uv: UVTool, paths: AirlockPaths, offline: Bool = false) {
        self.uv = uv
        self.paths = paths
        self.offline = offline
    }

    /// - Returns: the result and whether it came from the cache.
    public func resolve(_ input: ResolutionInput) async throws(AirlockError) -> (result: ResolutionResult, cached: Bool) {
        let key = input.cacheKey(uvVersion: uv.version)
        let resolvedURL = paths.resolutions.appendingPathComponent("\(key).txt")
        let conflictURL = paths.resolutions.appendingPathComponent("\(key).conflict")
        if let data = FileManager.default.contents(atPath: resolvedURL.path) {
            return (.resolved(PinnedSet(freezeText: String(decoding: data, as: UTF8.self))), true)
        }
        if let data = FileManager.default.contents(atPath: conflictURL.path) {
            return (.unsatisfiable(explanation: String(decoding: data, as: UTF8.self)), true)
        }

        let work = paths.resolutions.appendingPathComponent("work-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            try Data(input.requirementsText.utf8).write(to: work.appendingPathComponent("requirements.in"))
        } catch {
            throw .environment("Cannot write to the resolution cache `\(paths.resolutions.path)`: \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: work) }
        var arguments = ["pip", "compile", "requirements.in", "--python-version", input.python,
                         "--no-header", "--no-annotate", "--no-progress", "--color", "never", "--output-file", "-"]
        if let constraints = input.constraintsText {
            try write(constraints, to: work.appendingPathComponent("airflow-constraints.txt"))
            arguments += ["--constraint", "airflow-constraints.txt"]
        }
        if !input.userConstraintLines.isEmpty {
            try write(input.userConstraintLines.joined(separator: "\n") + "\n", to: work.appendingPathComponent("project-constraints.txt"))
            arguments += ["--constraint", "project-constraints.txt"]
        }
        if let excludeNewer = input.excludeNewer {
            arguments += ["--exclude-newer", excludeNewer]
        }
        if offline { arguments.append("--offline") }
        let output = try await ProcessRunner.run(uv.executable, arguments, environment: ["NO_COLOR": "1"],
                                                 workingDirectory: work.path, timeout: 900)
        if output.succeeded {
            try? CacheFile.writeAtomically(Data(output.stdout.utf8), to: resolvedURL)
            return (.resolved(PinnedSet(freezeText: output.stdout)), false)
        }
        let explanation = UVResolver.explanation(from: output.stderr)
        if output.stderr.contains("No solution found") {
            try? CacheFile.writeAtomically(Data(explanation.utf8), to: conflictURL)
            return (.unsatisfiable(explanation: explanation), false)
        }
        if output.timedOut {
            throw .environment("uv did not finish resolving Airflow \(input.airflowVersion) within 15 minutes")
        }
        throw .environment("uv could not resolve Airflow \(input.airflowVersion) for Python \(input.python):\n\(explanation)",
                           hint: "check access to the package index; the project's index options are passed on to uv")
    }

    private func write(_ text: String, to url: URL) throws(AirlockError) {
        do {
            try Data(text.utf8).write(to: url)
        } catch {
            throw .environment("Cannot write `\(url.path)`: \(error.localizedDescription)")
        }
    }

    /// uv's error text without progress noise.
    static func explanation(from stderr: String) -> String {
        stderr.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("Resolved ") && !$0.hasPrefix("warning: The `--python-version`") }
            .joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One line saying why resolution failed, from uv's explanation.
    public static func summary(of explanation: String) -> String {
        let lines = explanation.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let candidate = lines.first { $0.contains("Because") } ?? lines.first ?? explanation
        var text = candidate
        for prefix in ["cause: ", "╰─▶ ", "error: "] where text.hasPrefix(prefix) { text = String(text.dropFirst(prefix.count)) }
        if text.count > 300 { text = String(text.prefix(297)) + "..." }
        return text
    }
}
