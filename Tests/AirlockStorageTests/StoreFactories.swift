import AirlockCore
import AirlockStorage
import AirlockTestSupport
import Foundation
import Testing

/// One store under test, and what the contract suite may do with it beyond the protocol.
struct StoreFixture: Sendable {
    let store: any DeployHistoryStore
    /// The folder holding the database files, for stores kept on disk.
    let folder: URL?
    /// Opens the same database again (a restart), for stores that persist.
    let reopen: (@Sendable () throws -> any DeployHistoryStore)?
    /// The SQLite file, when there is one (for the raw-SQL checks).
    let sqlitePath: String?
}

/// The implementations the contract suite runs against. A PostgreSQL store joins this list later,
/// and every contract test then runs on it too.
struct StoreFactory: Sendable, CustomTestStringConvertible {
    let name: String
    /// Whether the data outlives the store object (reopen, files on disk).
    let persists: Bool
    let make: @Sendable (_ now: @escaping @Sendable () -> Date) throws -> StoreFixture

    var testDescription: String { name }

    static let sqliteFile = StoreFactory(name: "SQLite file", persists: true) { now in
        let folder = try TestSupport.scratchFolder("airlock-storage")
        let path = folder.appendingPathComponent("airlock.sqlite").path
        let store = try SQLiteDeployHistoryStore(path: path, now: now)
        return StoreFixture(store: store, folder: folder, reopen: { try SQLiteDeployHistoryStore(path: path, now: now) }, sqlitePath: path)
    }

    static let sqliteMemory = StoreFactory(name: "SQLite in memory", persists: false) { now in
        StoreFixture(store: try SQLiteDeployHistoryStore.inMemory(now: now), folder: nil, reopen: nil, sqlitePath: nil)
    }

    static let all: [StoreFactory] = [sqliteFile, sqliteMemory]
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
