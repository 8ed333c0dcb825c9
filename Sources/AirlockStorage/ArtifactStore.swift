import AirlockCore
import Foundation

/// Deploy artifacts (the project image's non-DAG files and DAG bundles), stored once per content
/// digest and unpacked, so a rollback reuses them without rebuilding and identical uploads cost nothing.
public struct ArtifactStore: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case image, dags }

    public var root: URL

    public init(root: URL) {
        self.root = root
    }

    /// The unpacked files of an artifact.
    public func folder(_ kind: Kind, digest: String) -> URL {
        root.appendingPathComponent(kind.rawValue).appendingPathComponent(digest)
    }

    public func contains(_ kind: Kind, digest: String) -> Bool {
        FileManager.default.fileExists(atPath: folder(kind, digest: digest).appendingPathComponent(".airlock-manifest.json").path)
    }

    /// Checks and stores an uploaded tar; returns its digest. Already-stored content is not written again.
    /// - Throws: `AirlockError.usage` for unsafe or malformed bundles (nothing is written then: the archive
    ///   is checked whole first, and the unpacking itself never follows a link — `ConfinedFolder`).
    public func store(_ kind: Kind, tar bytes: [UInt8], limits: TarArchive.Limits) throws(AirlockError) -> (digest: String, manifest: BundleManifest, stored: Bool) {
        let archive = try TarArchive.read(bytes, limits: limits)
        let manifest = archive.manifest
        let digest = manifest.digest
        if contains(kind, digest: digest) { return (digest, manifest, false) }
        let staging = root.appendingPathComponent(".staging-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: staging) }
        do {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
            let unpacked = ConfinedFolder(root: staging)
            for entry in archive.entries {
                switch entry.kind {
                case .directory: try unpacked.createDirectory(entry.path)
                case .file: try unpacked.writeFile(entry.path, contents: entry.contents, executable: entry.mode & 0o111 != 0)
                case .symlink: try unpacked.createSymlink(entry.path, target: entry.linkTarget ?? "")
                }
            }
            try JSONEncoder().encode(manifest).write(to: staging.appendingPathComponent(".airlock-manifest.json"))
            let destination = folder(kind, digest: digest)
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            if rename(staging.path, destination.path) != 0, !contains(kind, digest: digest) {
                throw AirlockError.environment("Cannot move the artifact into `\(destination.path)`")
            }
        } catch let error as AirlockError {
            throw error
        } catch {
            throw .environment("Cannot store the \(kind.rawValue) artifact: \(error.localizedDescription)")
        }
        return (digest, manifest, true)
    }

    public func manifest(_ kind: Kind, digest: String) -> BundleManifest? {
        FileManager.default.contents(atPath: folder(kind, digest: digest).appendingPathComponent(".airlock-manifest.json").path)
            .flatMap { try? JSONDecoder().decode(BundleManifest.self, from: $0) }
    }

    /// Deletes an artifact (retention prune); the caller makes sure no kept deploy still uses it.
    public func remove(_ kind: Kind, digest: String) {
        try? FileManager.default.removeItem(at: folder(kind, digest: digest))
    }
}
