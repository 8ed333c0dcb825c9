import AirlockCore
import Foundation

/// A project packaged for `airlock deploy` (SPEC §4.2): the image bundle (every non-DAG file) and
/// the DAG bundle (`dags/…`), as deterministic ustar bytes, plus the git facts of the checkout.
///
/// Deterministic means the same files always give the same bytes and digests: paths are sorted,
/// modes are 0644 or 0755 only, and the tar writer stores no timestamps or owners, so a `touch`
/// or a fresh clone does not look like a new version. Packaging only reads the project.
public struct ProjectBundle: Sendable {
    /// One uploadable bundle and its content version.
    public struct Part: Sendable {
        public var bytes: [UInt8]
        public var manifest: BundleManifest
        /// `manifest.digest`: the project-image digest or the DAG bundle version.
        public var digest: String { manifest.digest }
    }

    /// The non-DAG files; nil for DAG-only deploys.
    public var image: Part?
    /// The files under `dags/`, stored as `dags/…`; nil for image-only deploys.
    public var dags: Part?
    /// Nil when the project is not in a git work tree or git is not installed.
    public var git: GitMetadata?

    /// Folder and file names left out at any depth: VCS data, caches, local environments, Airlock's own files.
    public static let excludedNames: Set<String> = [".git", "__pycache__", ".venv", "venv", ".airlock", ".DS_Store"]
    /// Left out at the project root, as Astro's default `.dockerignore` does: local secrets and
    /// settings (`.env`, `airflow_settings.yaml`) never leave the machine, and local logs and
    /// `airlock upgrade-test` report folders are not part of the image. `.airlock-release.json` is the
    /// release record a deploy's release folder holds: the Kubernetes target packs that folder into
    /// the image, whose project layer must depend on the project's files only.
    public static let excludedAtRoot: Set<String> = [".env", "airflow_settings.yaml", "logs", "airflow.db", "airflow.cfg", ".airlock-release.json"]

    static func isExcludedAtRoot(_ name: String) -> Bool {
        excludedAtRoot.contains(name) || name.hasPrefix("upgrade-test-") || name == "upgrade-summary.md" || name == "upgrade-summary.json"
    }

    /// Packages the project at `projectRoot` for a deploy of `type`.
    /// - Throws: `.usage` for a missing project folder, a missing `Dockerfile` (image deploys), a
    ///   missing `dags/` (DAG-only deploys), a symlink leaving the project, or an unreadable file.
    public static func make(projectRoot: URL, type: DeployType = .imageAndDag) async throws(AirlockError) -> ProjectBundle {
        let root = projectRoot.standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue,
              let realRoot = realPath(root.path) else {
            throw .usage("Project folder `\(root.path)` does not exist")
        }
        let walker = Walker(root: root.path, realRoot: realRoot)
        var bundle = ProjectBundle()
        if type != .dagOnly {
            guard FileManager.default.fileExists(atPath: root.appendingPathComponent("Dockerfile").path) else {
                throw .usage("`\(root.appendingPathComponent("Dockerfile").path)` does not exist; image deploys need the project's Dockerfile",
                             hint: "run from the project folder, pass --project DIR, or deploy only the DAGs with --dags")
            }
            bundle.image = part(try walker.files(under: "", skippingTopLevel: "dags"))
        }
        if type != .imageOnly {
            let dagsPath = root.appendingPathComponent("dags").path
            if type == .dagOnly, !FileManager.default.fileExists(atPath: dagsPath) {
                throw .usage("`\(dagsPath)` does not exist; a DAG-only deploy packages the project's `dags/` folder")
            }
            bundle.dags = part(FileManager.default.fileExists(atPath: dagsPath) ? try walker.files(under: "dags", skippingTopLevel: nil) : [])
        }
        bundle.git = await gitMetadata(root)
        return bundle
    }

    private static func part(_ entries: [TarArchive.Entry]) -> Part {
        let sorted = entries.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        let archive = TarArchive(entries: sorted)
        return Part(bytes: archive.bytes(), manifest: archive.manifest)
    }

    /// Reads the checkout's commit, branch, author and remote; any failure means "no git facts".
    static func gitMetadata(_ root: URL) async -> GitMetadata? {
        guard let git = ProcessRunner.which("git") else { return nil }
        func value(_ arguments: [String]) async -> String? {
            guard let output = try? await ProcessRunner.run(git, arguments, environment: ["GIT_TERMINAL_PROMPT": "0"],
                                                            workingDirectory: root.path, timeout: 15),
                  output.succeeded else { return nil }
            let text = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : text
        }
        guard let commit = await value(["rev-parse", "--verify", "HEAD"]) else { return nil }
        let branch = await value(["rev-parse", "--abbrev-ref", "HEAD"])
        return GitMetadata(commit: commit, branch: branch == "HEAD" ? nil : branch,  // "HEAD" = detached
                           author: await value(["log", "-1", "--format=%an"]),
                           remote: await value(["config", "--get", "remote.origin.url"]).map(withoutCredentials))
    }

    /// Drops `user:token@` from an `http(s)://` remote so a token in the clone URL never reaches the
    /// server; `ssh://git@host` and `git@host:path` keep their user, which is not a secret.
    static func withoutCredentials(_ remote: String) -> String {
        let lowered = remote.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://"), let scheme = remote.range(of: "://") else { return remote }
        let rest = remote[scheme.upperBound...]
        let authority = rest.prefix { $0 != "/" }
        guard let at = authority.lastIndex(of: "@") else { return remote }
        return String(remote[..<scheme.upperBound]) + String(rest[rest.index(after: at)...])
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Walks the project, following symlinks that stay inside it.
    private struct Walker {
        let root: String
        let realRoot: String

        /// Files under `relative` (project-relative, "" for the root), as tar entries named from the project root.
        func files(under relative: String, skippingTopLevel skipped: String?) throws(AirlockError) -> [TarArchive.Entry] {
            var entries: [TarArchive.Entry] = []
            let start = relative.isEmpty ? root : root + "/" + relative
            try walk(directory: start, relative: relative, realAncestors: [ProjectBundle.realPath(start) ?? start], skipped: skipped, into: &entries)
            return entries
        }

        private func walk(directory: String, relative: String, realAncestors: Set<String>, skipped: String?,
                          into entries: inout [TarArchive.Entry]) throws(AirlockError) {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory)
            } catch {
                throw .usage("Cannot read the folder `\(directory)`: \(error.localizedDescription)")
            }
            for name in names.sorted() {
                if ProjectBundle.excludedNames.contains(name) || name.hasSuffix(".pyc") { continue }
                if relative.isEmpty, name == skipped || ProjectBundle.isExcludedAtRoot(name) { continue }
                let path = directory + "/" + name
                let entryPath = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                guard lstat(path, &info) == 0 else { throw .usage("Cannot read `\(path)`") }
                var kind = info.st_mode & S_IFMT
                var target = path
                if kind == S_IFLNK {
                    guard let real = ProjectBundle.realPath(path), stat(real, &info) == 0 else {
                        throw .usage("The symlink `\(entryPath)` points at nothing", hint: "remove it or point it at a file inside the project")
                    }
                    guard real.hasPrefix(realRoot + "/") else {
                        throw .usage("The symlink `\(entryPath)` points outside the project (`\(real)`); deploys contain only the project's own files",
                                     hint: "copy the file into the project instead of linking to it")
                    }
                    kind = info.st_mode & S_IFMT
                    target = real
                }
                switch kind {
                case S_IFDIR:
                    let real = ProjectBundle.realPath(target) ?? target
                    guard !realAncestors.contains(real) else {
                        throw .usage("The symlink `\(entryPath)` makes a loop (it points at one of its own parent folders)")
                    }
                    try walk(directory: target, relative: entryPath, realAncestors: realAncestors.union([real]), skipped: nil, into: &entries)
                case S_IFREG:
                    guard let data = FileManager.default.contents(atPath: target) else { throw .usage("Cannot read `\(path)`") }
                    let executable = info.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH) != 0
                    entries.append(TarArchive.Entry(path: entryPath, kind: .file, contents: Array(data), mode: executable ? 0o755 : 0o644))
                default:
                    throw .usage("`\(entryPath)` is a device, socket or pipe; deploys can contain regular files only")
                }
            }
        }
    }
}
