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
        if output.timedOut { throw output.timeoutError("uv pip install", doing: "installing ruff \(pinnedVersion)") }
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
        // ruff opens every `.py` it finds and blocks for ever on a FIFO: files that are not regular are
        // excluded (and not copied for --fix); the time limit stays as the backstop.
        let common = ["check", "--config", config, "--no-cache", "--extend-exclude", "upgrade-test-*", "--exit-zero"]
        func excluding(_ root: URL) -> [String] {
            Self.nonRegularFiles(under: root).flatMap { ["--extend-exclude", Self.globLiteral($0)] }
        }
        let fixFlags: [String] = { if case .none = fix { return [] } else { return ["--fix", "--unsafe-fixes"] } }()
        // Findings as JSON for the report; then the human text, after fixes when fixing.
        let json = try await ProcessRunner.run(ruff.executable, common + excluding(project) + ["--output-format", "json", "."],
                                               workingDirectory: project.path, timeout: Self.timeLimit)
        if json.timedOut { throw json.timeoutError("ruff", doing: "linting the project") }
        if !fixFlags.isEmpty {
            let fixed = try await ProcessRunner.run(ruff.executable, common + excluding(target) + fixFlags + ["."],
                                                    workingDirectory: target.path, timeout: Self.timeLimit)
            if fixed.timedOut { throw fixed.timeoutError("ruff", doing: "applying fixes") }
            guard fixed.status == 0 else { throw .environment("ruff --fix failed:\n\(fixed.stderr)") }
        }
        let text = try await ProcessRunner.run(ruff.executable, common + excluding(project) + ["--output-format", "full", "."],
                                               workingDirectory: project.path, timeout: Self.timeLimit)
        if text.timedOut { throw text.timeoutError("ruff", doing: "linting the project") }
        guard json.status == 0, text.status == 0 else {
            throw .environment("ruff failed:\n\((json.stderr + text.stderr).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let findings = try Self.findings(json.stdout, root: project)
        var patch: String?
        if case .copy(let copy) = fix {
            let diff = try await ProcessRunner.run("/usr/bin/env", ["diff", "-ruN", "--exclude=upgrade-test-*", "--exclude=.git",
                                                                     project.path, copy.path], timeout: 120)
            if diff.timedOut { throw diff.timeoutError("diff", doing: "comparing the fixed copy") }
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

    /// Seconds one ruff run may take (a large project lints in a few seconds).
    public static let timeLimit: Double = 300

    /// Copies the project (without report folders and `.git`) so fixes never touch the original: folders,
    /// regular files and symlinks (as links); FIFOs, sockets and devices are left out (copying a FIFO blocks).
    static func copyProject(_ project: URL, to copy: URL) throws(AirlockError) {
        do {
            try? FileManager.default.removeItem(at: copy)
            try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: project.path)
            where !name.hasPrefix("upgrade-test-") && name != ".git" {
                try copyEntry(project.appendingPathComponent(name), to: copy.appendingPathComponent(name))
            }
        } catch {
            throw .environment("Cannot copy the project for --fix: \(error.localizedDescription)")
        }
    }

    private static func copyEntry(_ source: URL, to destination: URL) throws {
        var info = stat()
        guard lstat(source.path, &info) == 0 else { return }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
                try copyEntry(source.appendingPathComponent(name), to: destination.appendingPathComponent(name))
            }
        case S_IFREG, S_IFLNK:
            try FileManager.default.copyItem(at: source, to: destination)
        default:
            return
        }
    }

    /// Absolute paths of the entries under `root` that are neither folders, regular files nor links to
    /// them (FIFOs, sockets, devices, dangling links), skipping `.git` and report folders; links to
    /// folders are not followed.
    public static func nonRegularFiles(under root: URL) -> [String] {
        var found: [String] = []
        func walk(_ folder: String, depth: Int) {
            guard depth < 64, let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
            for name in names where !(depth == 0 && (name.hasPrefix("upgrade-test-") || name == ".git")) {
                let path = folder + "/" + name
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: walk(path, depth: depth + 1)
                case S_IFREG: continue
                case S_IFLNK:
                    var target = stat()
                    if stat(path, &target) == 0, [S_IFREG, S_IFDIR].contains(target.st_mode & S_IFMT) { continue }
                    found.append(path)
                default: found.append(path)
                }
            }
        }
        walk(root.standardizedFileURL.path, depth: 0)
        return found.sorted()
    }

    /// `path` as a glob that matches only itself (ruff's `--extend-exclude` takes globs).
    static func globLiteral(_ path: String) -> String {
        var glob = ""
        for character in path {
            if "*?[]{}\\".contains(character) { glob += "[\(character)]" } else { glob.append(character) }
        }
        return glob
    }
}
