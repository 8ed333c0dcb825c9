import AirlockCore
import AirlockToolchain
import Foundation

/// What a push did: the image by digest (what a deploy records) and what crossed the wire.
public struct PushedImage: Hashable, Sendable {
    /// `target` pinned to the manifest digest: `host:port/repo@sha256:…`.
    public var reference: RegistryReference
    /// `sha256:…` of the manifest bytes.
    public var manifestDigest: String
    /// Digests of the blobs uploaded (layers and config), in push order; empty when the registry had them all.
    public var uploadedBlobs: [String]
    /// Blobs linked from the base image's repository instead of uploaded.
    public var mountedBlobs: [String]
    /// Bytes of the uploaded blobs plus the manifest.
    public var bytesUploaded: Int64
}

/// Builds an image from a base image and Airlock's layers, and pushes it: blobs only when the
/// target repository lacks them, base layers mounted from the base's repository when both are on
/// one registry (copied otherwise), then the config and the manifest.
public struct ImagePublisher: Sendable {
    public var client: RegistryClient
    /// Where base layers copied between registries are downloaded.
    public var scratch: URL

    public init(client: RegistryClient = RegistryClient(), scratch: URL = FileManager.default.temporaryDirectory) {
        self.client = client
        self.scratch = scratch
    }

    /// Pushes `base` + `layers` (ordered by `LayerRole`) as `target` (its tag, if any, is set to the new manifest).
    /// - Throws: `.usage` for two layers of one role; `.environment` when a registry answers unexpectedly.
    public func push(base: RegistryReference, layers: [ImageLayer], to target: RegistryReference,
                     settings: ImageSettings = ImageSettings()) async throws(AirlockError) -> PushedImage {
        let ordered = try ImageComposition.ordered(layers)
        let (baseManifest, baseRaw) = try await client.manifest(base)
        let baseConfigData = try await client.blob(baseManifest.config.digest, in: base)
        let baseConfig: JSONValue
        do { baseConfig = try JSONDecoder().decode(JSONValue.self, from: baseConfigData) } catch {
            throw .environment("The config of the base image `\(base)` is not JSON: \(error)")
        }
        var uploaded: [String] = []
        var mounted: [String] = []
        var bytes: Int64 = 0

        for layer in baseManifest.layers {
            if try await client.hasBlob(layer.digest, in: target) { continue }
            if base.registry == target.registry, base.scheme == target.scheme,
               try await client.mountBlob(layer.digest, from: base, into: target) {
                mounted.append(layer.digest)
                continue
            }
            let file = scratch.appendingPathComponent("airlock-base-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: file) }
            try await client.downloadBlob(layer.digest, in: base, to: file)
            try await client.uploadBlob(layer.digest, file: file, into: target)
            uploaded.append(layer.digest)
            bytes += layer.size
        }
        for layer in ordered {
            if try await client.hasBlob(layer.blob.digest, in: target) { continue }
            try await client.uploadBlob(layer.blob.digest, file: layer.blob.file, into: target)
            uploaded.append(layer.blob.digest)
            bytes += layer.blob.size
        }

        let configData = ImageComposition.canonicalJSON(ImageComposition.config(base: baseConfig, layers: ordered, settings: settings))
        let configDescriptor = OCIDescriptor(mediaType: ImageMediaType.ociConfig, digest: BlobHasher.digest(configData), size: Int64(configData.count))
        if try await !client.hasBlob(configDescriptor.digest, in: target) {
            try await client.uploadBlob(configDescriptor.digest, data: configData, into: target)
            uploaded.append(configDescriptor.digest)
            bytes += configDescriptor.size
        }
        let manifest = ImageComposition.manifest(
            config: configDescriptor, baseLayers: baseManifest.layers, layers: ordered,
            annotations: ["org.opencontainers.image.base.name": base.description, "org.opencontainers.image.base.digest": baseRaw.digest])
        let manifestData = ImageComposition.canonicalJSON(manifest)
        let digest = try await client.putManifest(manifestData, mediaType: ImageMediaType.ociManifest, into: target,
                                                  reference: target.tag ?? BlobHasher.digest(manifestData))
        bytes += Int64(manifestData.count)
        return PushedImage(reference: target.pinned(to: digest), manifestDigest: digest, uploadedBlobs: uploaded,
                           mountedBlobs: mounted, bytesUploaded: bytes)
    }
}

/// The three layers of a project image, packed from a project folder and an installed environment.
public enum ProjectImageLayers {
    /// - Parameters:
    ///   - project: the project folder (packaged like a deploy: `ProjectBundle`'s exclusions apply; it needs its `Dockerfile`).
    ///   - environment: an installed environment folder (e.g. `EnvironmentInstaller.install`'s target), or nil for none.
    ///   - environmentKey: the key the environment layer is cached under in `store` (e.g. the lock's
    ///     hash + Python + platform); the same key never packs the folder again.
    public static func make(project: URL, environment: URL?, environmentKey: String?, store: LayerStore,
                            settings: ImageSettings = ImageSettings()) async throws(AirlockError) -> [ImageLayer] {
        var layers: [ImageLayer] = []
        if let environment {
            let blob = try store.folderLayer(environment, at: settings.environmentPath, key: environmentKey.map { "environment\u{0}\(settings.environmentPath)\u{0}\($0)" })
            layers.append(ImageLayer(role: .environment, blob: blob, comment: environmentKey ?? ""))
        }
        let bundle = try await ProjectBundle.make(projectRoot: project, type: .imageAndDag)
        if let image = bundle.image {
            let archive = try TarArchive.read(image.bytes)
            layers.append(ImageLayer(role: .project, blob: try store.entriesLayer(archive.entries, at: settings.projectPath), comment: "files " + image.digest))
        }
        if let dags = bundle.dags {
            let archive = try TarArchive.read(dags.bytes)
            layers.append(ImageLayer(role: .dags, blob: try store.entriesLayer(archive.entries, at: settings.projectPath), comment: "dags " + dags.digest))
        }
        return layers
    }
}
