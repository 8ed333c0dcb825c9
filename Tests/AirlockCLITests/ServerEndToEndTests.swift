import AirlockCore
import AirlockServer
import AirlockStorage
import AirlockTestSupport
import AirlockToolchain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `airlock server` as a real process on loopback, driven by the `airlock` CLI and plain HTTP.
@Suite struct ServerEndToEndTests {
    @Test func deploymentsThroughTheCLI() async throws {
        let server = try RunningServer()
        defer { server.stop() }
        try await server.waitUntilUp()

        // The admin token file is private.
        let attributes = try FileManager.default.attributesOfItem(atPath: server.dataDirectory.appendingPathComponent("admin-token").path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let env = ["AIRLOCK_SERVER": server.url]
        // Mutating without a token: refused with a clear message.
        let refused = try await TestSupport.airlock(["deployment", "create", "prod"], environment: env)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("API token"))

        let withToken = env.merging(["AIRLOCK_TOKEN": try server.adminToken]) { $1 }
        let created = try await TestSupport.airlock(["deployment", "create", "prod", "--target", "local"], environment: withToken)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("rollback is disabled"))
        let duplicate = try await TestSupport.airlock(["deployment", "create", "prod"], environment: withToken)
        #expect(duplicate.status == 2)
        let badName = try await TestSupport.airlock(["deployment", "create", "Prod_1"], environment: withToken)
        #expect(badName.status == 2)

        let settings = try await TestSupport.airlock(["deployment", "settings", "prod", "--rollback-enabled", "true"], environment: withToken)
        #expect(settings.status == 0, "\(settings.stderr)")
        let show = try await TestSupport.airlock(["deployment", "show", "prod", "--json"], environment: env)
        let shown = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any]
        #expect(((shown?["deployment"] as? [String: Any])?["settings"] as? [String: Any])?["rollbackEnabled"] as? Bool == true)
        // Nothing deployed yet: no current deploy, Airflow stopped, no schema.
        #expect(shown?["currentDeploy"] is NSNull && shown?["dbSchemaHead"] is NSNull)
        #expect((shown?["health"] as? [String: Any])?["status"] as? String == "stopped")

        let list = try await TestSupport.airlock(["deployment", "list"], environment: env)
        #expect(list.stdout.contains("prod"))
        let deploys = try await TestSupport.airlock(["deploys", "list", "--deployment", "prod", "--json"], environment: env)
        let page = try JSONSerialization.jsonObject(with: Data(deploys.stdout.utf8)) as? [String: Any]
        #expect(page?["totalCount"] as? Int == 0)

        // Errors are JSON with a stable code; the OpenAPI document is served.
        let missing = try await server.fetch("/api/v1/deployments/nope")
        #expect(missing.status == 404)
        let error = try JSONSerialization.jsonObject(with: missing.data) as? [String: Any]
        #expect(error?["code"] as? String == "deployment_not_found")
        let openapi = try await server.fetch("/api/v1/openapi.json")
        let document = try JSONSerialization.jsonObject(with: openapi.data) as? [String: Any]
        #expect((document?["paths"] as? [String: Any])?["/deployments/{name}/deploys"] != nil)

        // Uploads: content-addressed, deduplicated, unsafe bundles refused before anything is written.
        let bundle = TarArchive(entries: [TarArchive.Entry(path: "dags/a.py", kind: .file, contents: Array("print(1)\n".utf8))]).bytes()
        let admin = try server.adminToken
        let anonymous = try await server.upload("/api/v1/deployments/prod/artifacts/dags", bundle, token: nil)
        #expect(anonymous.status == 401)
        let first = try await server.upload("/api/v1/deployments/prod/artifacts/dags", bundle, token: admin)
        #expect(first.status == 201)
        let uploaded = try JSONSerialization.jsonObject(with: first.data) as? [String: Any]
        #expect(uploaded?["digest"] as? String == TarArchive(entries: [TarArchive.Entry(path: "dags/a.py", kind: .file, contents: Array("print(1)\n".utf8))]).manifest.digest)
        let again = try await server.upload("/api/v1/deployments/prod/artifacts/dags", bundle, token: admin)
        #expect(again.status == 200)
        #expect((try JSONSerialization.jsonObject(with: again.data) as? [String: Any])?["stored"] as? Bool == false)
        let escaping = TarArchive(entries: [TarArchive.Entry(path: "dags/l.py", kind: .symlink, linkTarget: "../../../etc/passwd")]).bytes()
        let unsafe = try await server.upload("/api/v1/deployments/prod/artifacts/dags", escaping, token: admin)
        #expect(unsafe.status == 400)
        #expect((try JSONSerialization.jsonObject(with: unsafe.data) as? [String: Any])?["code"] as? String == "invalid_bundle")
        for path in ["../../outside.py", "dags/../../outside.py", "/etc/cron.d/evil"] {
            let traversal = TarArchive(entries: [TarArchive.Entry(path: path, kind: .file, contents: Array("x\n".utf8))]).bytes()
            let refused = try await server.upload("/api/v1/deployments/prod/artifacts/dags", traversal, token: admin)
            #expect(refused.status == 400, "\(path)")
            #expect(String(decoding: refused.data, as: UTF8.self).contains("invalid_bundle"))
        }
        #expect(!FileManager.default.fileExists(atPath: server.dataDirectory.appendingPathComponent("outside.py").path))
        let truncated = try await server.upload("/api/v1/deployments/prod/artifacts/image", Array(bundle.prefix(600)), token: admin)
        #expect(truncated.status == 400)
        let stored = try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory.appendingPathComponent("artifacts/dags").path)
        #expect(stored.filter { !$0.hasPrefix(".") }.count == 1)

        // The settings change was audited.
        let audit = try await server.fetch("/api/v1/deployments/prod/audit-events")
        #expect(String(decoding: audit.data, as: UTF8.self).contains("deployment.settings"))
    }

    /// A 2.10.5 → 3.0.6 history, then the rollback preview: refused while disabled, then the plan.
    @Test func rollbackPreview() async throws {
        let data = try TestSupport.scratchFolder("airlock-server")
        let store = try SQLiteDeployHistoryStore(path: data.appendingPathComponent("airlock.sqlite").path)
        let deployment = try await store.createDeployment(Deployment(id: "d1", name: "prod"))
        var ids: [String] = []
        for (airflow, head) in [("2.10.5", "5f2621c13b39"), ("3.0.6", "fe199e1abd77")] {
            let deploy = try await store.createDeploy(Deploy(
                id: "deploy-\(airflow)", deploymentId: deployment.id, sequence: 0, type: .imageAndDag, status: .deploying,
                description: "Airflow \(airflow)", createdAt: Date(), createdBy: "ci",
                image: DeployImage(runtimeVersion: nil, airflowVersion: airflow, python: "3.11", lockHash: "lock-\(airflow)", projectDigest: "img-\(airflow)"),
                dagBundleVersion: "dags-\(airflow)", dagDeployEnabled: true, dbSchemaHead: nil, everDeployed: false))
            _ = try await store.markDeployed(deployId: deploy.id, deploymentId: deployment.id, dbSchemaHead: head, actor: "ci")
            ids.append(deploy.id)
        }
        let server = try RunningServer(dataDirectory: data)
        defer { server.stop() }
        try await server.waitUntilUp()
        let env = ["AIRLOCK_SERVER": server.url]

        let refused = try await TestSupport.airlock(["rollback", "--deployment", "prod", "1", "--dry-run"], environment: env)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("Rollback is disabled"), "\(refused.stderr)")

        let admin = env.merging(["AIRLOCK_TOKEN": try server.adminToken]) { $1 }
        #expect(try await TestSupport.airlock(["deployment", "settings", "prod", "--rollback-enabled", "true"], environment: admin).status == 0)
        let preview = try await TestSupport.airlock(["rollback", "--deployment", "prod", "#1", "--dry-run"], environment: env)
        #expect(preview.status == 0, "\(preview.stderr)")
        #expect(preview.stdout.contains("#2 → #1, recorded as #3"))
        #expect(preview.stdout.contains("Airflow:  3.0.6 → 2.10.5"))
        #expect(preview.stdout.contains("downgrade fe199e1abd77 → 5f2621c13b39"))
        #expect(preview.stdout.contains("Not rolled back"))

        let json = try await TestSupport.airlock(["rollback", "--deployment", "prod", ids[0], "--dry-run", "--json"], environment: env)
        let plan = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(plan?["newSequence"] as? Int == 3)
        #expect((plan?["toDeploy"] as? [String: Any])?["id"] as? String == ids[0])
        #expect((plan?["fromDeploy"] as? [String: Any])?["id"] as? String == ids[1])

        // The current deploy itself is never a target.
        let current = try await TestSupport.airlock(["rollback", "--deployment", "prod", "2", "--dry-run"], environment: env)
        #expect(current.status == 2)
    }

    /// Every refusal of a real rollback reaches the user with its reason and exit code 2, and records nothing.
    @Test func rollbackRefusals() async throws {
        let data = try TestSupport.scratchFolder("airlock-server")
        let store = try SQLiteDeployHistoryStore(path: data.appendingPathComponent("airlock.sqlite").path)
        let deployment = try await store.createDeployment(Deployment(id: "d1", name: "prod", settings: DeploymentSettings(rollbackEnabled: true)))
        // #1 Airflow 2.2.5 (below 2.3), #2 2.10.5 (its artifacts expire), #3 2.10.5 again, #4 3.0.6 (current).
        var ids: [String] = []
        for (index, airflow) in ["2.2.5", "2.10.5", "2.10.5", "3.0.6"].enumerated() {
            let deploy = try await store.createDeploy(Deploy(
                id: "deploy-\(index + 1)", deploymentId: deployment.id, sequence: 0, type: .imageAndDag, status: .deploying,
                description: "Airflow \(airflow)", createdAt: Date(), createdBy: "ci",
                image: DeployImage(runtimeVersion: nil, airflowVersion: airflow, python: "3.11", lockHash: "lock-\(index)", projectDigest: "img-\(index)"),
                dagBundleVersion: "dags-\(index)", dagDeployEnabled: true, dbSchemaHead: nil, everDeployed: false))
            _ = try await store.markDeployed(deployId: deploy.id, deploymentId: deployment.id, dbSchemaHead: nil, actor: "ci")
            ids.append(deploy.id)
        }
        try await store.markArtifactsExpired(deployIds: [ids[1]])
        let server = try RunningServer(dataDirectory: data)
        defer { server.stop() }
        try await server.waitUntilUp()
        let env = ["AIRLOCK_SERVER": server.url, "AIRLOCK_TOKEN": try server.adminToken]
        func rollback(_ target: String, _ extra: [String] = ["--description", "Broken deploy", "--yes"]) async throws -> ProcessOutput {
            try await TestSupport.airlock(["rollback", "--deployment", "prod", target] + extra, environment: env)
        }

        let old = try await rollback("1")
        #expect(old.status == 2 && old.stderr.contains("2.3"), "\(old.stderr)")
        let expired = try await rollback("2")
        #expect(expired.status == 2 && expired.stderr.lowercased().contains("expired"), "\(expired.stderr)")
        let itself = try await rollback("4")
        #expect(itself.status == 2 && itself.stderr.lowercased().contains("current"), "\(itself.stderr)")
        let undescribed = try await rollback("3", ["--yes"])
        #expect(undescribed.status == 2 && undescribed.stderr.lowercased().contains("description"), "\(undescribed.stderr)")
        let tooLong = try await rollback("3", ["--description", String(repeating: "x", count: 501), "--yes"])
        #expect(tooLong.status == 2 && tooLong.stderr.contains("500"), "\(tooLong.stderr)")
        let unknown = try await rollback("9")
        #expect(unknown.status == 2, "\(unknown.stderr)")
        var missing = URLRequest(url: try #require(URL(string: server.url + "/api/v1/deployments/prod/deploys/9/rollback")))
        missing.httpMethod = "POST"
        missing.setValue("application/json", forHTTPHeaderField: "Content-Type")
        missing.httpBody = Data(#"{"dryRun": true}"#.utf8)
        let (missingData, missingResponse) = try await URLSession.shared.data(for: missing)
        #expect((missingResponse as? HTTPURLResponse)?.statusCode == 404, "\(String(decoding: missingData, as: UTF8.self))")

        // A viewer token may preview but not roll back.
        let (viewer, _) = try await store.createToken(name: "viewer", role: .viewer)
        let weak = try await TestSupport.airlock(["rollback", "--deployment", "prod", "3", "--description", "x", "--yes"],
                                                 environment: ["AIRLOCK_SERVER": server.url, "AIRLOCK_TOKEN": viewer])
        #expect(weak.status == 2, "\(weak.stderr)")

        // A rollback planned against a deploy that is no longer current is refused.
        var stale = URLRequest(url: try #require(URL(string: server.url + "/api/v1/deployments/prod/deploys/3/rollback")))
        stale.httpMethod = "POST"
        stale.setValue("Bearer \(try server.adminToken)", forHTTPHeaderField: "Authorization")
        stale.setValue("application/json", forHTTPHeaderField: "Content-Type")
        stale.httpBody = Data(#"{"description": "Broken deploy", "expectedFromId": "deploy-3"}"#.utf8)
        let (staleData, staleResponse) = try await URLSession.shared.data(for: stale)
        #expect((staleResponse as? HTTPURLResponse)?.statusCode == 409)
        #expect(String(decoding: staleData, as: UTF8.self).contains("current_deploy_changed"))

        // A deploy mechanism that rollbacks do not support.
        var request = URLRequest(url: try #require(URL(string: server.url + "/api/v1/deployments/prod/settings")))
        request.httpMethod = "PATCH"
        request.setValue("Bearer \(try server.adminToken)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"deployMechanism": "nfs"}"#.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let nfs = try await rollback("3")
        #expect(nfs.status == 2 && nfs.stderr.contains("nfs"), "\(nfs.stderr)")

        // Nothing was recorded by any refusal.
        let page = try JSONSerialization.jsonObject(with: try await server.fetch("/api/v1/deployments/prod/deploys").data) as? [String: Any]
        #expect(page?["totalCount"] as? Int == 4)
    }

    /// Beyond loopback (or when asked) reads need a token as well; loopback defaults stay open.
    @Test func readsNeedATokenWhenAsked() async throws {
        #expect(ServerConfiguration(host: "0.0.0.0", dataDirectory: URL(fileURLWithPath: "/tmp")).requireTokenForReads)
        #expect(ServerConfiguration(host: "192.168.1.5", dataDirectory: URL(fileURLWithPath: "/tmp")).requireTokenForReads)
        #expect(!ServerConfiguration(host: "127.0.0.1", dataDirectory: URL(fileURLWithPath: "/tmp")).requireTokenForReads)
        #expect(!ServerConfiguration(host: "localhost", dataDirectory: URL(fileURLWithPath: "/tmp")).requireTokenForReads)

        let server = try RunningServer(arguments: ["--require-token-for-reads"])
        defer { server.stop() }
        try await server.waitUntilUp()
        let anonymous = try await server.fetch("/api/v1/deployments")
        #expect(anonymous.status == 401)
        let list = try await TestSupport.airlock(["deployment", "list"], environment: ["AIRLOCK_SERVER": server.url])
        #expect(list.status == 2 && list.stderr.contains("token"), "\(list.stderr)")
        let withToken = try await TestSupport.airlock(["deployment", "list"],
                                                      environment: ["AIRLOCK_SERVER": server.url, "AIRLOCK_TOKEN": try server.adminToken])
        #expect(withToken.status == 0, "\(withToken.stderr)")
    }

    /// A deploy whose upload is refused is cancelled by the CLI: the history never keeps it INITIALIZED.
    @Test func aRefusedUploadLeavesAFailedDeployNotAnInitializedOne() async throws {
        let server = try RunningServer()
        defer { server.stop() }
        try await server.waitUntilUp()
        let env = ["AIRLOCK_SERVER": server.url, "AIRLOCK_TOKEN": try server.adminToken]
        #expect(try await TestSupport.airlock(["deployment", "create", "prod"], environment: env).status == 0)
        let project = try TestSupport.scratchFolder("airlock-big-project")
        defer { try? FileManager.default.removeItem(at: project) }
        try TestSupport.writeTree(["Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n", "dags/a.py": "print(1)\n"], under: project)
        // Over the 64 MB limit of DAG bundles.
        try Data(count: 65 * 1024 * 1024).write(to: project.appendingPathComponent("dags/blob.bin"))
        let deploy = try await TestSupport.airlock(["deploy", "--deployment", "prod", "--project", project.path, "--description", "Too big"],
                                                   environment: env)
        #expect(deploy.status == 2, "\(deploy.stderr)")
        #expect(deploy.stderr.contains("64 MB"), "\(deploy.stderr)")
        let page = try await server.json("/api/v1/deployments/prod/deploys")
        let deploys = page["deploys"] as? [[String: Any]] ?? []
        #expect(deploys.count == 1 && deploys.first?["status"] as? String == "FAILED", "\(deploys)")
        let detail = try await server.json("/api/v1/deployments/prod/deploys/1")
        #expect((detail["statusMessage"] as? String)?.contains("Cancelled before it ran") == true, "\(detail)")
    }
}
