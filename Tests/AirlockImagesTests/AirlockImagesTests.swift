import AirlockCore
@testable import AirlockImages
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing

/// A project folder like an Astro project, and a fake installed environment (a module, a console
/// script, a symlink, a long path).
private func makeProject() throws -> (project: URL, environment: URL) {
    let root = try TestSupport.scratchFolder("airlock-images")
    let project = root.appendingPathComponent("project")
    try TestSupport.writeTree([
        "Dockerfile": "FROM quay.io/astronomer/astro-runtime:12.1.0\n",
        "requirements.txt": "pendulum==3.0.0\n",
        "include/helpers.py": "VALUE = 1\n",
        "plugins/__init__.py": "",
        "dags/hello.py": "from airflow import DAG\n",
        ".env": "SECRET=1\n",
    ], under: project)
    let environment = root.appendingPathComponent("environment")
    let long = String(repeating: "deep/", count: 30) + "module.py"
    try TestSupport.writeTree([
        "six.py": "# six\n",
        "pkg/__init__.py": "X = 1\n",
        "pkg/data.bin": String(repeating: "0123456789", count: 50_000),
        "bin/tool": "#!/usr/bin/env python3\nprint('tool')\n",
        long: "# long\n",
    ], under: environment)
    chmod(environment.appendingPathComponent("bin/tool").path, 0o755)
    try FileManager.default.createSymbolicLink(atPath: environment.appendingPathComponent("pkg/alias.py").path, withDestinationPath: "__init__.py")
    return (project, environment)
}

/// A new layer-store folder under `root` (removed with it).
private func storeFolder(in root: URL) -> URL {
    root.appendingPathComponent("store-\(UUID().uuidString)")
}

private func run(_ tool: String, _ arguments: [String]) async throws -> String {
    let output = try await ProcessRunner.run(ProcessRunner.which(tool) ?? tool, arguments, timeout: 300)
    guard output.succeeded else { throw AirlockError.environment("\(tool) \(arguments) failed: \(output.stderr)") }
    return output.stdout
}

@Suite struct ImageLayerTests {
    @Test func aFolderPacksToTheSameBytesEveryTime() async throws {
        let (_, environment) = try makeProject()
        defer { try? FileManager.default.removeItem(at: environment.deletingLastPathComponent()) }
        let first = try LayerStore(directory: storeFolder(in: environment.deletingLastPathComponent())).folderLayer(environment, at: "/opt/airlock/environment")
        // Other mtimes, another store: the same digest.
        let later = Date(timeIntervalSinceNow: 3600)
        try FileManager.default.setAttributes([.modificationDate: later], ofItemAtPath: environment.appendingPathComponent("six.py").path)
        let second = try LayerStore(directory: storeFolder(in: environment.deletingLastPathComponent())).folderLayer(environment, at: "/opt/airlock/environment")
        #expect(first.digest == second.digest)
        #expect(first.diffID == second.diffID)
        #expect(try Data(contentsOf: first.file) == Data(contentsOf: second.file))
        #expect(first.digest == "sha256:" + (try await run("sha256sum", [first.file.path])).prefix(64))
        #expect(first.diffID == "sha256:" + (try await run("sh", ["-c", "gzip -dc '\(first.file.path)' | sha256sum"])).prefix(64))

        // GNU tar reads it: owners 0/0, mtime 0, modes kept, the symlink as a link, the long path intact.
        let listing = try await run("tar", ["--numeric-owner", "--full-time", "-tvzf", first.file.path])
        #expect(listing.contains("opt/airlock/environment/bin/tool"))
        #expect(listing.contains("-rwxr-xr-x 0/0"))
        #expect(listing.contains("opt/airlock/environment/pkg/alias.py -> __init__.py"))
        #expect(listing.contains("opt/airlock/environment/" + String(repeating: "deep/", count: 30) + "module.py"))
        #expect(listing.split(separator: "\n").allSatisfy { $0.contains(" 0/0 ") && $0.contains("1970-01-01 00:00:00") })
        let paths = listing.split(separator: "\n").map { String($0.split(separator: " ", maxSplits: 5).last ?? "") }
        #expect(paths.first == "opt/")

        // A changed file: another digest.
        try Data("# six 2\n".utf8).write(to: environment.appendingPathComponent("six.py"))
        let third = try LayerStore(directory: storeFolder(in: environment.deletingLastPathComponent())).folderLayer(environment, at: "/opt/airlock/environment")
        #expect(third.digest != first.digest)
    }

    @Test func aKeyedLayerIsNotPackedAgain() throws {
        let (_, environment) = try makeProject()
        defer { try? FileManager.default.removeItem(at: environment.deletingLastPathComponent()) }
        let store = LayerStore(directory: storeFolder(in: environment.deletingLastPathComponent()))
        let first = try store.folderLayer(environment, at: "/opt/airlock/environment", key: "lock-1")
        try FileManager.default.removeItem(at: environment)  // the cached layer needs no folder
        let again = try store.folderLayer(environment, at: "/opt/airlock/environment", key: "lock-1")
        #expect(again == first)
    }

    @Test func paxRecordsCountTheirOwnLength() {
        #expect(String(decoding: LayerTarWriter.paxRecord("path", "a"), as: UTF8.self) == "9 path=a\n")
        let record = LayerTarWriter.paxRecord("path", String(repeating: "x", count: 95))
        #expect(record.count == Int(String(decoding: record.prefix { $0 != 0x20 }, as: UTF8.self)))
        #expect(LayerTarWriter.splitUstarName(String(repeating: "a/", count: 60) + "b")?.1 == "b")
        #expect(LayerTarWriter.splitUstarName(String(repeating: "a", count: 101)) == nil)
    }
}

@Suite struct ImageModelTests {
    @Test func referencesParse() throws {
        let base = try RegistryReference.parse("localhost:5000/airlock/python:3.11-bookworm")
        #expect(base.registry == "localhost:5000" && base.repository == "airlock/python" && base.tag == "3.11-bookworm" && base.scheme == "http")
        let digest = "sha256:" + String(repeating: "a", count: 64)
        let pinned = try RegistryReference.parse("registry.example.com/team/airflow@" + digest)
        #expect(pinned.scheme == "https" && pinned.digest == digest && pinned.tag == nil)
        #expect(pinned.description == "registry.example.com/team/airflow@" + digest)
        #expect(try RegistryReference.parse("https://127.0.0.1:5000/a/b:1").scheme == "https")
        #expect(throws: AirlockError.self) { try RegistryReference.parse("python:3.11") }
        #expect(throws: AirlockError.self) { try RegistryReference.parse("localhost:5000/Upper/case") }
        #expect(throws: AirlockError.self) { try RegistryReference.parse("localhost:5000/a@sha256:12") }
    }

    @Test func theConfigAppendsLayersAndPointsAtTheEnvironment() throws {
        let base = try JSONDecoder().decode(JSONValue.self, from: Data("""
        {"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin:/bin","LANG=C.UTF-8"],"Entrypoint":["/init"],"Cmd":["python3"]},
         "rootfs":{"type":"layers","diff_ids":["sha256:base"]},"history":[{"created_by":"base"},{"created_by":"env","empty_layer":true}]}
        """.utf8))
        let blob = { (id: String) in LayerBlob(digest: "sha256:c" + id, diffID: "sha256:d" + id, size: 1, file: URL(fileURLWithPath: "/dev/null")) }
        let layers = try ImageComposition.ordered([ImageLayer(role: .dags, blob: blob("3")), ImageLayer(role: .environment, blob: blob("1")),
                                                   ImageLayer(role: .project, blob: blob("2"))])
        #expect(layers.map(\.role) == [.environment, .project, .dags])
        #expect(throws: AirlockError.self) { try ImageComposition.ordered([ImageLayer(role: .dags, blob: blob("1")), ImageLayer(role: .dags, blob: blob("2"))]) }
        let config = ImageComposition.config(base: base, layers: layers, settings: ImageSettings())
        let json = String(decoding: ImageComposition.canonicalJSON(config), as: UTF8.self)
        #expect(json.contains(#""diff_ids":["sha256:base","sha256:d1","sha256:d2","sha256:d3"]"#))
        #expect(json.contains(#""PATH=/opt/airlock/environment/bin:/usr/bin:/bin""#))
        #expect(json.contains(#""PYTHONPATH=/opt/airlock/environment""#))
        #expect(json.contains(#""WorkingDir":"/opt/airflow""#))
        #expect(!json.contains("Entrypoint"))
        #expect(json.contains(#""created":"1970-01-01T00:00:00Z""#))
        // 2 base history entries (1 empty) + 3 of Airlock's.
        #expect(config.objectValue?["history"]?.arrayValue?.count == 5)
        #expect(ImageComposition.canonicalJSON(config) == ImageComposition.canonicalJSON(ImageComposition.config(base: base, layers: layers, settings: ImageSettings())))
    }
}

@Suite(.serialized) struct ImagePushTests {
    @Test(.timeLimit(.minutes(10))) func pushesOnlyWhatTheRegistryLacks() async throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let (project, environment) = try makeProject()
        defer { try? FileManager.default.removeItem(at: project.deletingLastPathComponent()) }
        let store = LayerStore(directory: storeFolder(in: project.deletingLastPathComponent()))
        let base = try registry.reference("airlock/python:3.11-bookworm")
        try await TestRegistry.pushTinyBase(base, store: store)
        let target = try registry.reference("airlock/projects/demo:deploy")
        let publisher = ImagePublisher()

        let layers = try await ProjectImageLayers.make(project: project, environment: environment, environmentKey: "lock-a", store: store)
        #expect(layers.map(\.role) == [.environment, .project, .dags])
        let first = try await publisher.push(base: base, layers: layers, to: target)
        // 3 layers + config uploaded; the base layer mounted from the base's repository.
        #expect(first.uploadedBlobs.count == 4)
        #expect(first.mountedBlobs.count == 1)
        #expect(first.reference.description == "\(registry.host)/airlock/projects/demo@\(first.manifestDigest)")

        // The same project again, packed anew: the same manifest, nothing uploaded.
        let again = try await ProjectImageLayers.make(project: project, environment: environment, environmentKey: "lock-a",
                                                      store: LayerStore(directory: storeFolder(in: project.deletingLastPathComponent())))
        #expect(again.map(\.blob.digest) == layers.map(\.blob.digest))
        let second = try await publisher.push(base: base, layers: again, to: target)
        #expect(second.manifestDigest == first.manifestDigest)
        #expect(second.uploadedBlobs.isEmpty && second.mountedBlobs.isEmpty)

        // A DAG-only change: exactly the DAG layer and the config are new.
        try Data("from airflow import DAG  # v2\n".utf8).write(to: project.appendingPathComponent("dags/hello.py"))
        let changed = try await ProjectImageLayers.make(project: project, environment: environment, environmentKey: "lock-a", store: store)
        #expect(changed[0].blob == layers[0].blob && changed[1].blob == layers[1].blob && changed[2].blob != layers[2].blob)
        let third = try await publisher.push(base: base, layers: changed, to: target)
        #expect(third.uploadedBlobs.count == 2)
        #expect(third.uploadedBlobs.first == changed[2].blob.digest)
        #expect(third.manifestDigest != first.manifestDigest)

        // Pulled back by digest: the manifest and every blob verify (RegistryClient.blob checks digests).
        let client = RegistryClient()
        let (manifest, raw) = try await client.manifest(first.reference)
        #expect(raw.digest == first.manifestDigest)
        let baseLayer = try await client.manifest(base).manifest.layers[0].digest
        #expect(manifest.layers.map { $0.digest } == [baseLayer] + layers.map { $0.blob.digest })
        #expect(manifest.layers.allSatisfy { $0.mediaType == ImageMediaType.ociLayerGzip })
        for layer in manifest.layers {
            let data = try await client.blob(layer.digest, in: first.reference)
            #expect(Int64(data.count) == layer.size)
        }
        let config = try JSONDecoder().decode(JSONValue.self, from: try await client.blob(manifest.config.digest, in: first.reference))
        #expect(config.objectValue?["rootfs"]?.objectValue?["diff_ids"]?.arrayValue?.count == 4)

        // Another tool accepts it: skopeo reads the image and copies it into an OCI layout, checking every blob.
        let inspect = try await run("skopeo", ["inspect", "--tls-verify=false", "docker://\(first.reference)"])
        #expect(inspect.contains(changed[0].blob.digest))
        let layout = try TestSupport.scratchFolder("airlock-oci-layout")
        defer { try? FileManager.default.removeItem(at: layout) }
        _ = try await run("skopeo", ["copy", "--src-tls-verify=false", "docker://\(third.reference)", "oci:\(layout.path):copy"])
    }

    @Test func aMisbehavingRegistryIsAnEnvironmentErrorWithTheURL() async throws {
        let port = try LoopbackPort.free()
        let target = try RegistryReference.parse("127.0.0.1:\(port)/a/b:c")
        do {
            _ = try await RegistryClient(timeout: 5).hasBlob("sha256:" + String(repeating: "0", count: 64), in: target)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .environment && error.exitCode == 3)
            #expect(error.message.contains("http://127.0.0.1:\(port)/v2/a/b/blobs/"))
        }
        // A real registry answering an unknown manifest: 404 named with its URL.
        let registry = try TestRegistry()
        defer { registry.stop() }
        do {
            _ = try await RegistryClient().manifest(try registry.reference("missing/image:1"))
            Issue.record("expected an error")
        } catch let error as AirlockError {
            #expect(error.kind == .environment)
            #expect(error.message.contains("HTTP 404") && error.message.contains("/v2/missing/image/manifests/1"))
        }
    }
}

@Suite struct EnvironmentInstallerTests {
    @Test(.timeLimit(.minutes(10))) func theSameLockInstallsToTheSameLayerAgainOffline() async throws {
        let uv = try await UVTool.locate(paths: TestSupport.sharedCache)
        let folder = try TestSupport.scratchFolder("airlock-image-env")
        defer { try? FileManager.default.removeItem(at: folder) }
        let lock = folder.appendingPathComponent("lock.txt")
        try Data("six==1.17.0\nwheel==0.45.1\n".utf8).write(to: lock)
        let first = folder.appendingPathComponent("first"), second = folder.appendingPathComponent("second")
        try await EnvironmentInstaller.install(lock: lock, into: first, pythonVersion: "3.11", uv: uv)
        // Again from uv's cache alone: the same tree, so the same layer digest.
        try await EnvironmentInstaller.install(lock: lock, into: second, pythonVersion: "3.11", uv: uv, offline: true)
        #expect(FileManager.default.fileExists(atPath: first.appendingPathComponent("six.py").path))
        let script = try String(contentsOf: first.appendingPathComponent("bin/wheel"), encoding: .utf8)
        #expect(script.hasPrefix("#!/usr/bin/env python3\n"))
        #expect(FileManager.default.isExecutableFile(atPath: first.appendingPathComponent("bin/wheel").path))
        let store = LayerStore(directory: folder.appendingPathComponent("store"))
        let a = try store.folderLayer(first, at: "/opt/airlock/environment")
        let b = try store.folderLayer(second, at: "/opt/airlock/environment")
        #expect(a.digest == b.digest)
        let key = try EnvironmentInstaller.layerKey(lock: lock, pythonVersion: "3.11", uv: uv)
        #expect(key.contains("python 3.11 x86_64-manylinux_2_28"))
    }
}
