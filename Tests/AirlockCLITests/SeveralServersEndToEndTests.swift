import AirlockTestSupport
import Foundation
import Testing

/// Two real `airlock server` processes on one PostgreSQL history and one data folder (issue 13 item 6),
/// without Airflow: both start (each start reconciles every deployment under its lock), a write through one
/// shows at once in the other's history pages (no page is reused on a shared history), and a server
/// restarted while the other has a deploy `INITIALIZED` leaves it alone. The deploys' serialisation itself
/// is `SeveralServersTests` (AirlockDeployerTests), through the target seam.
@Suite struct SeveralServersEndToEndTests {
    @Test(.timeLimit(.minutes(5))) func twoServersOnOnePostgresHistoryServeTheSameDeployments() async throws {
        guard let base = PostgresTestTools.baseURL else {
            #expect(!PostgresTestTools.runsInCI, "CI runs need AIRLOCK_TEST_POSTGRES_URL (scripts/test starts a private cluster)")
            return
        }
        let history = try PostgresTestTools.createDatabase(base: base, label: "two_servers")
        let data = try TestSupport.scratchFolder("airlock-two-servers")
        defer { try? FileManager.default.removeItem(at: data) }
        let a = try RunningServer(dataDirectory: data, arguments: ["--database-url", history])
        defer { a.stop() }
        try await a.waitUntilUp()
        var b = try RunningServer(dataDirectory: data, arguments: ["--database-url", history])
        defer { b.stop() }
        try await b.waitUntilUp()
        let token = try a.adminToken

        #expect(try await a.send("POST", "/api/v1/deployments", json: #"{"name": "prod"}"#, token: token).status == 201)
        let path = "/api/v1/deployments/prod/deploys"
        #expect(try await b.json(path)["totalCount"] as? Int == 0, "B serves the deployment A created")
        // B has served (and, on a lone history, would keep) the empty page; A's write must show in B's next one.
        #expect(try await a.send("POST", path, json: #"{"description": "through A"}"#, token: token).status == 201)
        let page = try await b.json(path)
        #expect(page["totalCount"] as? Int == 1, "\(page)")

        // B restarts while A's deploy is INITIALIZED (an upload in progress, for all B knows): it stays so.
        b.stop()
        _ = try await b.waitUntilGone(timeout: 60)
        b = try RunningServer(dataDirectory: data, arguments: ["--database-url", history])
        try await b.waitUntilUp()
        let deploy = try await b.json("\(path)/1")
        #expect(deploy["status"] as? String == "INITIALIZED", "\(deploy)\n\(b.log)")
    }
}
