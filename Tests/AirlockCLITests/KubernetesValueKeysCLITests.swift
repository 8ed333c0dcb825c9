import AirlockTestSupport
import Foundation
import Testing

/// Value-key mapping through a real server (no cluster): `airlock deployment create --value-key ROLE=PATH`
/// and the API's `kubernetes.valueKeys` are stored and shown; an unknown role, a bad path, overlapping
/// keys and a mapping without `--target kubernetes` are refused naming what is wrong.
@Suite struct KubernetesValueKeysCLITests {
    static let options = ["--target", "kubernetes", "--kubeconfig", "/k", "--namespace", "airflow", "--release", "prod", "--chart", "/c",
                          "--registry", "localhost:5000/a/prod", "--metadata-db", "postgresql://u@h/d"]

    @Test(.timeLimit(.minutes(5))) func valueKeysAreStoredShownAndChecked() async throws {
        // A Helm that never answers: nothing here may wait for Helm. Before a first deploy, `deployment show`
        // asked Helm for the release's revision, which bootstraps Helm when none is located (74 s in a loaded
        // CI run) — past the CLI's 30 s, so `show` printed nothing.
        let (session, folder) = try await Self.serverWithHangingHelm()
        defer { session.server.stop(); try? FileManager.default.removeItem(at: folder) }
        let created = try await session.airlock(["deployment", "create", "k"] + Self.options
            + ["--value-key", "imageRepository=airflowImage.repo", "--value-key", "imageDigest=airflowImage.digest", "--value-key", "airflowVersion="])
        #expect(created.status == 0, "\(created.stderr)")
        let deployment = try await session.server.json("/api/v1/deployments/k")
        let kubernetes = (deployment["settings"] as? [String: Any])?["kubernetes"] as? [String: Any]
        #expect(kubernetes?["valueKeys"] as? [String: String]
            == ["imageRepository": "airflowImage.repo", "imageDigest": "airflowImage.digest", "airflowVersion": ""], "\(deployment)")
        let asked = Date()
        let shown = try await session.airlock(["deployment", "show", "k"])
        #expect(shown.status == 0 && Date().timeIntervalSince(asked) < 20, "\(shown.stderr)")
        #expect(shown.stdout.contains("Value keys      airflowVersion=(not set), imageDigest=airflowImage.digest, imageRepository=airflowImage.repo"),
                "\(shown.stdout)")

        for (arguments, message) in [
            (["--value-key", "image=x"], "`image` is not a value-key role"),
            (["--value-key", "imageDigest="], "`valueKeys.imageDigest` cannot be empty"),
            (["--value-key", "imageRepository=a", "--value-key", "imageDigest=a.b"], "overlap"),
            (["--value-key", "imageRepository"], "must be ROLE=PATH"),
        ] {
            let refused = try await session.airlock(["deployment", "create", "refused"] + Self.options + arguments)
            #expect(refused.status == 2 && refused.stderr.contains(message), "\(arguments): \(refused.stderr)")
        }
        let local = try await session.airlock(["deployment", "create", "l", "--value-key", "imageRepository=x"])
        #expect(local.status == 2 && local.stderr.contains("--value-key"), "\(local.stderr)")

        let token = try session.server.adminToken
        let settings = #"{"kubeconfig": "/k", "namespace": "airflow", "release": "prod", "chart": "/c", "registry": "localhost:5000/a/prod""#
        for (valueKeys, field) in [(#"{"image": "x"}"#, "kubernetes.valueKeys.image"), (#"{"imageDigest": "a..b"}"#, "valueKeys.imageDigest")] {
            let body = #"{"name": "api", "target": "kubernetes", "metadataDatabaseUrl": "postgresql://u@h/d", "kubernetes": \#(settings), "valueKeys": \#(valueKeys)}}"#
            let answer = try await session.server.send("POST", "/api/v1/deployments", json: body, token: token)
            let text = String(decoding: answer.data, as: UTF8.self)
            #expect(answer.status == 400 && text.contains(field), "\(valueKeys): \(text)")
        }
    }

    /// A server whose Helm never answers (nothing before a first deploy may wait for Helm), and the folder to remove.
    static func serverWithHangingHelm() async throws -> (DeployEndToEndTests.Session, URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-hanging-helm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let helm = folder.appendingPathComponent("helm")
        try "#!/bin/sh\nexec sleep 600\n".write(to: helm, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: helm.path)
        return (try await DeployEndToEndTests.start(environment: ["AIRLOCK_HELM": helm.path]), folder)
    }

    /// The start timeout (Helm's `--wait`, a schema Job): set at create, shown, changed later with an audit entry,
    /// refused outside 60–86,400 s and on a local deployment — by the CLI (exit 2) and the API (400).
    @Test(.timeLimit(.minutes(5))) func startTimeoutIsSetShownChangedAndChecked() async throws {
        let (session, folder) = try await Self.serverWithHangingHelm()
        defer { session.server.stop(); try? FileManager.default.removeItem(at: folder) }
        let created = try await session.airlock(["deployment", "create", "k"] + Self.options + ["--start-timeout", "1200"])
        #expect(created.status == 0, "\(created.stderr)")
        func stored() async throws -> Int? {
            let deployment = try await session.server.json("/api/v1/deployments/k")
            return ((deployment["settings"] as? [String: Any])?["kubernetes"] as? [String: Any])?["startTimeoutSeconds"] as? Int
        }
        #expect(try await stored() == 1200)
        let shown = try await session.airlock(["deployment", "show", "k"])
        #expect(shown.status == 0 && shown.stdout.contains("Start timeout   1200 s"), "\(shown.stdout)\(shown.stderr)")

        let changed = try await session.airlock(["deployment", "settings", "k", "--start-timeout", "600"])
        #expect(changed.status == 0 && changed.stdout.contains("start timeout 600 s"), "\(changed.stdout)\(changed.stderr)")
        #expect(try await stored() == 600)
        let events = try await session.server.json("/api/v1/deployments/k/audit-events")["events"] as? [[String: Any]] ?? []
        #expect(events.contains { $0["action"] as? String == "deployment.settings" && ($0["detail"] as? String)?.contains("startTimeoutSeconds: 1200 → 600") == true },
                "\(events)")

        for arguments in [["deployment", "settings", "k", "--start-timeout", "59"], ["deployment", "create", "r"] + Self.options + ["--start-timeout", "86401"]] {
            let refused = try await session.airlock(arguments)
            #expect(refused.status == 2 && refused.stderr.contains("from 60 to 86400 seconds"), "\(arguments): \(refused.stderr)")
        }
        #expect(try await stored() == 600, "a refused change leaves the timeout as it was")
        #expect(try await session.airlock(["deployment", "create", "l"]).status == 0)
        let onLocal = try await session.airlock(["deployment", "settings", "l", "--start-timeout", "600"])
        #expect(onLocal.status == 2 && onLocal.stderr.contains("a setting of Kubernetes deployments"), "\(onLocal.stderr)")
        let localCreate = try await session.airlock(["deployment", "create", "l2", "--start-timeout", "600"])
        #expect(localCreate.status == 2 && localCreate.stderr.contains("--start-timeout"), "\(localCreate.stderr)")

        let token = try session.server.adminToken
        let answer = try await session.server.send("PATCH", "/api/v1/deployments/k/settings", json: #"{"startTimeoutSeconds": 10}"#, token: token)
        #expect(answer.status == 400 && String(decoding: answer.data, as: UTF8.self).contains("startTimeoutSeconds"), "\(String(decoding: answer.data, as: UTF8.self))")
    }
}
