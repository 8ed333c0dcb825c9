import AirlockCore
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
    final class RunningServer: @unchecked Sendable {
        let process = Process()
        let url: String
        let dataDirectory: URL

        init(dataDirectory existing: URL? = nil) throws {
            dataDirectory = try existing ?? TestSupport.scratchFolder("airlock-server")
            let port = Int.random(in: 20_000..<60_000)
            url = "http://127.0.0.1:\(port)"
            process.executableURL = TestSupport.airlockBinary
            process.arguments = ["server", "--data-dir", dataDirectory.path, "--port", String(port)]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        func waitUntilUp() async throws {
            for _ in 0..<200 {
                if let data = try? await fetch("/api/v1/deployments").data, !data.isEmpty { return }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            Issue.record("the server did not start")
        }

        func fetch(_ path: String) async throws -> (data: Data, status: Int) {
            let (data, response) = try await URLSession.shared.data(from: try #require(URL(string: url + path)))
            return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
        }

        var adminToken: String {
            get throws { try String(contentsOf: dataDirectory.appendingPathComponent("admin-token"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
        }

        func upload(_ path: String, _ bytes: [UInt8], token: String?) async throws -> (data: Data, status: Int) {
            var request = URLRequest(url: try #require(URL(string: url + path)))
            request.httpMethod = "PUT"
            if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            let (data, response) = try await URLSession.shared.upload(for: request, from: Data(bytes))
            return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
        }

        func stop() { kill(process.processIdentifier, SIGKILL) }
    }

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
        let deployment = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any]
        #expect((deployment?["settings"] as? [String: Any])?["rollbackEnabled"] as? Bool == true)

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
}
