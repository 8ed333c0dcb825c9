import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing
@testable import AirlockLocalTarget

/// The private PostgreSQL server of the test run (`scripts/postgres-test-cluster`, exported by
/// scripts/test as `AIRLOCK_TEST_POSTGRES_URL`).
enum PostgresTestServer {
    static var url: String? {
        guard let url = ProcessInfo.processInfo.environment["AIRLOCK_TEST_POSTGRES_URL"], !url.isEmpty else { return nil }
        return url
    }

    static var isCI: Bool { !(ProcessInfo.processInfo.environment["CI"] ?? "").isEmpty }

    /// Run when there is a server, and in CI always (where a missing server is then a failure, not a skip).
    static var shouldRun: Bool { url != nil || isCI }

    /// A database on the server that nobody else uses: `airlock_lt_<random>` (not created yet).
    static func freshLocation() throws -> MetadataDatabaseLocation {
        let server = try #require(url, "CI is set but AIRLOCK_TEST_POSTGRES_URL is not: start scripts/postgres-test-cluster and export its URL")
        var components = try #require(URLComponents(string: server), "AIRLOCK_TEST_POSTGRES_URL is not a URL")
        let suffix = UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        components.path = "/airlock_lt_\(suffix)"
        return try MetadataDatabaseLocation.postgres(validating: try #require(components.string))
    }
}

extension SharedEnvironments {
    /// 2.10.5 plus what a PostgreSQL metadata DB needs.
    func airflow2Postgres() async throws -> PythonEnvironment {
        try await environment(airflow: "2.10.5",
                              extra: MetadataDatabaseLocation.requirements(for: .postgres(url: "postgresql://h/d"), airflowMajor: 2))
    }

    /// 3.0.6 with FAB (to downgrade below 3.0, facts gotcha 3) plus what a PostgreSQL metadata DB needs.
    func airflow3Postgres() async throws -> PythonEnvironment {
        try await environment(airflow: "3.0.6", extra: ["apache-airflow-providers-fab"]
                              + MetadataDatabaseLocation.requirements(for: .postgres(url: "postgresql://h/d"), airflowMajor: 3))
    }
}

/// The slow PostgreSQL life lives in the serialized `LocalTargetTests` suite (an extension inherits its
/// `.serialized` trait), so it never runs Airflow next to the SQLite tests on 2 cores.
extension LocalTargetTests {
    /// The model test's life on PostgreSQL: fresh 2.10.5 → backup → 3.0.6 → downgrade → 2.10.5 → restore.
    @Test(.enabled(if: PostgresTestServer.shouldRun,
                   "AIRLOCK_TEST_POSTGRES_URL is not set: skipping the PostgreSQL metadata DB test (scripts/test starts a server)"),
          .timeLimit(.minutes(30)))
    func postgresUpgradeRunDowngradeAndRestoreOneDeployment() async throws {
        let location = try PostgresTestServer.freshLocation()
        let root = try TestSupport.scratchFolder("airlock-local-pg")
        defer { try? FileManager.default.removeItem(at: root) }
        let home = root.appendingPathComponent("home")
        let dags = try makeDags(root)
        let resolveStart = Date()
        let env2 = try await SharedEnvironments.shared.airflow2Postgres()
        let env3 = try await SharedEnvironments.shared.airflow3Postgres()
        let resolveTime = elapsed(resolveStart)
        let af2 = AirflowInstance(environment: env2, airflowHome: home, dagsFolder: dags, ports: try .free(), airflowMajor: 2, database: location)
        let af3 = AirflowInstance(environment: env3, airflowHome: home, dagsFolder: dags, ports: try .free(), airflowMajor: 3, database: location)
        #expect(af2.processEnvironment(secrets: DeploymentSecrets(fernetKey: "f", sessionSecret: "s"))["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor")

        // The database does not exist yet: no revision, then created once.
        #expect(try await MetadataDatabase.currentRevision(of: location, python: env2.python) == nil)
        #expect(try await MetadataDatabase.createDatabaseIfMissing(location, python: env2.python))
        #expect(try await !MetadataDatabase.createDatabaseIfMissing(location, python: env2.python))
        #expect(try await MetadataDatabase.currentRevision(of: location, python: env2.python) == nil, "exists, but no alembic_version yet")

        let supervisor = AirflowSupervisor()
        do {
            // (a) Fresh DB: migrate, run, stop.
            let migrate2 = try await MetadataDatabase.migrate(af2, expectedHead: MetadataDatabase.head2_10_5)
            #expect(try await MetadataDatabase.currentRevision(of: location, python: env2.python) == "5f2621c13b39")
            #expect(!FileManager.default.fileExists(atPath: af2.databaseFile.path), "no SQLite file appears beside a PostgreSQL DB")
            try await supervisor.start(af2)
            let healthy2 = try await supervisor.waitUntilHealthy(timeout: 480)
            let health2 = await supervisor.health()
            #expect(health2?["scheduler"]?.isHealthy == true)
            #expect(health2?["metadatabase"]?.isHealthy == true)
            var pids = await supervisor.processIDs
            #expect(Set(pids.keys) == ["scheduler", "webserver", "triggerer"])
            await supervisor.stop()
            expectAllGone(pids, home: home)

            // (b) Back up, migrate the same DB with 3.0.6, run it.
            let backup = root.appendingPathComponent("backups/before-3.0.6.dump")
            let backupStart = Date()
            try await MetadataDatabase.backup(location, to: backup, python: env2.python)
            let backupTime = elapsed(backupStart)
            #expect(FileManager.default.fileExists(atPath: backup.path))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: backup.deletingLastPathComponent().path)
            #expect(leftovers == ["before-3.0.6.dump"], "no temporary file left beside the backup: \(leftovers)")
            let migrate3 = try await MetadataDatabase.migrate(af3, expectedHead: MetadataDatabase.head3_0_6)
            #expect(try await MetadataDatabase.currentRevision(of: location, python: env3.python) == "fe199e1abd77")
            try await supervisor.start(af3)
            let healthy3 = try await supervisor.waitUntilHealthy(timeout: 480)
            let health3 = await supervisor.health()
            #expect(health3?["metadatabase"]?.isHealthy == true)
            #expect(health3?["dag_processor"]?.isHealthy == true)
            pids = await supervisor.processIDs
            #expect(Set(pids.keys) == ["api-server", "scheduler", "dag-processor", "triggerer"])
            await supervisor.stop()
            expectAllGone(pids, home: home)

            // Downgrade with the newer (3.0.6) environment, then run 2.10.5 on it again.
            let downgrade = try await MetadataDatabase.downgrade(af3, toRevision: MetadataDatabase.head2_10_5)
            #expect(try await MetadataDatabase.currentRevision(of: location, python: env2.python) == "5f2621c13b39")
            try await supervisor.start(af2)
            let healthy2again = try await supervisor.waitUntilHealthy(timeout: 480)
            pids = await supervisor.processIDs
            await supervisor.stop()
            expectAllGone(pids, home: home)

            // (c) Migrate again (something to undo), then restore the pre-upgrade backup over it.
            try await MetadataDatabase.migrate(af3, expectedHead: MetadataDatabase.head3_0_6)
            let restoreStart = Date()
            try await MetadataDatabase.restore(backup, to: location, python: env2.python)
            let restoreTime = elapsed(restoreStart)
            #expect(try await MetadataDatabase.currentRevision(of: location, python: env2.python) == "5f2621c13b39")
            // The restored DB is what 2.10.5 expects (and the recreated schema does not break a second round).
            let second = root.appendingPathComponent("backups/restored.dump")
            try await MetadataDatabase.backup(location, to: second, python: env2.python)
            try await MetadataDatabase.restore(second, to: location, python: env2.python)
            #expect(try await MetadataDatabase.currentRevision(of: location, python: env2.python) == "5f2621c13b39")

            // A broken backup fails clearly and leaves the database as it was.
            let garbage = root.appendingPathComponent("backups/garbage.dump")
            try Data("not a dump".utf8).write(to: garbage)
            await #expect {
                try await MetadataDatabase.restore(garbage, to: location, python: env2.python)
            } throws: { error in
                (error as? AirlockError)?.message.contains(location.displayName) == true
            }
            #expect(try await MetadataDatabase.currentRevision(of: location, python: env2.python) == "5f2621c13b39")

            print("""
            [local-target postgres timings] environments: \(resolveTime); migrate fresh 2.10.5: \(String(format: "%.1f", migrate2)) s; \
            2.10.5 start→healthy: \(String(format: "%.1f", healthy2)) s; backup (pg_dump): \(backupTime); \
            migrate 2.10.5→3.0.6: \(String(format: "%.1f", migrate3)) s; 3.0.6 start→healthy: \(String(format: "%.1f", healthy3)) s; \
            downgrade 3.0.6→2.10.5: \(String(format: "%.1f", downgrade)) s; 2.10.5 again start→healthy: \(String(format: "%.1f", healthy2again)) s; \
            restore (pg_restore+psql): \(restoreTime)
            """)
        } catch {
            await supervisor.stop()
            try? await MetadataDatabase.dropDatabase(location, python: env2.python)
            throw error
        }
        try await MetadataDatabase.dropDatabase(location, python: env2.python)
        #expect(try await MetadataDatabase.currentRevision(of: location, python: env2.python) == nil)
    }
}

/// Fast checks of the PostgreSQL settings, no server needed.
@Suite struct MetadataDatabaseLocationTests {
    let env = PythonEnvironment(root: URL(fileURLWithPath: "/envs/x"), lockHash: "h", pythonVersion: "3.11")
    let secrets = DeploymentSecrets(fernetKey: "f", sessionSecret: "s")

    func instance(major: Int, database: MetadataDatabaseLocation?) -> AirflowInstance {
        AirflowInstance(environment: env, airflowHome: URL(fileURLWithPath: "/deployments/d"), dagsFolder: URL(fileURLWithPath: "/r/dags"),
                        ports: AirflowPorts(web: 18080, logServer: 18793, triggerLogServer: 18794), airflowMajor: major, database: database)
    }

    @Test func defaultsToSQLiteInTheHome() {
        let plain = instance(major: 2, database: nil)
        #expect(plain.database == .sqlite(file: URL(fileURLWithPath: "/deployments/d/airflow.db")))
        #expect(plain.databaseFile.path == "/deployments/d/airflow.db")
        #expect(MetadataDatabaseLocation.requirements(for: plain.database, airflowMajor: 2).isEmpty)
        #expect(MetadataDatabaseLocation.requirements(for: plain.database, airflowMajor: 3).isEmpty)
    }

    @Test func postgresUsesPsycopg2AndLocalExecutorOnBothMajors() throws {
        let location = try MetadataDatabaseLocation.postgres(validating: "postgresql://af:s%40cret@db.local:5433/airflow")
        let two = instance(major: 2, database: location).processEnvironment(secrets: secrets)
        #expect(two["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://af:s%40cret@db.local:5433/airflow")
        #expect(two["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor")
        #expect(two["AIRFLOW__CORE__AUTH_MANAGER"]?.hasSuffix("FabAuthManager") == true)
        let three = instance(major: 3, database: location).processEnvironment(secrets: secrets)
        #expect(three["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://af:s%40cret@db.local:5433/airflow")
        #expect(three["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor")
        #expect(MetadataDatabaseLocation.requirements(for: location, airflowMajor: 2) == ["psycopg2-binary"])
        #expect(MetadataDatabaseLocation.requirements(for: location, airflowMajor: 3) == ["psycopg2-binary", "asyncpg"])
        #expect(MetadataDatabaseLocation.postgres(url: "postgres://u@h/d").sqlAlchemyURL == "postgresql+psycopg2://u@h/d")
    }

    /// A SQLite backup and restore run with the mark that lets a restarted server find and stop them
    /// (`MetadataDatabase.stopChangesLeftRunning`); a PostgreSQL mark names the database without its password.
    @Test func toolsThatChangeTheDatabaseCarryItsMark() async throws {
        let folder = try TestSupport.scratchFolder("airlock-db-mark")
        defer { try? FileManager.default.removeItem(at: folder) }
        let record = folder.appendingPathComponent("environments")
        let python = folder.appendingPathComponent("python")
        try "#!/bin/sh\necho \"$AIRLOCK_METADATA_DB_CHANGE\" >> '\(record.path)'\nexec /usr/bin/python3 \"$@\"\n"
            .write(to: python, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: python.path)
        let database = MetadataDatabaseLocation.defaultSQLite(home: folder)
        let made = try await ProcessRunner.run("/usr/bin/python3", ["-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('create table t (x)')",
                                                                    folder.appendingPathComponent("airflow.db").path], timeout: 60)
        #expect(made.succeeded, "\(made.stderr)")
        let backup = folder.appendingPathComponent("backups/b.db")
        try await MetadataDatabase.backup(database, to: backup, python: python.path)
        try await MetadataDatabase.restore(backup, to: database, python: python.path)
        let marks = try String(contentsOf: record, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(marks == [database.changeMark.values.first, database.changeMark.values.first], "\(marks)")
        #expect(marks.first == folder.appendingPathComponent("airflow.db").standardizedFileURL.path)

        let postgres = try MetadataDatabaseLocation.postgres(validating: "postgresql://af:s%40cret@db.local:5433/airflow")
        #expect(postgres.changeMark.values.first == "postgresql://af@db.local:5433/airflow")
    }

    @Test func passwordsNeverShow() throws {
        let location = try MetadataDatabaseLocation.postgres(validating: "postgresql://af:s%40cret@db.local:5433/airflow?sslmode=require")
        #expect(location.displayName == "postgresql://af:***@db.local:5433/airflow")
        #expect(location.redacting("FATAL for s@cret and s%40cret") == "FATAL for *** and ***")
        let parts = try #require(PostgresURL("postgresql://af:s%40cret@db.local:5433/airflow?sslmode=require"))
        #expect(parts.libpqURL() == "postgresql://af@db.local:5433/airflow?sslmode=require")
        #expect(parts.libpqURL(database: "postgres") == "postgresql://af@db.local:5433/postgres?sslmode=require")
        #expect(parts.clientEnvironment["PGPASSWORD"] == "s@cret")
        #expect(MetadataDatabaseLocation.postgres(url: "postgresql://af@h/d").displayName == "postgresql://af@h/d")

        #expect(throws: AirlockError.self) { try MetadataDatabaseLocation.postgres(validating: "mysql://u:pw@h/d") }
        do {
            _ = try MetadataDatabaseLocation.postgres(validating: "postgresql://u:pw@h:5432/")
            Issue.record("a URL without a database was accepted")
        } catch {
            #expect(error.message.contains("postgresql://u:***@h:5432/"))
            #expect(!error.message.contains("pw"))
        }
    }
}
