import AirlockCore
import AirlockStorage
import AirlockTestSupport
import Foundation
import GRDB
import PostgresNIO
import Testing

/// `benchmarks/deploys`: history paging on a deployment with 100,000 deploys, against the naive ways
/// measured in the same run, on SQLite and (when `AIRLOCK_TEST_POSTGRES_URL` is set) PostgreSQL.
/// Skipped unless `AIRLOCK_BENCHMARK=1` (it takes a while and writes ~100 MB per store).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["AIRLOCK_BENCHMARK"] == "1"))
struct DeployHistoryBenchmark {
    static let deployCount = Int(ProcessInfo.processInfo.environment["AIRLOCK_BENCHMARK_DEPLOYS"] ?? "") ?? 100_000
    static let batchSize = 5_000
    static let iterations = 1_000
    static let naiveIterations = 30

    struct Stats: CustomStringConvertible {
        var samples: [Double]  // milliseconds
        var p50: Double { percentile(0.50) }
        var p99: Double { percentile(0.99) }
        func percentile(_ q: Double) -> Double {
            let sorted = samples.sorted()
            return sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * q).rounded(.up)) - 1))]
        }
        var description: String { String(format: "p50 %8.3f ms   p99 %8.3f ms   (n=%d)", p50, p99, samples.count) }
    }

    static func measure(_ times: Int, _ body: () async throws -> Void) async rethrows -> Stats {
        let clock = ContinuousClock()
        var samples: [Double] = []
        samples.reserveCapacity(times)
        for _ in 0..<times {
            let elapsed = try await clock.measure { try await body() }
            samples.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        }
        return Stats(samples: samples)
    }

    static func deploy(_ index: Int, base: Date) -> Deploy {
        let image = DeployImage(runtimeVersion: "13.\(index % 5).0", airflowVersion: "2.10.5", python: "3.12",
                                lockHash: SHA256.hex("lock-\(index / 100)"), projectDigest: SHA256.hex("digest-\(index / 10)"))
        let git = GitMetadata(commit: SHA256.hex("commit-\(index)"), branch: "main", author: "CI", remote: "git@example.com:team/dags.git")
        let type: DeployType = index % 3 == 0 ? .dagOnly : .imageAndDag
        let status: DeployStatus = index % 10 == 0 ? .failed : .deployed
        let createdAt = base.addingTimeInterval(Double(index) * 60)
        return Deploy(id: "deploy-\(index)", deploymentId: "dep-bench", sequence: 0, type: type, status: status,
                      description: "Deploy number \(index) from CI", createdAt: createdAt, createdBy: "ci-token", image: image,
                      dagBundleVersion: SHA256.hex("dags-\(index)"), dagDeployEnabled: true, dbSchemaHead: "5f2621c13b39",
                      git: git, everDeployed: status == .deployed)
    }

    @Test func pagingHundredThousandDeploysSQLite() async throws {
        let folder = try TestSupport.scratchFolder("airlock-deploys-bench")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("airlock.sqlite").path
        let store = try SQLiteDeployHistoryStore(path: path)
        // References on a second connection to the same file.
        let raw = try DatabaseQueue(path: path)
        try await Self.run(label: "SQLite WAL file", store: store, copyWithoutIndex: {
            try await raw.write { db in try db.execute(sql: "CREATE TABLE deploys_noindex AS SELECT * FROM deploys") }
        }, rawPage: { table, offset in
            try await raw.read { db in
                let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE deployment_id = 'dep-bench'") ?? 0
                let rows = try Row.fetchAll(db, sql: """
                    SELECT * FROM \(table) WHERE deployment_id = 'dep-bench' ORDER BY sequence DESC LIMIT 50 OFFSET ?
                    """, arguments: [offset])
                return rows.count + count
            }
        })
    }

    @Test(.enabled(if: PostgresTestServer.url != nil))
    func pagingHundredThousandDeploysPostgreSQL() async throws {
        let server = try #require(PostgresTestServer.shared)
        let database = try await server.createDatabase()
        let store = try await PostgresDeployHistoryStore.connect(url: server.url(database: database))
        // References on a second connection to the same database.
        try await server.withConnection(database: database) { connection in
            func rows(_ sql: String) async throws -> [PostgresRow] {
                try await connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresTestServer.logger).collect()
            }
            try await Self.run(label: "PostgreSQL \(server.host):\(server.port)", store: store, copyWithoutIndex: {
                _ = try await rows("CREATE TABLE deploys_noindex AS SELECT * FROM deploys")
                _ = try await rows("ANALYZE deploys_noindex")
            }, rawPage: { table, offset in
                let count = try await rows("SELECT COUNT(*) FROM \(table) WHERE deployment_id = 'dep-bench'")
                    .first.map { try $0.makeRandomAccess()[0].decode(Int.self) } ?? 0
                let page = try await rows("SELECT * FROM \(table) WHERE deployment_id = 'dep-bench' ORDER BY sequence DESC LIMIT 50 OFFSET \(offset)")
                return page.count + count
            })
        }
        await store.shutdown()
        _ = try? await server.withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"),
                                       logger: PostgresTestServer.logger).collect()
        }
    }

    /// Inserts the deploys, measures the store's pages, then the naive ways on the same data.
    /// `rawPage(table, offset)` is LIMIT/OFFSET + COUNT(*) in plain SQL, bypassing the store.
    static func run(label: String, store: any DeployHistoryStore, copyWithoutIndex: () async throws -> Void,
                    rawPage: (_ table: String, _ offset: Int) async throws -> Int) async throws {
        try await store.createDeployment(Deployment(id: "dep-bench", name: "bench"))

        // Insert in batches, each batch one transaction.
        let clock = ContinuousClock()
        let base = Date(timeIntervalSince1970: 1_700_000_000)
        let insertTime = try await clock.measure {
            var next = 1
            while next <= Self.deployCount {
                let upper = min(Self.deployCount, next + Self.batchSize - 1)
                let batch = (next...upper).map { Self.deploy($0, base: base) }
                try await store.createDeploys(batch)
                next = upper + 1
            }
        }
        let deepOffset = Self.deployCount / 2
        print("DeployHistoryBenchmark [\(label)]: \(Self.deployCount) deploys inserted in batches of \(Self.batchSize): \(insertTime)")

        // Airlock: the store's listDeploys (index range seek, decoded Deploy values, totalCount).
        let firstPage = try await store.listDeploys(deploymentId: "dep-bench", offset: 0, limit: 50)
        #expect(firstPage.totalCount == Self.deployCount && firstPage.deploys.first?.sequence == Self.deployCount)
        let deepPage = try await store.listDeploys(deploymentId: "dep-bench", offset: deepOffset, limit: 50)
        #expect(deepPage.deploys.map(\.sequence) == Array(((Self.deployCount - deepOffset - 49)...(Self.deployCount - deepOffset)).reversed()))

        let storeFirst = try await Self.measure(Self.iterations) {
            _ = try await store.listDeploys(deploymentId: "dep-bench", offset: 0, limit: 50)
        }
        let storeDeep = try await Self.measure(Self.iterations) {
            _ = try await store.listDeploys(deploymentId: "dep-bench", offset: deepOffset, limit: 50)
        }

        try await copyWithoutIndex()
        // LIMIT/OFFSET + COUNT(*) on the indexed table (what a plain SQL port would do).
        let offsetFirst = try await Self.measure(Self.iterations) { _ = try await rawPage("deploys", 0) }
        let offsetDeep = try await Self.measure(Self.iterations) { _ = try await rawPage("deploys", deepOffset) }
        // Naive 1: the same query on a table without the index (full scan + sort per page).
        let noIndexFirst = try await Self.measure(Self.naiveIterations) { _ = try await rawPage("deploys_noindex", 0) }
        let noIndexDeep = try await Self.measure(Self.naiveIterations) { _ = try await rawPage("deploys_noindex", deepOffset) }
        // Naive 2: load the whole history through the store and slice in Swift.
        let sliceFirst = try await Self.measure(Self.naiveIterations) {
            let all = try await store.history(deploymentId: "dep-bench")
            _ = all[0..<50]
        }
        let sliceDeep = try await Self.measure(Self.naiveIterations) {
            let all = try await store.history(deploymentId: "dep-bench")
            _ = all[deepOffset..<(deepOffset + 50)]
        }

        func line(_ label: String, _ stats: Stats, against reference: Stats? = nil) -> String {
            let ratio = reference.map { String(format: "   p50 x%.1f / p99 x%.1f slower than Airlock", $0.p50 == 0 ? 0 : stats.p50 / $0.p50,
                                               $0.p99 == 0 ? 0 : stats.p99 / $0.p99) } ?? ""
            return "  " + label.padding(toLength: 58, withPad: " ", startingAt: 0) + stats.description + ratio
        }
        let report = [
            "DeployHistoryBenchmark: listDeploys(limit: 50) on \(Self.deployCount) deploys, \(label)",
            "first page (offset 0):",
            line("Airlock listDeploys (seek + deploy_count)", storeFirst),
            line("indexed LIMIT/OFFSET + COUNT(*), raw rows", offsetFirst, against: storeFirst),
            line("naive: no index, LIMIT/OFFSET + COUNT(*), raw rows", noIndexFirst, against: storeFirst),
            line("naive: full history() then slice", sliceFirst, against: storeFirst),
            "deep page (offset \(deepOffset)):",
            line("Airlock listDeploys (seek + deploy_count)", storeDeep),
            line("indexed LIMIT/OFFSET + COUNT(*), raw rows", offsetDeep, against: storeDeep),
            line("naive: no index, LIMIT/OFFSET + COUNT(*), raw rows", noIndexDeep, against: storeDeep),
            line("naive: full history() then slice", sliceDeep, against: storeDeep),
            "goal p99 <= 10 ms [\(label)]: first page \(storeFirst.p99 <= 10 ? "MET" : "MISSED"), deep page \(storeDeep.p99 <= 10 ? "MET" : "MISSED")",
        ]
        print(report.joined(separator: "\n"))
        #expect(storeFirst.p99 <= 10 && storeDeep.p99 <= 10)
    }
}
