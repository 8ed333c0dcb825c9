import AirlockCore
import AirlockStorage
import AirlockTestSupport
import Foundation
import Testing

/// What only the PostgreSQL store has: URLs, connecting, several processes on one database.
/// The shared contract runs on it through `StoreFactory.all`.
@Suite struct PostgresDeployHistoryStoreTests {
    typealias F = Fixtures

    /// CI must never skip PostgreSQL silently: scripts/test starts a cluster and sets the URL.
    @Test func continuousIntegrationRunsThePostgresContract() {
        let environment = ProcessInfo.processInfo.environment
        guard let ci = environment["CI"], !ci.isEmpty, ci.lowercased() != "false", ci != "0" else { return }
        #expect(PostgresTestServer.url != nil,
                "CI is set but AIRLOCK_TEST_POSTGRES_URL is not: the PostgreSQL store would go untested (run scripts/test)")
        #expect(StoreFactory.all.contains { $0.name == StoreFactory.postgres.name })
    }

    @Test(arguments: [
        "mysql://airlock:s3cr3t@localhost/airlock",
        "postgresql://airlock:s3cr3t@/airlock",
        "postgresql://airlock:s3cr3t@localhost",
        "postgresql://airlock:s3cr3t@localhost:99999/airlock",
        "postgresql://airlock:s3cr3t@localhost/airlock?sslmode=sometimes",
        "postgresql://:s3cr3t@localhost/airlock",
        "not a url at all",
    ])
    func refusesBadURLsWithoutShowingThePassword(url: String) async {
        let error = await #expect(throws: AirlockError.self) { try await PostgresDeployHistoryStore.connect(url: url) }
        #expect(error?.kind == .usage)
        #expect(error.map { !"\($0)".contains("s3cr3t") } == true, "the password is not echoed: \(String(describing: error))")
    }

    @Test func unreachableServerIsAnEnvironmentError() async throws {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let error = await #expect(throws: AirlockError.self) {
            try await PostgresDeployHistoryStore.connect(url: "postgresql://airlock:s3cr3t@127.0.0.1:1/airlock?sslmode=disable")
        }
        #expect(error?.kind == .environment)
        let message = try #require(error?.message)
        #expect(message.contains("Cannot connect") && message.contains("127.0.0.1:1") && !message.contains("s3cr3t"), "\(message)")
        #expect(error?.hint != nil)
    }

    @Test func openerPicksTheStoreFromTheURL() async throws {
        let folder = try TestSupport.scratchFolder("airlock-opener")
        defer { try? FileManager.default.removeItem(at: folder) }
        let sqlite = try await DeployHistoryStoreOpener.open(databaseURL: nil, dataDirectory: folder)
        #expect((sqlite as? SQLiteDeployHistoryStore)?.path == folder.appendingPathComponent("airlock.sqlite").path)
        let refused = await #expect(throws: AirlockError.self) {
            try await DeployHistoryStoreOpener.open(databaseURL: "mysql://u:s3cr3t@h/db", dataDirectory: folder)
        }
        #expect(refused?.kind == .usage && refused.map { !"\($0)".contains("s3cr3t") } == true)

        guard let server = PostgresTestServer.shared else { return }
        let url = server.url(database: try await server.createDatabase())
        let postgres = try await DeployHistoryStoreOpener.open(databaseURL: url, dataDirectory: folder)
        #expect(postgres is PostgresDeployHistoryStore)
        #expect(try await postgres.schemaVersion() == 5)
        await (postgres as? PostgresDeployHistoryStore)?.shutdown()
    }

    @Test(.enabled(if: PostgresTestServer.url != nil))
    func missingDatabaseIsAnEnvironmentError() async throws {
        let server = try #require(PostgresTestServer.shared)
        let error = await #expect(throws: AirlockError.self) {
            try await PostgresDeployHistoryStore.connect(url: server.url(database: "airlock_no_such_database"))
        }
        #expect(error?.kind == .environment)
        #expect(error?.message.contains("airlock_no_such_database") == true, "\(String(describing: error))")
    }

    /// Two processes starting at once: the advisory lock makes the second wait, then find v1 applied.
    @Test(.enabled(if: PostgresTestServer.url != nil))
    func concurrentStartsMigrateOnce() async throws {
        let server = try #require(PostgresTestServer.shared)
        let url = server.url(database: try await server.createDatabase())
        let versions = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let store = try await PostgresDeployHistoryStore.connect(url: url)
                    let version = try await store.schemaVersion()
                    await store.shutdown()
                    return version
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(versions == [5, 5, 5, 5])
    }

    /// Two stores (two pools, like two server processes) × 20 tasks each: the row lock on the
    /// deployment serialises numbering, so all 40 sequences are distinct and consecutive.
    @Test(.enabled(if: PostgresTestServer.url != nil))
    func concurrentCreatorsAcrossStoresGetDistinctSequences() async throws {
        let server = try #require(PostgresTestServer.shared)
        let url = server.url(database: try await server.createDatabase())
        let first = try await PostgresDeployHistoryStore.connect(url: url, now: F.clock)
        let second = try await PostgresDeployHistoryStore.connect(url: url, now: F.clock)
        try await first.createDeployment(F.deployment())
        let sequences = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 1...40 {
                let store = index.isMultiple(of: 2) ? first : second
                group.addTask { try await store.createDeploy(F.deploy("c\(index)")).sequence }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(sequences.sorted() == Array(1...40))
        let page = try await second.listDeploys(deploymentId: "dep-prod", offset: 0, limit: 50)
        #expect(page.totalCount == 40 && page.deploys.map(\.sequence) == Array((1...40).reversed()))
        await first.shutdown()
        await second.shutdown()
    }

    /// A store whose pool was shut down reports `.environment`, not a crash or a hang.
    @Test(.enabled(if: PostgresTestServer.url != nil))
    func closedStoreFailsWithAnEnvironmentError() async throws {
        let fixture = try await StoreFactory.postgres.make(F.clock)
        let store = try #require(fixture.store as? PostgresDeployHistoryStore)
        await store.shutdown()
        let error = await #expect(throws: AirlockError.self) { try await store.listDeployments() }
        #expect(error?.kind == .environment)
    }
}
