import AirlockCore
import AirlockToolchain
import Foundation
import PythonPackaging

/// Builds the environment a project's Dockerfile asks for, to *run* it: the "image" of a deploy.
///
/// The same reading of the project and the same resolution as the upgrade test's current side, so
/// what `upgrade-test` checked is what a deploy runs. Unlike the upgrade test it never falls back to
/// a partial package set: a project whose requirements cannot be installed fails with uv's explanation.
public struct ProjectImageBuilder: Sendable {
    public var paths: AirlockPaths
    /// `--constraints-source` (folder or URL); nil means the official constraints location.
    public var constraintsSource: String?
    public var offline: Bool
    public var progress: ProgressHandler

    public init(paths: AirlockPaths, constraintsSource: String? = nil, offline: Bool = false, progress: @escaping ProgressHandler = { _ in }) {
        self.paths = paths
        self.constraintsSource = constraintsSource
        self.offline = offline
        self.progress = progress
    }

    /// A project's image: what it runs and where it is installed.
    public struct Image: Sendable {
        public var side: UpgradeSide
        public var pins: PinnedSet
        public var indexOptions: [String]
        public var environment: PythonEnvironment
    }

    /// What a running deployment needs beyond the project: on 3.x the FAB provider, without which
    /// `airflow db downgrade` below 3.0 fails (a later rollback runs it with this environment).
    public static func runtimeRequirements(for airflow: Version) -> [String] {
        (airflow.release.first ?? 0) >= 3 ? ["apache-airflow-providers-fab"] : []
    }

    /// Reads the project at `root`, resolves its Airflow version plus requirements, and builds (or reuses) the environment.
    /// The project is read as a closed world: an include (or any file) that leads outside `root` is refused.
    /// - Parameter extraRequirements: what the running deployment needs for its Airflow version beyond
    ///   the project and `runtimeRequirements` (e.g. the metadata database's driver).
    public func build(projectAt root: URL,
                      extraRequirements: @Sendable (Version) -> [String] = { _ in [] }) async throws(AirlockError) -> Image {
        let project = try ProjectReader.read(root, includes: .confinedToProject)
        var usesRuntimes = false
        if case .astroRuntime? = project.baseImage { usesRuntimes = true }
        let loaded = await CatalogLoader(paths: paths, offline: offline).load(runtimes: usesRuntimes)
        let baseLocation = project.dockerfile.map { "Dockerfile:\($0.line)" } ?? "Dockerfile"
        let side = try UpgradeSideResolver.current(base: project.baseImage, baseLocation: baseLocation, airflowOverride: nil,
                                                   python: nil, catalog: loaded.catalog)
        let uv = try await UVTool.locate(paths: paths, progress: { [progress] in progress(.note($0)) })
        var resolver = SideResolver(resolver: UVResolver(uv: uv, paths: paths, offline: offline),
                                    constraintsSource: ConstraintsSource(base: constraintsSource, paths: paths, offline: offline),
                                    catalog: loaded.catalog, project: project, progress: progress)
        resolver.extraRequirementLines = Self.runtimeRequirements(for: side.airflowVersion) + extraRequirements(side.airflowVersion)
        let resolved = try await resolver.resolve(side)
        guard case .resolved = resolved.fullResult else {
            var explanation = ""
            if case .unsatisfiable(let text) = resolved.fullResult { explanation = text }
            throw .usage("The project's requirements cannot be installed with Airflow \(side.airflowVersion) (Python \(side.python)):\n\(explanation)",
                         hint: "`airlock upgrade-test --conflict-test` lists the conflicting lines")
        }
        let indexOptions = project.requirements?.options.compactMap(SideResolver.optionLine) ?? []
        let environment = try await environment(pins: resolved.pins, python: side.python, indexOptions: indexOptions)
        return Image(side: side, pins: resolved.pins, indexOptions: indexOptions, environment: environment)
    }

    /// The environment of an already resolved lock (a rollback, a restart): nothing is resolved again.
    public func environment(pins: PinnedSet, python: String, indexOptions: [String]) async throws(AirlockError) -> PythonEnvironment {
        let uv = try await UVTool.locate(paths: paths, progress: { [progress] in progress(.note($0)) })
        let builder = EnvironmentBuilder(uv: uv, paths: paths)
        let (environment, _) = try await builder.environment(pins: pins, python: python, indexOptions: indexOptions,
                                                             progress: { [progress] in progress(.note($0)) })
        builder.touch(environment)
        return environment
    }
}
