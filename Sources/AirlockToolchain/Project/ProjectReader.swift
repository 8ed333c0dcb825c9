import AirlockCore
import Foundation
import PythonPackaging

/// An Airflow project as read from disk (SPEC §1). Reading never writes anything.
public struct AirflowProject: Sendable {
    public var root: URL
    public var dockerfile: DockerfileBase?
    public var baseImage: BaseImage?
    /// `requirements.txt` with its includes; nil when the project has none.
    public var requirements: RequirementsFile?
    /// Requirements files included from outside the project folder (after symlinks), as the includes
    /// resolved them: allowed on the CLI, named in the report so a reader knows the result depends on them.
    public var outsideIncludes: [String]
    /// `packages.txt` entries (recorded, not installed).
    public var osPackages: [String]
    /// Whether `.astro/config.yaml` marks this as an Astro CLI project.
    public var isAstroProject: Bool
    /// The project's `.env`, made visible to DAG parsing.
    public var environmentVariables: [String: String]
    /// DAG files listed in `.astro/dag_integrity_exceptions.txt` (project-relative).
    public var integrityExceptions: Set<String>

    /// Requirement lines (not constraints) of the project.
    public var requirementEntries: [RequirementsEntry] {
        requirements?.entries.filter { $0.kind == .requirement } ?? []
    }

    public var constraintEntries: [RequirementsEntry] {
        requirements?.entries.filter { $0.kind == .constraint } ?? []
    }
}

/// Reads Airflow projects in the Astro CLI layout, or any folder with `dags/` and `requirements.txt`.
///
/// Every text file goes through `UserTextFile` (no FIFO hangs, a size bound, BOM and CRLF handled).
public enum ProjectReader {
    /// Where the `-r` / `-c` / `--constraint` includes of the project's requirements may lead.
    public enum Includes: Sendable {
        /// Anywhere the user can read (the CLI: teams include shared constraint files). Files outside the
        /// project are listed in `AirflowProject.outsideIncludes` so the report can name them.
        case anywhere
        /// Only inside the project folder, after every symlink is followed (the server: a deploy must never
        /// read the host's files). Every file the project reads is held to this, not only includes, and
        /// a refusal names the including file and line but never anything read from outside.
        case confinedToProject
    }

    public static func read(_ root: URL, includes: Includes = .anywhere) throws(AirlockError) -> AirflowProject {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            if root.path.unicodeScalars.contains("\u{FFFD}") {
                throw .usage("The project folder path `\(root.path)` is not valid UTF-8 (shown with U+FFFD in its place); Airlock reads projects at UTF-8 paths",
                             hint: "rename the folder, or pass a symlink with a UTF-8 name that points to it")
            }
            if FileManager.default.fileExists(atPath: root.path) {
                throw .usage("Project folder `\(root.path)` is not a folder")
            }
            throw .usage("Project folder `\(root.path)` does not exist")
        }
        let rootPath = root.path
        let confined = includes == .confinedToProject
        /// Reads a project file (`path` relative to the root, or absolute); nil when it does not exist.
        @Sendable func text(_ path: String) throws(AirlockError) -> String? {
            let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: rootPath).appendingPathComponent(path)
            if confined {
                let lexicallyOutside = path.hasPrefix("/") || path == ".." || path.hasPrefix("../")
                switch ResolvedPath.isInside(url.path, root: rootPath) {
                case false?:
                    throw .usage("`\(DisplayText.escaped(path))` is outside the project; a deployed project reads only its own files")
                case nil where lexicallyOutside:
                    throw .usage("`\(DisplayText.escaped(path))` is outside the project; a deployed project reads only its own files")
                default:
                    break
                }
            }
            return try UserTextFile.read(url, displayName: path)
        }

        var dockerfile: DockerfileBase?
        if let source = try text("Dockerfile") {
            dockerfile = try DockerfileBase.parse(source, file: "Dockerfile")
        }

        var requirements: RequirementsFile?
        var outsideIncludes: [String] = []
        if FileManager.default.fileExists(atPath: root.appendingPathComponent("requirements.txt").path) {
            let parser = RequirementsFileParser(readFile: { path in
                if confined, ["http:", "https:", "file:"].contains(where: path.lowercased().hasPrefix) {
                    throw AirlockError.usage("`\(DisplayText.escaped(path))` is a URL; a deployed project reads only its own files")
                }
                guard let content = try text(path) else { throw AirlockError.usage("`\(DisplayText.escaped(path))` does not exist") }
                return content
            })
            do {
                requirements = try parser.parse(path: "requirements.txt")
            } catch {
                throw .usage(error.description)
            }
            outsideIncludes = requirements?.files.dropFirst().filter { file in
                let url = file.hasPrefix("/") ? URL(fileURLWithPath: file) : root.appendingPathComponent(file)
                return ResolvedPath.isInside(url.path, root: rootPath) == false
            } ?? []
        }

        let osPackages = try text("packages.txt").map {
            $0.split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        } ?? []

        return AirflowProject(
            root: root, dockerfile: dockerfile, baseImage: dockerfile.map { BaseImage($0.image) },
            requirements: requirements, outsideIncludes: outsideIncludes, osPackages: osPackages,
            isAstroProject: FileManager.default.fileExists(atPath: root.appendingPathComponent(".astro/config.yaml").path),
            environmentVariables: try text(".env").map(DotEnv.parse) ?? [:],
            integrityExceptions: try text(".astro/dag_integrity_exceptions.txt").map(DagIntegrityExceptions.parse) ?? [])
    }
}
