import AirlockCore
import Foundation

/// Where a local deployment's Airflow metadata DB lives: SQLite by default, PostgreSQL when configured
/// (SPEC §4.2).
///
/// SQLite needs nothing but a file in the home, which is why it is the default; PostgreSQL lets 2.x
/// run `LocalExecutor` (SQLite allows one writer only) and keeps task history across the 3.0 upgrade
/// (facts gotcha 1). The PostgreSQL database must exist already: `airflow db migrate` creates tables,
/// never databases (`MetadataDatabase.createDatabaseIfMissing` does that when the role may).
public enum MetadataDatabaseLocation: Sendable, Hashable, Codable {
    /// A SQLite file, normally `AIRFLOW_HOME/airflow.db`.
    case sqlite(file: URL)
    /// `postgresql://user[:password]@host[:port]/database[?query]` (`postgres://` is accepted too).
    /// The password, if any, is percent-encoded as in any URL; it never appears in messages.
    case postgres(url: String)

    /// The default location for a home: `airflow.db` inside it.
    public static func defaultSQLite(home: URL) -> MetadataDatabaseLocation {
        .sqlite(file: home.appendingPathComponent("airflow.db"))
    }

    /// A validated PostgreSQL location: refuses what Airflow would only reject much later (a wrong
    /// scheme, no host, no database name), naming the URL without its password.
    public static func postgres(validating url: String) throws(AirlockError) -> MetadataDatabaseLocation {
        guard let parts = PostgresURL(url) else {
            throw .usage("`\(PostgresURL.redactedGuess(url))` is not a PostgreSQL URL.",
                         hint: "Use postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE.")
        }
        guard !parts.host.isEmpty, !parts.database.isEmpty else {
            throw .usage("`\(parts.redacted)` needs a host and a database name.",
                         hint: "Use postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE.")
        }
        return .postgres(url: url)
    }

    public var isSQLite: Bool { sqliteFile != nil }

    /// In the environment of every tool Airlock runs that changes this database (backup, restore, migrate,
    /// downgrade, the SQLite repair): what finds one that a killed server left running
    /// (`MetadataDatabase.stopChangesLeftRunning`) — it would hold its locks against the repair's restore, or
    /// go on changing the database after it. Names the database without its password.
    public var changeMark: [String: String] { [Self.changeMarkVariable: changeMarkValue] }

    /// `changeMark` as `/proc/PID/environ` lists it (`NAME=value`).
    var changeMarkEntry: String { "\(Self.changeMarkVariable)=\(changeMarkValue)" }

    private static let changeMarkVariable = "AIRLOCK_METADATA_DB_CHANGE"
    private var changeMarkValue: String {
        switch self {
        case .sqlite(let file): file.standardizedFileURL.path
        case .postgres(let url): PostgresURL(url)?.libpqURL() ?? PostgresURL.redactedGuess(url)
        }
    }

    /// The SQLite file, when this is SQLite.
    public var sqliteFile: URL? {
        switch self {
        case .sqlite(let file): return file
        case .postgres: return nil
        }
    }

    /// `[database] sql_alchemy_conn`. PostgreSQL names the psycopg2 driver explicitly so both majors
    /// use the same, constraint-pinned driver (3.x derives its async `asyncpg` URL from this one).
    public var sqlAlchemyURL: String {
        switch self {
        case .sqlite(let file):
            return "sqlite:///\(file.path)"
        case .postgres(let url):
            guard let colon = url.firstIndex(of: ":") else { return url }
            return "postgresql+psycopg2" + url[colon...]
        }
    }

    /// A name for messages and logs: the SQLite path, or the URL with its password replaced by `***`.
    public var displayName: String {
        switch self {
        case .sqlite(let file): return file.path
        case .postgres(let url): return PostgresURL(url)?.redacted ?? PostgresURL.redactedGuess(url)
        }
    }

    /// `text` with the PostgreSQL password (raw and percent-decoded) replaced by `***`, for quoting
    /// tool output in errors: a driver or Airflow may echo the connection URL.
    public func redacting(_ text: String) -> String {
        guard case .postgres(let url) = self, let parts = PostgresURL(url), let raw = parts.rawPassword, !raw.isEmpty else {
            return text
        }
        var result = text.replacingOccurrences(of: raw, with: "***")
        if let decoded = parts.password, !decoded.isEmpty { result = result.replacingOccurrences(of: decoded, with: "***") }
        return result
    }

    /// Python packages an environment needs to use this metadata DB, to add to the deploy's resolution
    /// (both are in Airflow's constraints, so the constraints pin them).
    ///
    /// - SQLite: nothing (Python's `sqlite3`).
    /// - PostgreSQL: `psycopg2-binary`, the driver of `sql_alchemy_conn` and of Airlock's own revision
    ///   reads; 3.x also opens an async engine and fails without `asyncpg` (facts gotcha 4).
    public static func requirements(for location: MetadataDatabaseLocation, airflowMajor: Int) -> [String] {
        switch location {
        case .sqlite: return []
        case .postgres: return airflowMajor >= 3 ? ["psycopg2-binary", "asyncpg"] : ["psycopg2-binary"]
        }
    }
}

/// The parts of a PostgreSQL URL Airlock needs: to give libpq tools a password-free URL (the password
/// goes through `PGPASSWORD`, so it never shows in a process list) and to redact messages.
struct PostgresURL: Sendable, Hashable {
    var scheme: String
    var user: String?
    /// Percent-decoded.
    var password: String?
    /// As written in the URL (still percent-encoded).
    var rawPassword: String?
    var host: String
    var port: Int?
    var database: String
    /// `?…` without the question mark, passed through unchanged (e.g. `sslmode=require`).
    var query: String?

    init?(_ url: String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "postgresql" || scheme == "postgres" else { return nil }
        self.scheme = scheme
        user = components.user
        password = components.password
        rawPassword = components.percentEncodedPassword
        host = components.host ?? ""
        port = components.port
        let path = components.path
        database = path.hasPrefix("/") ? String(path.dropFirst()) : path
        query = components.percentEncodedQuery
    }

    /// `postgresql://user@host:port/db[?query]`: what libpq tools get, with the password in `PGPASSWORD`.
    func libpqURL(database overriding: String? = nil) -> String {
        var components = URLComponents()
        components.scheme = "postgresql"
        components.user = user
        components.host = host
        components.port = port
        components.path = "/" + (overriding ?? database)
        components.percentEncodedQuery = query
        return components.string ?? "postgresql://\(host)/\(overriding ?? database)"
    }

    /// The URL with the password shown as `***`.
    var redacted: String {
        var text = "postgresql://"
        if let user { text += user + (password != nil ? ":***" : "") + "@" }
        text += host
        if let port { text += ":\(port)" }
        return text + "/" + database
    }

    /// Environment for libpq clients (psql, pg_dump, psycopg2): the password, never on a command line.
    var clientEnvironment: [String: String] {
        var env: [String: String] = ["PGCONNECT_TIMEOUT": "30"]
        if let password { env["PGPASSWORD"] = password }
        return env
    }

    /// A redaction for text that did not even parse: drop everything between `://` and `@`.
    static func redactedGuess(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url.range(of: "@", range: scheme.upperBound..<url.endIndex) else { return url }
        return String(url[..<scheme.upperBound]) + "***" + String(url[at.lowerBound...])
    }
}
