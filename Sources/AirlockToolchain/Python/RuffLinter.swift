import AirlockCore
import Foundation

/// ruff at a pinned version, installed by uv into Airlock's tool cache: lint results must not
/// change between runs because a tool floated (the Astro CLI pulls `ruff:latest` every time).
public struct RuffTool: Sendable {
    public static let pinnedVersion = "0.17.6"
    public var executable: String

    public static func locate(uv: UVTool, paths: AirlockPaths) async throws(AirlockError) -> RuffTool {
        let home = paths.tools.appendingPathComponent("ruff-\(pinnedVersion)")
        let binary = home.appendingPathComponent("bin/ruff")
        if FileManager.default.isExecutableFile(atPath: binary.path) { return RuffTool(executable: binary.path) }
        let lock = try FileLock(paths.tools.appendingPathComponent(".ruff.lock"))
        try await lock.acquire()
        defer { lock.release() }
        if FileManager.default.isExecutableFile(atPath: binary.path) { return RuffTool(executable: binary.path) }
        let staging = paths.tools.appendingPathComponent(".ruff-staging-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: staging) }
        let output = try await ProcessRunner.run(uv.executable, ["pip", "install", "--quiet", "--no-progress", "--target", staging.path, "ruff==\(pinnedVersion)"],
                                                 environment: ["UV_PYTHON_DOWNLOADS": "never"], timeout: 600)
        guard output.succeeded, rename(staging.path, home.path) == 0 || FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw .environment("Installing ruff \(pinnedVersion) failed:\n\(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return RuffTool(executable: binary.path)
    }
}

/// The lint test (SPEC §3.4): ruff's Airflow rules over the whole project.
public struct RuffLinter: Sendable {
    /// What the lint produced: ruff's text verbatim and the findings.
    public struct Result: Sendable {
        public var text: String
        public var findings: [LintFinding]
        /// The unified diff of `--fix`, when fixes were written to a copy.
        public var patch: String?
        /// The fixed copy's files (relative path → contents), to be kept in the report folder.
        public var fixedCopy: [String: Data]?
    }

    public enum FixMode: Sendable { case none, copy(URL), inPlace }

    public var ruff: RuffTool

    public init(ruff: RuffTool) {
        self.ruff = ruff
    }

    /// The rules Airlock selects: removals, moves to providers, signature changes, 3.1 moves; deprecations on request.
    public static func rules(deprecations: Bool) -> [String] {
        ["AIR301", "AIR302", "AIR303", "AIR321"] + (deprecations ? ["AIR311", "AIR312"] : [])
    }

    public func lint(project: URL, deprecations: Bool, configFile: URL?, fix: FixMode, scratch: URL) async throws(AirlockError) -> Result {
        let config: String
        if let configFile {
            guard FileManager.default.fileExists(atPath: configFile.path) else {
                throw .usage("--lint-config-file `\(configFile.path)` does not exist")
            }
            config = configFile.path
        } else {
            let generated = scratch.appendingPathComponent("ruff-airflow.toml")
            let rules = Self.rules(deprecations: deprecations).map { "\"\($0)\"" }.joined(separator: ", ")
            do {
                try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
                try Data("[lint]\npreview = true\nselect = [\(rules)]\n".utf8).write(to: generated)
            } catch {
                throw .environment("Cannot write the ruff configuration: \(error.localizedDescription)")
            }
            config = generated.path
        }
        var target = project
        if case .copy(let copy) = fix {
            try Self.copyProject(project, to: copy)
            target = copy
        }
        let common = ["check", "--config", config, "--no-cache", "--extend-exclude", "upgrade-test-*", "--exit-zero"]
        let fixFlags: [String] = { if case .none = fix { return [] } else { return ["--fix", "--unsafe-fixes"] } }()
        // Findings as JSON for the report; then the human text, after fixes when fixing.
        let json = try await ProcessRunner.run(ruff.executable, common + ["--output-format", "json", "."], workingDirectory: project.path, timeout: 300)
        if !fixFlags.isEmpty {
            let fixed = try await ProcessRunner.run(ruff.executable, common + fixFlags + ["."], workingDirectory: target.path, timeout: 300)
            guard fixed.status == 0 else { throw .environment("ruff --fix failed:\n\(fixed.stderr)") }
        }
        let text = try await ProcessRunner.run(ruff.executable, common + ["--output-format", "full", "."], workingDirectory: project.path, timeout: 300)
        guard json.status == 0, text.status == 0 else {
            throw .environment("ruff failed:\n\((json.stderr + text.stderr).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let findings = try Self.findings(json.stdout, root: project)
        var patch: String?
        if case .copy(let copy) = fix {
            let diff = try await ProcessRunner.run("/usr/bin/env", ["diff", "-ruN", "--exclude=upgrade-test-*", "--exclude=.git",
                                                                     project.path, copy.path], timeout: 120)
            patch = Self.relabel(diff.stdout, original: project.path, fixed: copy.path)
        }
        return Result(text: text.stdout + text.stderr, findings: findings, patch: patch)
    }

    static func findings(_ json: String, root: URL) throws(AirlockError) -> [LintFinding] {
        struct Item: Decodable {
            struct Location: Decodable { var row: Int; var column: Int }
            var code: String?
            var filename: String
            var location: Location
            var message: String
            var fix: JSONValue?
        }
        let items: [Item]
        do {
            items = try JSONDecoder().decode([Item].self, from: Data(json.utf8))
        } catch {
            throw .environment("ruff's JSON output could not be read: \(error)")
        }
        let base = root.standardizedFileURL.path + "/"
        return items.map { item in
            let file = item.filename.hasPrefix(base) ? String(item.filename.dropFirst(base.count)) : item.filename
            let fixable = item.fix.map { $0 != .null } ?? false
            return LintFinding(file: file, line: item.location.row, column: item.location.column,
                               rule: item.code ?? "syntax-error", message: item.message, fixable: fixable)
        }.sorted { ($0.file, $0.line, $0.column) < ($1.file, $1.line, $1.column) }
    }

    /// `diff -ruN` output with `a/` and `b/` project-relative labels, as `git apply` and `patch -p1` expect.
    static func relabel(_ diff: String, original: String, fixed: String) -> String {
        diff.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
            if line.hasPrefix("diff -ruN") { return nil }
            if line.hasPrefix("--- \(original)/") { return "--- a/" + String(line.dropFirst("--- \(original)/".count)).components(separatedBy: "\t")[0] }
            if line.hasPrefix("+++ \(fixed)/") { return "+++ b/" + String(line.dropFirst("+++ \(fixed)/".count)).components(separatedBy: "\t")[0] }
            return String(line)
        }.joined(separator: "\n")
    }

    /// Copies the project (without report folders and `.git`) so fixes never touch the original.
    static func copyProject(_ project: URL, to copy: URL) throws(AirlockError) {
        do {
            try? FileManager.default.removeItem(at: copy)
            try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: project.path)
            where !name.hasPrefix("upgrade-test-") && name != ".git" {
                try FileManager.default.copyItem(at: project.appendingPathComponent(name), to: copy.appendingPathComponent(name))
            }
        } catch {
            throw .environment("Cannot copy the project for --fix: \(error.localizedDescription)")
        }
    }
}
