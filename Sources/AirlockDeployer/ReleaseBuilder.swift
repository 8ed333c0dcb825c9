import AirlockCore
import AirlockStorage
import AirlockToolchain
import AirlockUpgradeTest
import Foundation
import PythonPackaging

/// Makes a deploy's release from its artifacts, for any target: its files in the workspace's release
/// folder and its Python environment, recorded in a `ReleaseRecord`. What a target runs the release
/// from (processes, an image) is built from these by the target itself.
struct ReleaseBuilder: Sendable {
    var artifacts: ArtifactStore
    var workspace: DeploymentWorkspace
    var paths: AirlockPaths

    /// Unpacks the deploy's files into its release folder and gets its environment: the lock of the
    /// reused release when there is one (nothing is resolved or rebuilt), else a fresh resolution.
    /// - Parameter extraRequirements: what the target needs in the environment beyond the project
    ///   (e.g. the metadata database's driver), by Airflow version.
    func prepare(_ request: ReleaseRequest, progress: @escaping @Sendable (String) async -> Void,
                 extraRequirements: @escaping @Sendable (Version) -> [String]) async throws(AirlockError)
        -> (record: ReleaseRecord, environment: PythonEnvironment) {
        await progress("Unpacking the release")
        let release = workspace.release(request.deployId)
        try? FileManager.default.removeItem(at: release)
        try copyArtifact(.image, request.imageDigest, into: release)
        if let dags = request.dagsDigest { try copyArtifact(.dags, dags, into: release) }
        try createDirectory(release.appendingPathComponent("dags"))

        let builder = ProjectImageBuilder(paths: paths, constraintsSource: request.constraintsSource, progress: { event in
            guard case .note(let text) = event else { return }
            Task { await progress(text) }
        })
        if let source = request.reuseReleaseOf, let reused: ReleaseRecord = DeploymentWorkspace.read(workspace.releaseRecord(source)) {
            await progress("Reusing the environment of the earlier release (\(reused.lockHash.prefix(12)))")
            let environment = try await builder.environment(pins: PinnedSet(freezeText: reused.lock), python: reused.python,
                                                            indexOptions: reused.indexOptions)
            var record = reused
            record.deployId = request.deployId
            try DeploymentWorkspace.write(record, to: workspace.releaseRecord(request.deployId))
            return (record, environment)
        }
        await progress("Resolving and building the environment")
        let image = try await builder.build(projectAt: release, extraRequirements: extraRequirements)
        await progress("Reading the schema head of Airflow \(image.side.airflowVersion)")
        guard let head = try await DagParseHarness(environment: image.environment).info().alembicHeads?.first else {
            throw .environment("Airflow \(image.side.airflowVersion) in `\(image.environment.root.path)` reports no database schema head")
        }
        let record = ReleaseRecord(deployId: request.deployId, runtimeVersion: image.side.runtime?.version.description,
                                   airflowVersion: image.side.airflowVersion.description, python: image.side.python,
                                   indexOptions: image.indexOptions, lock: image.pins.freezeText,
                                   lockHash: image.environment.lockHash, schemaHead: head)
        try DeploymentWorkspace.write(record, to: workspace.releaseRecord(request.deployId))
        return (record, image.environment)
    }

    /// A recorded release's environment, rebuilt from its lock if it was pruned (nothing is resolved).
    func environment(of record: ReleaseRecord) async throws(AirlockError) -> PythonEnvironment {
        try await ProjectImageBuilder(paths: paths).environment(
            pins: PinnedSet(freezeText: record.lock), python: record.python, indexOptions: record.indexOptions)
    }

    private func copyArtifact(_ kind: ArtifactStore.Kind, _ digest: String, into release: URL) throws(AirlockError) {
        guard artifacts.contains(kind, digest: digest) else {
            throw .usage("The \(kind.rawValue) artifact `\(digest)` is no longer stored (artifacts expired)")
        }
        let source = artifacts.folder(kind, digest: digest)
        let manager = FileManager.default
        guard let walker = manager.enumerator(atPath: source.path) else {
            throw .environment("Cannot read `\(source.path)`")
        }
        try createDirectory(release)
        // Written through `ConfinedFolder`: a link from one artifact can never lead another's files
        // (or a later deploy's) out of the release folder.
        let destination = ConfinedFolder(root: release)
        do {
            for case let relative as String in walker where relative != ".airlock-manifest.json" {
                let file = source.appendingPathComponent(relative)
                let attributes = try manager.attributesOfItem(atPath: file.path)
                switch attributes[.type] as? FileAttributeType {
                case .typeDirectory?:
                    try destination.createDirectory(relative)
                case .typeSymbolicLink?:
                    try destination.createSymlink(relative, target: try manager.destinationOfSymbolicLink(atPath: file.path), replacing: true)
                case .typeRegular?:
                    let executable = ((attributes[.posixPermissions] as? Int) ?? 0) & 0o111 != 0
                    try destination.writeFile(relative, contents: Array(try Data(contentsOf: file)), executable: executable, replacing: true)
                default:
                    continue
                }
            }
        } catch let error as AirlockError {
            throw error
        } catch {
            throw .environment("Cannot unpack the \(kind.rawValue) artifact into `\(release.path)`: \(error.localizedDescription)")
        }
    }

    private func createDirectory(_ folder: URL) throws(AirlockError) {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw .environment("Cannot create `\(folder.path)`: \(error.localizedDescription)")
        }
    }
}
