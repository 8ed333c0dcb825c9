import AirlockCore
import AirlockToolchain
import Foundation

/// Media types Airlock reads and writes (OCI image spec v1.1; Docker's schema 2 read only, for base images).
public enum ImageMediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerTar = "application/vnd.oci.image.layer.v1.tar"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"

    /// What a pull asks for: single-image manifests of both families, and indexes to pick a platform from.
    public static let acceptedManifests = [ociManifest, dockerManifest, ociIndex, dockerManifestList]

    /// The OCI type for a base image's layer (the same bytes; Docker's names are mapped so the
    /// written manifest is pure OCI).
    public static func ociLayerType(_ type: String) -> String {
        switch type {
        case dockerLayerGzip: ociLayerGzip
        case dockerLayerTar: ociLayerTar
        default: type
        }
    }
}

public struct OCIPlatform: Codable, Hashable, Sendable {
    public var architecture: String
    public var os: String
    public var variant: String?
}

/// A content descriptor: what a manifest says about one blob.
public struct OCIDescriptor: Codable, Hashable, Sendable {
    public var mediaType: String
    public var digest: String
    public var size: Int64
    public var annotations: [String: String]?
    public var platform: OCIPlatform?

    public init(mediaType: String, digest: String, size: Int64, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
    }
}

/// An image manifest (OCI, or Docker schema 2 when read from a base image: the fields are the same).
public struct OCIManifest: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: OCIDescriptor
    public var layers: [OCIDescriptor]
    public var annotations: [String: String]?

    public init(config: OCIDescriptor, layers: [OCIDescriptor], annotations: [String: String]? = nil) {
        schemaVersion = 2
        mediaType = ImageMediaType.ociManifest
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }
}

/// An image index / Docker manifest list (base images may be multi-platform).
public struct OCIIndex: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [OCIDescriptor]
}

/// The layers Airlock adds on top of a base image, in the order they change least to most often,
/// so a DAG-only change rebuilds and pushes only the last one.
public enum LayerRole: Int, Comparable, Hashable, Sendable, Codable, CaseIterable {
    /// The installed lock (site-packages): changes only when the lock does.
    case environment
    /// The project's non-DAG files (plugins, include/, requirements, …).
    case project
    /// `dags/…`.
    case dags

    public static func < (lhs: LayerRole, rhs: LayerRole) -> Bool { lhs.rawValue < rhs.rawValue }

    public var name: String {
        switch self {
        case .environment: "environment"
        case .project: "project"
        case .dags: "dags"
        }
    }
}

/// One layer Airlock adds: what it holds and its blob.
public struct ImageLayer: Hashable, Sendable {
    public var role: LayerRole
    public var blob: LayerBlob
    /// Recorded in the config's history (`created_by`), e.g. the lock's hash.
    public var comment: String

    public init(role: LayerRole, blob: LayerBlob, comment: String = "") {
        self.role = role
        self.blob = blob
        self.comment = comment
    }
}

/// Where things live inside the image and what the config says about them.
public struct ImageSettings: Hashable, Sendable {
    /// The environment layer's folder (a `uv pip install --target` tree): on `PYTHONPATH`, its `bin` on `PATH`.
    public var environmentPath: String
    /// The project's folder (the DAGs are `<projectPath>/dags`); the working directory. The official
    /// Airflow image's `AIRFLOW_HOME` is `/opt/airflow`, and its chart expects DAGs there.
    public var projectPath: String
    /// Extra environment variables (override the base's and Airlock's).
    public var environment: [String: String]
    public var labels: [String: String]

    public init(environmentPath: String = "/opt/airlock/environment", projectPath: String = "/opt/airflow",
                environment: [String: String] = [:], labels: [String: String] = [:]) {
        self.environmentPath = environmentPath
        self.projectPath = projectPath
        self.environment = environment
        self.labels = labels
    }
}

/// The pure rules for an image built on a base: layer order, the derived config, the manifest.
public enum ImageComposition {
    /// The layers in role order; at most one per role.
    /// - Throws: `.usage` when two layers claim the same role.
    public static func ordered(_ layers: [ImageLayer]) throws(AirlockError) -> [ImageLayer] {
        let sorted = layers.sorted { $0.role < $1.role }
        for (first, second) in zip(sorted, sorted.dropFirst()) where first.role == second.role {
            throw .usage("Two `\(first.role.name)` layers were given for one image; an image has at most one of each")
        }
        return sorted
    }

    /// The image config: the base's, with Airlock's layers appended to `rootfs.diff_ids` and
    /// `history`, `PATH`/`PYTHONPATH` pointing at the environment, the project folder as working
    /// directory, no entrypoint (the chart's command runs as is) and a fixed creation time, so the
    /// same base and layers always give the same config digest.
    public static func config(base: JSONValue, layers: [ImageLayer], settings: ImageSettings) -> JSONValue {
        var root = base.objectValue ?? [:]
        var rootfs = root["rootfs"]?.objectValue ?? [:]
        let baseDiffIDs = rootfs["diff_ids"]?.arrayValue ?? []
        rootfs["type"] = .string("layers")
        rootfs["diff_ids"] = .array(baseDiffIDs + layers.map { .string($0.blob.diffID) })
        root["rootfs"] = .object(rootfs)

        var history = root["history"]?.arrayValue ?? []
        let baseNonEmpty = history.filter { $0.objectValue?["empty_layer"] != .bool(true) }.count
        if baseNonEmpty != baseDiffIDs.count {
            // A base without usable history: one entry per base layer keeps history and diff_ids aligned.
            history = baseDiffIDs.map { _ in .object(["created": .string(epoch), "created_by": .string("base image layer")]) }
        }
        for layer in layers {
            let createdBy = "airlock \(layer.role.name) layer" + (layer.comment.isEmpty ? "" : ": " + layer.comment)
            history.append(.object(["created": .string(epoch), "created_by": .string(createdBy)]))
        }
        root["history"] = .array(history)
        root["created"] = .string(epoch)
        root["architecture"] = root["architecture"] ?? .string("amd64")
        root["os"] = root["os"] ?? .string("linux")

        var config = root["config"]?.objectValue ?? [:]
        var environment: [(String, String)] = (config["Env"]?.arrayValue ?? []).compactMap { item in
            guard let text = item.text, let equals = text.firstIndex(of: "=") else { return nil }
            return (String(text[..<equals]), String(text[text.index(after: equals)...]))
        }
        func set(_ key: String, _ value: String) {
            if let index = environment.firstIndex(where: { $0.0 == key }) { environment[index].1 = value } else { environment.append((key, value)) }
        }
        let basePath = environment.first { $0.0 == "PATH" }?.1 ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        set("PATH", settings.environmentPath + "/bin:" + basePath)
        set("PYTHONPATH", settings.environmentPath)
        set("AIRFLOW_HOME", settings.projectPath)
        for key in settings.environment.keys.sorted() { set(key, settings.environment[key]!) }
        config["Env"] = .array(environment.map { .string($0.0 + "=" + $0.1) })
        config["WorkingDir"] = .string(settings.projectPath)
        config["Entrypoint"] = nil
        if !settings.labels.isEmpty {
            var labels = config["Labels"]?.objectValue ?? [:]
            for (key, value) in settings.labels { labels[key] = .string(value) }
            config["Labels"] = .object(labels)
        }
        root["config"] = .object(config)
        return .object(root)
    }

    /// The manifest of the derived image: the base's layers (as OCI types), then Airlock's.
    public static func manifest(config: OCIDescriptor, baseLayers: [OCIDescriptor], layers: [ImageLayer],
                                annotations: [String: String]? = nil) -> OCIManifest {
        let base = baseLayers.map { OCIDescriptor(mediaType: ImageMediaType.ociLayerType($0.mediaType), digest: $0.digest, size: $0.size, annotations: $0.annotations) }
        let own = layers.map { OCIDescriptor(mediaType: LayerBlob.mediaType, digest: $0.blob.digest, size: $0.blob.size) }
        return OCIManifest(config: config, layers: base + own, annotations: annotations)
    }

    /// Canonical bytes for a manifest or config: sorted keys, no escaped slashes. The digest is over these bytes.
    public static func canonicalJSON(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

    static let epoch = "1970-01-01T00:00:00Z"
}

extension JSONValue {
    var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }
}
