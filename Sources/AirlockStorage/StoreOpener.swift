import AirlockCore
import Foundation

/// Picks the deploy-history store from `--database-url`, so commands never branch on the database.
public enum DeployHistoryStoreOpener {
    /// `nil` → SQLite at `dataDirectory/airlock.sqlite`; `postgresql://…` or `postgres://…` → PostgreSQL.
    /// Anything else is refused (`.usage`) rather than guessed at.
    public static func open(databaseURL: String?, dataDirectory: URL) async throws(AirlockError) -> any DeployHistoryStore {
        guard let databaseURL else {
            return try SQLiteDeployHistoryStore(path: dataDirectory.appendingPathComponent("airlock.sqlite").path)
        }
        let lowered = databaseURL.lowercased()
        if lowered.hasPrefix("postgresql://") || lowered.hasPrefix("postgres://") {
            return try await PostgresDeployHistoryStore.connect(url: databaseURL)
        }
        throw .usage("`\(PostgresURL.redact(databaseURL))` is not a supported database URL",
                     hint: "use postgresql://user[:password]@host[:port]/database, or leave --database-url out for SQLite in the data folder")
    }
}
