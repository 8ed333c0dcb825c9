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
public enum ProjectReader {
    public static func read(_ root: URL) throws(AirlockError) -> AirflowProject {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .usage("Project folder `\(root.path)` does not exist")
        }
        var dockerfile: DockerfileBase?
        let dockerfileURL = root.appendingPathComponent("Dockerfile")
        if FileManager.default.fileExists(atPath: dockerfileURL.path) {
            guard let data = FileManager.default.contents(atPath: dockerfileURL.path) else {
                throw .usage("Cannot read `Dockerfile`")
            }
            dockerfile = try DockerfileBase.parse(String(decoding: data, as: UTF8.self), file: "Dockerfile")
        }

        var requirements: RequirementsFile?
        if FileManager.default.fileExists(atPath: root.appendingPathComponent("requirements.txt").path) {
            let rootPath = root.path
            let parser = RequirementsFileParser(readFile: { path in
                let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: rootPath).appendingPathComponent(path)
                guard let data = FileManager.default.contents(atPath: url.path) else {
                    throw AirlockError.usage("Cannot read `\(path)`")
                }
                return String(decoding: data, as: UTF8.self)
            })
            do {
                requirements = try parser.parse(path: "requirements.txt")
            } catch {
                throw .usage(error.description)
            }
        }

        var osPackages: [String] = []
        if let data = FileManager.default.contents(atPath: root.appendingPathComponent("packages.txt").path) {
            osPackages = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }

        func text(_ path: String) -> String? {
            FileManager.default.contents(atPath: root.appendingPathComponent(path).path).map { String(decoding: $0, as: UTF8.self) }
        }
        return AirflowProject(
            root: root, dockerfile: dockerfile, baseImage: dockerfile.map { BaseImage($0.image) },
            requirements: requirements, osPackages: osPackages,
            isAstroProject: FileManager.default.fileExists(atPath: root.appendingPathComponent(".astro/config.yaml").path),
            environmentVariables: text(".env").map(DotEnv.parse) ?? [:],
            integrityExceptions: text(".astro/dag_integrity_exceptions.txt").map(DagIntegrityExceptions.parse) ?? [])
    }
}
