import AirlockCore
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

        init() throws {
            dataDirectory = try TestSupport.scratchFolder("airlock-server")
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

        // The settings change was audited.
        let audit = try await server.fetch("/api/v1/deployments/prod/audit-events")
        #expect(String(decoding: audit.data, as: UTF8.self).contains("deployment.settings"))
    }
}
