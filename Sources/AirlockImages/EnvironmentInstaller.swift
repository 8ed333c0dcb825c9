import AirlockCore
import AirlockToolchain
import Foundation

/// Installs a resolved lock for the image's platform and Python, not this machine's: uv picks the
/// wheels for `platform`/`pythonVersion` and writes a plain `--target` tree, which
/// `LayerStore.folderLayer` packs as the environment layer (on the image's `PYTHONPATH`).
public enum EnvironmentInstaller {
    public static let defaultPlatform = "x86_64-manylinux_2_28"

    /// The key the environment layer is cached under: the same lock, Python, platform and uv give
    /// the same layer.
    public static func layerKey(lock: URL, pythonVersion: String, platform: String = defaultPlatform, uv: UVTool) throws(AirlockError) -> String {
        guard let data = FileManager.default.contents(atPath: lock.path) else { throw .usage("Cannot read the lock `\(lock.path)`") }
        return "lock sha256:\(SHA256.hex(bytes: Array(data))) python \(pythonVersion) \(platform) \(uv.version)"
    }

    /// `uv pip install --target <target> --python-platform <platform> --python-version <X.Y> -r <lock>`.
    /// `target` is replaced. With `offline`, only uv's cache is used (a lock installed once before
    /// installs again with no network). Console scripts in `bin/` are made to run `imageInterpreter`.
    /// - Throws: `.environment` with uv's message when the install fails (e.g. no wheel for the platform).
    public static func install(lock: URL, into target: URL, pythonVersion: String, platform: String = defaultPlatform,
                               uv: UVTool, offline: Bool = false, imageInterpreter: String = "/usr/bin/env python3",
                               timeout: Double = 1800) async throws(AirlockError) {
        try? FileManager.default.removeItem(at: target)
        var arguments = ["pip", "install", "--quiet", "--no-progress", "--target", target.path, "--python-platform", platform,
                         "--python-version", pythonVersion, "--link-mode", "copy", "-r", lock.path]
        if offline { arguments.append("--offline") }
        let output = try await ProcessRunner.run(uv.executable, arguments, environment: ["UV_NO_PROGRESS": "1"], timeout: timeout)
        if output.timedOut { throw output.timeoutError("uv pip install", doing: "installing the image's environment") }
        guard output.succeeded else {
            throw .environment("Installing `\(lock.path)` for \(platform), Python \(pythonVersion) failed:\n\(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))",
                               hint: offline ? "the lock's wheels are not all in uv's cache; run once without offline" : nil)
        }
        try retargetScripts(in: target.appendingPathComponent("bin"), interpreter: imageInterpreter)
    }

    /// uv writes console scripts (`bin/airflow`) with this machine's interpreter in the shebang;
    /// in the image they must run the image's Python.
    static func retargetScripts(in bin: URL, interpreter: String) throws(AirlockError) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: bin.path) else { return }
        for name in names.sorted() {
            let file = bin.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: file.path), data.starts(with: Array("#!/".utf8)),
                  let newline = data.firstIndex(of: 0x0A) else { continue }
            let line = String(decoding: data[..<newline], as: UTF8.self)
            guard line.split(separator: "/").last?.hasPrefix("python") == true else { continue }
            var rewritten = Data("#!\(interpreter)".utf8)
            rewritten.append(data[newline...])
            do { try rewritten.write(to: file) } catch { throw .environment("Cannot rewrite `\(file.path)`: \(error.localizedDescription)") }
        }
    }
}
