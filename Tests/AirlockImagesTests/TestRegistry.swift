import AirlockCore
import AirlockImages
import AirlockTestSupport
import AirlockToolchain
import Foundation

/// A private Debian `docker-registry` (distribution 2.8) on a free loopback port with its storage in
/// a scratch folder; killed on `stop()`. scripts/test installs the package; a missing one fails the test.
final class TestRegistry: @unchecked Sendable {
    let host: String
    let storage: URL
    private let process: Process

    init() throws {
        guard let binary = ProcessRunner.which("docker-registry") else {
            throw AirlockError.environment("docker-registry is not installed (apt-get install docker-registry; scripts/test does)")
        }
        storage = try TestSupport.scratchFolder("airlock-registry")
        let port = try LoopbackPort.free()
        let config = """
        version: 0.1
        log:
          level: error
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: \(storage.path)/data
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:\(port)
        """
        try Data(config.utf8).write(to: storage.appendingPathComponent("config.yml"))
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", storage.appendingPathComponent("config.yml").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        host = "127.0.0.1:\(port)"
        for _ in 0..<400 {
            if LoopbackPort.accepts(port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw AirlockError.environment("docker-registry did not start listening on \(host)")
    }

    func reference(_ repositoryAndTag: String) throws -> RegistryReference {
        try RegistryReference.parse(host + "/" + repositoryAndTag)
    }

    func stop() {
        let pid = process.processIdentifier
        if pid > 0, process.isRunning { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(at: storage)
    }

    deinit { stop() }

    /// Pushes a tiny base image (one layer with one file, a Docker-style config with PATH and a Cmd) as `reference`.
    static func pushTinyBase(_ reference: RegistryReference, store: LayerStore) async throws {
        let folder = try TestSupport.scratchFolder("airlock-base-root")
        defer { try? FileManager.default.removeItem(at: folder) }
        try TestSupport.writeTree(["etc/os-release": "ID=tiny\n"], under: folder)
        let layer = try store.folderLayer(folder, at: "/")
        let client = RegistryClient()
        try await client.uploadBlob(layer.digest, file: layer.file, into: reference)
        let config = """
        {"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/bin:/bin","LANG=C.UTF-8"],"Cmd":["python3"]},\
        "rootfs":{"type":"layers","diff_ids":["\(layer.diffID)"]},"history":[{"created_by":"tiny base"}]}
        """
        let configData = Data(config.utf8)
        let configDigest = "sha256:" + SHA256.hex(bytes: Array(configData))
        try await client.uploadBlob(configDigest, data: configData, into: reference)
        let manifest = OCIManifest(config: OCIDescriptor(mediaType: ImageMediaType.ociConfig, digest: configDigest, size: Int64(configData.count)),
                                   layers: [OCIDescriptor(mediaType: ImageMediaType.dockerLayerGzip, digest: layer.digest, size: layer.size)])
        _ = try await client.putManifest(ImageComposition.canonicalJSON(manifest), mediaType: ImageMediaType.ociManifest,
                                         into: reference, reference: reference.tag ?? "latest")
    }
}
