import AirlockCore
import Foundation

/// The test PostgreSQL (`AIRLOCK_TEST_POSTGRES_URL`, started by `scripts/postgres-test-cluster`) through
/// `psql`: for tests whose target does not link PostgresNIO, and for a lock holder in another process.
public enum PostgresTestTools {
    /// The cluster's URL, or nil when the tests run without PostgreSQL.
    public static var baseURL: String? {
        let value = ProcessInfo.processInfo.environment["AIRLOCK_TEST_POSTGRES_URL"] ?? ""
        return value.isEmpty ? nil : value
    }

    /// Whether CI runs the tests (then a missing PostgreSQL is a failure, not a skip).
    public static var runsInCI: Bool {
        let value = ProcessInfo.processInfo.environment["CI"] ?? ""
        return !value.isEmpty && value.lowercased() != "false" && value != "0"
    }

    /// `psql` on the PATH, else the newest server's (the Debian package the cluster script installs).
    public static func psql() throws -> URL {
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
                .sorted().reversed().map { "/usr/lib/postgresql/\($0)/bin" }
        for folder in folders where FileManager.default.isExecutableFile(atPath: folder + "/psql") {
            return URL(fileURLWithPath: folder + "/psql")
        }
        throw AirlockError.environment("No psql found (install the Debian package postgresql-client)")
    }

    /// Creates a new empty database `airlock_test_<label>_<random>` (the cluster script drops those when
    /// it starts) and returns its URL for `PostgresDeployHistoryStore.connect`.
    public static func createDatabase(base: String, label: String) throws -> String {
        let name = "airlock_test_\(label)_\(UUID().uuidString.prefix(8).lowercased())"
        let process = Process()
        process.executableURL = try psql()
        process.arguments = [base, "-v", "ON_ERROR_STOP=1", "-qc", "CREATE DATABASE \(name)"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw AirlockError.environment("psql could not create \(name)") }
        guard var components = URLComponents(string: base) else { throw AirlockError.usage("Bad AIRLOCK_TEST_POSTGRES_URL") }
        components.path = "/" + name
        components.query = "sslmode=disable"
        guard let url = components.string else { throw AirlockError.usage("Bad AIRLOCK_TEST_POSTGRES_URL") }
        return url
    }
}
