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
    /// Where each project line came from (`requirements.txt:7`), keyed by the line as uv reads it, so a
    /// line uv refuses is named by its file and line (exit 2). Not part of the cache key.
    public var lineOrigins: [String: String] = [:]
    /// Per-package upper dates (`pip` → `YYYY-MM-DD`): what an image built then would have, for packages
    /// the constraints leave open.
    public var excludeNewerPackages: [String: String] = [:]
    /// Versions to prefer where nothing forces another (uv reads an existing output file as preferences):
    /// the image's pins when they cannot all be kept.
    public var preferencesText: String?
    /// Packages taken only as binary wheels: their chosen sdist did not build.
    public var onlyBinary: [String] = []

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
        if !excludeNewerPackages.isEmpty {
            hasher.update("\nexclude-newer-package:\(excludeNewerPackages.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })")
        }
        if let preferencesText { hasher.update("\npreferences:\n\(preferencesText)") }
        if !onlyBinary.isEmpty { hasher.update("\nonly-binary:\(onlyBinary.sorted())") }
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
        let resolution = try await resolveRetryingBuilds(input)
        return (resolution.result, resolution.cached)
    }

    /// A resolution, and the packages it had to take as wheels because their sdists did not build.
    public struct Resolution: Sendable {
        public var result: ResolutionResult
        public var cached: Bool
        /// The input as finally resolved (with `onlyBinary` grown by the retries).
        public var input: ResolutionInput
        /// One line per retry, for the report.
        public var notes: [String]
    }

    /// Resolves; when uv has to build a package's sdist to read its metadata and the build fails, resolves
    /// again taking that package only as a wheel (`--only-binary`), so another version with a wheel is
    /// chosen. Gives up after a few packages, or when a package without a usable sdist has no wheel either.
    public func resolveRetryingBuilds(_ input: ResolutionInput) async throws(AirlockError) -> Resolution {
        var input = input
        var notes: [String] = []
        while true {
            var failedBuild: (package: String, version: String, explanation: String)?
            if let (result, cached) = try await compileOnce(input, failedBuild: &failedBuild) {
                return Resolution(result: result, cached: cached, input: input, notes: notes)
            }
            guard let failedBuild else { throw .environment("uv failed to resolve Airflow \(input.airflowVersion) without saying why") }
            guard !input.onlyBinary.contains(failedBuild.package), input.onlyBinary.count < UVResolver.maximumWheelRetries else {
                throw .environment("uv could not resolve Airflow \(input.airflowVersion) for Python \(input.python): `\(failedBuild.package)==\(failedBuild.version)` does not build from source:\n\(failedBuild.explanation)",
                                   hint: "pin a version of \(failedBuild.package) that has a wheel for Python \(input.python)")
            }
            input.onlyBinary.append(failedBuild.package)
            notes.append("\(failedBuild.package)==\(failedBuild.version) did not build from its sdist; resolved again preferring binary wheels (--only-binary \(failedBuild.package))")
        }
    }

    /// How many packages one resolution may switch to wheels before it gives up.
    static let maximumWheelRetries = 4

    /// The package whose build failed, from uv's error text (`Failed to build `x==1.0``,
    /// `Failed to download and build `x==1.0``).
    public static func failedBuild(in stderr: String) -> (package: String, version: String)? {
        for marker in ["Failed to build `", "Failed to download and build `"] {
            guard let range = stderr.range(of: marker) else { continue }
            let rest = stderr[range.upperBound...]
            guard let end = rest.firstIndex(where: { $0 == "`" || $0 == "\n" }) else { continue }
            let spec = rest[..<end]
            guard let separator = spec.range(of: "==") else { continue }
            let name = String(spec[..<separator.lowerBound]), version = String(spec[separator.upperBound...])
            guard !name.isEmpty, !version.isEmpty, !name.contains(" ") else { continue }
            return (PackageName(name).normalized, version)
        }
        return nil
    }

    /// One `uv pip compile`; nil (with `failedBuild` set) when a package's build failed.
    private func compileOnce(_ input: ResolutionInput, failedBuild: inout (package: String, version: String, explanation: String)?) async throws(AirlockError) -> (result: ResolutionResult, cached: Bool)? {
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
        // With preferences, uv writes to a file that already holds them (it reads it as preferred versions).
        let outputFile = input.preferencesText == nil ? "-" : "resolved.txt"
        if let preferences = input.preferencesText {
            try write(preferences, to: work.appendingPathComponent(outputFile))
        }
        var arguments = ["pip", "compile", "requirements.in", "--python-version", input.python,
                         "--no-header", "--no-annotate", "--no-progress", "--color", "never", "--output-file", outputFile]
        for (package, date) in input.excludeNewerPackages.sorted(by: { $0.key < $1.key }) {
            arguments += ["--exclude-newer-package", "\(package)=\(date)"]
        }
        for package in input.onlyBinary.sorted() { arguments += ["--only-binary", package] }
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
            let text = outputFile == "-" ? output.stdout
                : String(decoding: FileManager.default.contents(atPath: work.appendingPathComponent(outputFile).path) ?? Data(), as: UTF8.self)
            try? CacheFile.writeAtomically(Data(text.utf8), to: resolvedURL)
            return (.resolved(PinnedSet(freezeText: text)), false)
        }
        let explanation = UVResolver.explanation(from: output.stderr)
        if let failed = UVResolver.failedBuild(in: output.stderr) {
            failedBuild = (failed.package, failed.version, explanation)
            return nil
        }
        if output.stderr.contains("No solution found") {
            try? CacheFile.writeAtomically(Data(explanation.utf8), to: conflictURL)
            return (.unsatisfiable(explanation: explanation), false)
        }
        if output.timedOut {
            throw .environment("uv did not finish resolving Airflow \(input.airflowVersion) within 15 minutes")
        }
        let filesGiven = ["requirements.in": input.requirementsText, "airflow-constraints.txt": input.constraintsText ?? "",
                          "project-constraints.txt": input.userConstraintLines.joined(separator: "\n") + "\n"]
        if let refused = UVResolver.refusedLine(in: output.stderr, files: filesGiven) {
            let shown = DisplayText.escaped(refused.line)
            let reason = DisplayText.escaped(refused.reason)
            let hint = "Airlock's parser accepts the line but uv's is stricter; write it as uv reads it"
            if let origin = input.lineOrigins[refused.line] {
                throw .usage("\(DisplayText.escaped(origin, limit: nil)): uv refuses the requirement `\(shown)`: \(reason)", hint: hint)
            }
            // Airlock's own lines (Airflow, image pins) always parse: a refused line there is the project's.
            guard refused.file == "airflow-constraints.txt" else {
                throw .usage("uv refuses the project's requirement `\(shown)`: \(reason)", hint: hint)
            }
            throw .environment("uv refuses the line `\(shown)` of Airflow's constraints: \(reason)")
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

    /// The line uv could not parse (`Couldn't parse requirement in `F` at position N`, N being the byte
    /// offset of the line in F), looked up in the `files` Airlock wrote for uv, with uv's reason.
    public static func refusedLine(in stderr: String, files: [String: String]) -> (file: String, line: String, reason: String)? {
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: false)
        guard let index = lines.firstIndex(where: { $0.contains("Couldn't parse requirement in `") }) else { return nil }
        let header = lines[index]
        guard let open = header.range(of: "Couldn't parse requirement in `"),
              let close = header[open.upperBound...].firstIndex(of: "`"),
              let at = header[close...].range(of: " at position ") else { return nil }
        let file = String(header[open.upperBound..<close])
        let digits = header[at.upperBound...].prefix { $0.isASCII && $0.isNumber }
        guard let offset = Int(digits), let content = files[file], offset <= content.utf8.count else { return nil }
        let tail = content.utf8.dropFirst(offset)
        let line = String(decoding: tail.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let reason = lines[(index + 1)...].lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("cause: ") }.map { String($0.dropFirst("cause: ".count)) } ?? "uv could not parse it"
        return (file, line, reason)
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
