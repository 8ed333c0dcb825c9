// The driver of benchmarks/images: AirlockImages' build and push, called the way a deploy target
// will call it. Not shipped (no product); built by the benchmark script.
//   images-benchmark install --lock FILE --into DIR --python X.Y [--offline]
//   images-benchmark push --base REF --target REF --project DIR --store DIR [--environment DIR --environment-key KEY]
// `push` prints one JSON line: manifest digest, uploaded blobs and bytes.
import AirlockCore
import AirlockImages
import AirlockToolchain
import Foundation

func value(_ flag: String, _ arguments: [String]) -> String? {
    arguments.firstIndex(of: flag).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "install":
        guard let lock = value("--lock", arguments), let into = value("--into", arguments) else { throw AirlockError.usage("install needs --lock and --into") }
        let uv = try await UVTool.locate(paths: AirlockPaths.fromEnvironment())
        try await EnvironmentInstaller.install(lock: URL(fileURLWithPath: lock), into: URL(fileURLWithPath: into),
                                               pythonVersion: value("--python", arguments) ?? "3.11", uv: uv,
                                               offline: arguments.contains("--offline"))
    case "push":
        guard let base = value("--base", arguments), let target = value("--target", arguments),
              let project = value("--project", arguments), let store = value("--store", arguments) else {
            throw AirlockError.usage("push needs --base, --target, --project and --store")
        }
        let layers = try await ProjectImageLayers.make(project: URL(fileURLWithPath: project),
                                                       environment: value("--environment", arguments).map { URL(fileURLWithPath: $0) },
                                                       environmentKey: value("--environment-key", arguments),
                                                       store: LayerStore(directory: URL(fileURLWithPath: store)))
        let pushed = try await ImagePublisher().push(base: try RegistryReference.parse(base), layers: layers,
                                                     to: try RegistryReference.parse(target))
        print("{\"reference\":\"\(pushed.reference)\",\"uploaded_blobs\":\(pushed.uploadedBlobs.count),\"mounted_blobs\":\(pushed.mountedBlobs.count),\"bytes_uploaded\":\(pushed.bytesUploaded)}")
    default:
        throw AirlockError.usage("usage: images-benchmark install|push …")
    }
} catch let error as AirlockError {
    FileHandle.standardError.write(Data((error.description + "\n").utf8))
    exit(error.exitCode)
}
