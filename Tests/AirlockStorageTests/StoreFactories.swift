import AirlockCore
import AirlockStorage
import AirlockTestSupport
import Foundation
import GRDB
import Logging
import PostgresNIO
import Testing

/// One store under test, and what the contract suite may do with it beyond the protocol.
struct StoreFixture: Sendable {
    let store: any DeployHistoryStore
    /// Opens the same database again (a restart), for stores that persist.
    let reopen: (@Sendable () async throws -> any DeployHistoryStore)?
    /// Plain SQL on a second connection to the same database, bypassing the store (schema checks, manual repairs).
    let raw: (any RawDatabase)?
}

/// SQL straight to a store's database, in that database's own dialect where it matters.
protocol RawDatabase: Sendable {
    func execute(_ sql: String) async throws
    /// The first column of every row, as text.
    func strings(_ sql: String) async throws -> [String]
    /// The applied migration identifiers, read from the store's own bookkeeping table.
    var appliedMigrationsSQL: String { get }
    /// Every stored value of the store's tables as text (what the database keeps).
    func everything() async throws -> Data
}

struct RawSQLite: RawDatabase {
    let path: String

    private func queue() throws -> DatabaseQueue {
        var config = Configuration()
        config.foreignKeysEnabled = true
        return try DatabaseQueue(path: path, configuration: config)
    }

    func execute(_ sql: String) async throws {
        try await queue().write { db in try db.execute(sql: sql) }
    }

    func strings(_ sql: String) async throws -> [String] {
        try await queue().read { db in try String.fetchAll(db, sql: sql) }
    }

    let appliedMigrationsSQL = "SELECT identifier FROM grdb_migrations"

    /// The files themselves: the database, its WAL and shared memory.
    func everything() async throws -> Data {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        var all = Data()
        for file in try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil) {
            all.append(try Data(contentsOf: file))
        }
        return all
    }
}

/// A PostgreSQL server for the tests (`AIRLOCK_TEST_POSTGRES_URL`, set by scripts/test). Each fixture
/// gets a database of its own, so tests running in parallel never see each other's rows.
struct PostgresTestServer: Sendable {
    let host: String
    let port: Int
    let user: String
    let password: String?
    /// The database named in the URL, used for CREATE DATABASE.
    let maintenanceDatabase: String

    static let url: String? = {
        let value = ProcessInfo.processInfo.environment["AIRLOCK_TEST_POSTGRES_URL"] ?? ""
        return value.isEmpty ? nil : value
    }()

    static let shared: PostgresTestServer? = url.flatMap(PostgresTestServer.init(url:))

    init?(url: String) {
        guard let components = URLComponents(string: url), let host = components.host, let user = components.user else { return nil }
        self.host = host
        port = components.port ?? 5432
        self.user = user
        password = components.password
        let path = String(components.path.drop(while: { $0 == "/" }))
        maintenanceDatabase = path.isEmpty ? "postgres" : path
    }

    /// The store URL for `database`.
    func url(database: String) -> String {
        let credentials = password.map { "\(user):\($0)" } ?? user
        return "postgresql://\(credentials)@\(host):\(port)/\(database)?sslmode=disable"
    }

    static let logger: Logger = {
        var logger = Logger(label: "airlock.tests.postgres")
        logger.logLevel = .error
        return logger
    }()

    func withConnection<T>(database: String? = nil, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let logger = Self.logger
        let configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                             database: database ?? maintenanceDatabase, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A new empty database, named `airlock_test_<unix time>_<random>`.
    func createDatabase() async throws -> String {
        let name = "airlock_test_\(Int(Date().timeIntervalSince1970))_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: PostgresTestServer.logger).collect()
        }
        return name
    }
}

struct RawPostgres: RawDatabase {
    let server: PostgresTestServer
    let database: String

    func execute(_ sql: String) async throws {
        try await server.withConnection(database: database) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresTestServer.logger).collect()
        }
    }

    func strings(_ sql: String) async throws -> [String] {
        try await server.withConnection(database: database) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresTestServer.logger).collect()
                .map { try $0.makeRandomAccess()[0].decode(String.self) }
        }
    }

    let appliedMigrationsSQL = "SELECT identifier FROM airlock_migrations ORDER BY identifier"

    /// Every row of the store's tables, as JSON text.
    func everything() async throws -> Data {
        var all = Data()
        for table in ["deployments", "deploys", "audit_events", "api_tokens", "airlock_migrations"] {
            for line in try await strings("SELECT row_to_json(t)::text FROM \(table) t") { all.append(Data((line + "\n").utf8)) }
        }
        return all
    }
}

/// The implementations the contract suite runs against: SQLite always, PostgreSQL when
/// `AIRLOCK_TEST_POSTGRES_URL` is set (scripts/test sets it; on CI its absence fails a test).
struct StoreFactory: Sendable, CustomTestStringConvertible {
    let name: String
    /// Whether the data outlives the store object (reopen, files on disk).
    let persists: Bool
    let make: @Sendable (_ now: @escaping @Sendable () -> Date) async throws -> StoreFixture

    var testDescription: String { name }

    static let sqliteFile = StoreFactory(name: "SQLite file", persists: true) { now in
        let folder = try TestSupport.scratchFolder("airlock-storage")
        let path = folder.appendingPathComponent("airlock.sqlite").path
        let store = try SQLiteDeployHistoryStore(path: path, now: now)
        return StoreFixture(store: store, reopen: { try SQLiteDeployHistoryStore(path: path, now: now) }, raw: RawSQLite(path: path))
    }

    static let sqliteMemory = StoreFactory(name: "SQLite in memory", persists: false) { now in
        StoreFixture(store: try SQLiteDeployHistoryStore.inMemory(now: now), reopen: nil, raw: nil)
    }

    /// A fresh database per fixture on the test server; `reopen` connects to the same database again.
    static let postgres = StoreFactory(name: "PostgreSQL", persists: true) { now in
        guard let server = PostgresTestServer.shared else {
            throw AirlockError.usage("AIRLOCK_TEST_POSTGRES_URL is not a postgresql:// URL")
        }
        let database = try await server.createDatabase()
        let url = server.url(database: database)
        let store = try await PostgresDeployHistoryStore.connect(url: url, now: now)
        return StoreFixture(store: store, reopen: { try await PostgresDeployHistoryStore.connect(url: url, now: now) },
                            raw: RawPostgres(server: server, database: database))
    }

    static let all: [StoreFactory] = [sqliteFile, sqliteMemory] + (PostgresTestServer.url == nil ? [] : [postgres])
    static let persistent: [StoreFactory] = all.filter(\.persists)
}

/// Builders shared by the storage tests. Dates are whole seconds, which every store round-trips exactly.
enum Fixtures {
    static let now = Date(timeIntervalSince1970: 1_760_000_000)
    static let clock: @Sendable () -> Date = { Fixtures.now }

    static func deployment(_ name: String = "prod", id: String? = nil, rollbackEnabled: Bool = false) -> Deployment {
        Deployment(id: id ?? "dep-\(name)", name: name,
                   settings: DeploymentSettings(rollbackEnabled: rollbackEnabled, environmentVariables: ["REGION": "eu"]))
    }

    static func image(runtime: String? = "13.5.0", airflow: String = "2.10.5") -> DeployImage {
        DeployImage(runtimeVersion: runtime, airflowVersion: airflow, python: "3.12", lockHash: "lock-\(airflow)", projectDigest: "digest-\(airflow)")
    }

    static func deploy(_ id: String, deploymentId: String = "dep-prod", status: DeployStatus = .initialized,
                       image: DeployImage? = image(), rollbackFrom: String? = nil, rollbackTo: String? = nil,
                       age: TimeInterval = 0) -> Deploy {
        Deploy(id: id, deploymentId: deploymentId, sequence: 0, type: .imageAndDag, status: status, description: "Deploy \(id)",
               createdAt: now.addingTimeInterval(-age), createdBy: "alice", image: image, dagBundleVersion: "dags-\(id)",
               dagDeployEnabled: true, dbSchemaHead: "5f2621c13b39",
               git: GitMetadata(commit: "abc123", branch: "main", author: "Alice", remote: "git@example.com:team/dags.git"),
               rollbackFromId: rollbackFrom, rollbackToId: rollbackTo, everDeployed: status == .deployed)
    }
}
