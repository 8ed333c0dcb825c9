import AirlockCore
import AirlockToolchain
import Foundation

/// The metadata DB of a local deployment, SQLite or PostgreSQL: its schema revision, backups, migrations.
///
/// Revisions are read with the environment's Python — its `sqlite3` module, or `psycopg2` for
/// PostgreSQL (installed via `MetadataDatabaseLocation.requirements`) — a fraction of a second and no
/// Airflow import, instead of an `airflow` command (4–8 s each). Migrations are judged by the revision
/// they leave in `alembic_version`, never by exit status alone: 3.x can exit 1 *after* migrating
/// (facts gotcha 2) and could in principle exit 0 short of the head.
///
/// PostgreSQL passwords travel in `PGPASSWORD` only, never on a command line, and every message names
/// the DB by `MetadataDatabaseLocation.displayName` (password as `***`).
public enum MetadataDatabase {
    /// Heads of the versions Airlock knows; callers pass the head they expect explicitly.
    public static let head2_10_5 = "5f2621c13b39"
    public static let head3_0_6 = "fe199e1abd77"

    // MARK: Revision

    /// The `alembic_version` of the DB at `location`, or nil when the DB (SQLite file or PostgreSQL
    /// database) or the table does not exist yet.
    /// - Parameter python: an environment's Python; for PostgreSQL it must have `psycopg2`.
    public static func currentRevision(of location: MetadataDatabaseLocation, python: String) async throws(AirlockError) -> String? {
        switch location {
        case .sqlite(let file): return try await sqliteRevision(of: file, python: python)
        case .postgres: return try await postgresRevision(of: location, python: python)
        }
    }

    /// SQLite shorthand for `currentRevision(of: .sqlite(file:), python:)`, kept for SQLite-only callers.
    public static func currentRevision(of dbFile: URL, python: String) async throws(AirlockError) -> String? {
        try await currentRevision(of: .sqlite(file: dbFile), python: python)
    }

    private static func sqliteRevision(of dbFile: URL, python: String) async throws(AirlockError) -> String? {
        guard FileManager.default.fileExists(atPath: dbFile.path) else { return nil }
        let script = """
        import sqlite3, sys
        c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=30)
        try:
            rows = c.execute("select version_num from alembic_version").fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e): sys.exit(0)
            raise
        print(",".join(sorted(r[0] for r in rows)))
        """
        let output = try await ProcessRunner.run(python, ["-c", script, dbFile.path], timeout: 60)
        guard output.succeeded else {
            throw .environment("Cannot read the schema revision of `\(dbFile.path)`:\n\(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let revision = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return revision.isEmpty ? nil : revision
    }

    /// `to_regclass` rather than catching "relation does not exist": it follows the same `search_path`
    /// Airflow's migrations use and leaves no aborted transaction behind.
    private static func postgresRevision(of location: MetadataDatabaseLocation, python: String) async throws(AirlockError) -> String? {
        let script = """
        import os, sys
        try:
            import psycopg2
        except ImportError:
            sys.exit("psycopg2 is not installed in this environment")
        try:
            c = psycopg2.connect(os.environ["AIRLOCK_PG_URL"])
        except psycopg2.OperationalError as e:
            m = str(e)
            if 'database "' in m and "does not exist" in m: sys.exit(0)
            raise
        cur = c.cursor()
        cur.execute("select to_regclass('alembic_version')")
        if cur.fetchone()[0] is not None:
            cur.execute("select version_num from alembic_version")
            print(",".join(sorted(r[0] for r in cur.fetchall())))
        c.close()
        """
        let output = try await runPostgresPython(location, python: python, script: script, timeout: 60)
        guard output.succeeded else {
            throw .environment("Cannot read the schema revision of `\(location.displayName)`:\n\(tail(output, of: location, lines: 10))",
                               hint: hintForPython(output, location: location))
        }
        let revision = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return revision.isEmpty ? nil : revision
    }

    // MARK: Creating and dropping (PostgreSQL)

    /// Creates the PostgreSQL database of `location` when it does not exist yet (`airflow db migrate`
    /// creates tables, never the database), connecting to the server's `postgres` database; the role
    /// needs `CREATEDB` then. Does nothing for SQLite (the file appears on the first migration).
    /// - Returns: whether it created the database.
    @discardableResult
    public static func createDatabaseIfMissing(_ location: MetadataDatabaseLocation, python: String) async throws(AirlockError) -> Bool {
        guard case .postgres(let url) = location, let parts = PostgresURL(url) else { return false }
        let script = """
        import os, sys
        import psycopg2
        from psycopg2 import sql
        c = psycopg2.connect(os.environ["AIRLOCK_PG_URL"])
        c.autocommit = True
        cur = c.cursor()
        cur.execute("select 1 from pg_database where datname = %s", (sys.argv[1],))
        if cur.fetchone() is None:
            try:
                cur.execute(sql.SQL("create database {}").format(sql.Identifier(sys.argv[1])))
                print("created")
            except psycopg2.errors.DuplicateDatabase:
                pass
        c.close()
        """
        let output = try await runPostgresPython(location, python: python, script: script, arguments: [parts.database],
                                                 connectTo: "postgres", timeout: 120)
        guard output.succeeded else {
            throw .environment("Cannot create the database `\(location.displayName)`:\n\(tail(output, of: location, lines: 10))",
                               hint: hintForPython(output, location: location) ?? "Create it yourself, or give the role CREATEDB.")
        }
        return output.stdout.contains("created")
    }

    /// Drops the PostgreSQL database of `location`, disconnecting its sessions (`WITH (FORCE)`, PostgreSQL
    /// 13+). For tests and for removing a deployment; does nothing for SQLite.
    static func dropDatabase(_ location: MetadataDatabaseLocation, python: String) async throws(AirlockError) {
        guard case .postgres(let url) = location, let parts = PostgresURL(url) else { return }
        let script = """
        import os, sys
        import psycopg2
        from psycopg2 import sql
        c = psycopg2.connect(os.environ["AIRLOCK_PG_URL"])
        c.autocommit = True
        c.cursor().execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(sys.argv[1])))
        c.close()
        """
        let output = try await runPostgresPython(location, python: python, script: script, arguments: [parts.database],
                                                 connectTo: "postgres", timeout: 120)
        guard output.succeeded else {
            throw .environment("Cannot drop the database `\(location.displayName)`:\n\(tail(output, of: location, lines: 10))")
        }
    }

    // MARK: Backup and restore

    /// Backs up the DB at `location` into `destination`, via a temporary file renamed over `destination`
    /// only once complete and synced, so a crash never leaves a half-written backup where a good one
    /// is expected.
    ///
    /// - SQLite: SQLite's online backup API (consistent even while Airflow writes); `python` is used.
    /// - PostgreSQL: `pg_dump -Fc` (one consistent snapshot even while Airflow writes; 0.2 s for an
    ///   Airflow DB). Needs the PostgreSQL client tools (`pg_dump` no older than the server), found in
    ///   `/usr/lib/postgresql/*/bin`, `pg_config --bindir` or `PATH`.
    public static func backup(_ location: MetadataDatabaseLocation, to destination: URL, python: String) async throws(AirlockError) {
        switch location {
        case .sqlite(let dbFile):
            guard FileManager.default.fileExists(atPath: dbFile.path) else {
                throw .environment("There is no database to back up at `\(dbFile.path)`.")
            }
            try await copy(dbFile, to: destination, python: python, what: "Backing up", mark: location.changeMark)
        case .postgres(let url):
            guard let parts = PostgresURL(url) else { throw invalidURL(location) }
            let pgDump = try PostgresClientTools.locate("pg_dump")
            try createFolder(destination.deletingLastPathComponent())
            let temporary = temporaryFile(beside: destination)
            defer { try? FileManager.default.removeItem(at: temporary) }
            let output = try await ProcessRunner.run(pgDump, ["--format=custom", "--file", temporary.path, "--dbname", parts.libpqURL()],
                                                     environment: parts.clientEnvironment.merging(location.changeMark) { $1 }, timeout: 600)
            guard output.succeeded else {
                throw .environment("Backing up `\(location.displayName)` to `\(destination.path)` with pg_dump failed "
                                   + "(\(describe(output, timeout: 600))):\n\(tail(output, of: location, lines: 15))")
            }
            try syncAndRename(temporary, to: destination)
        }
    }

    /// SQLite shorthand for `backup(.sqlite(file:), to:python:)`, kept for SQLite-only callers.
    public static func backup(_ dbFile: URL, to destination: URL, python: String) async throws(AirlockError) {
        try await backup(.sqlite(file: dbFile), to: destination, python: python)
    }

    /// Puts `backup` (made by `backup(_:to:python:)` from the same kind of DB) back at `location`.
    /// Airflow must be stopped.
    ///
    /// - SQLite: online copy into a temporary file, then rename (a rename under running components
    ///   would leave them on the old inode), and stale journals removed.
    /// - PostgreSQL: replaces the `public` schema in one transaction: `DROP SCHEMA public CASCADE;
    ///   CREATE SCHEMA public`, then the backup's SQL (from `pg_restore --no-owner`), applied by `psql`
    ///   with `ON_ERROR_STOP` and `--single-transaction`, so a failed restore changes nothing.
    ///   `pg_restore --clean` into a migrated DB fails on FAB's dependent constraints (facts gotcha 11),
    ///   and dropping the whole database would need `CREATEDB` and no other sessions; the schema
    ///   belongs to the database owner, the role Airflow connects as. The backup's own `public` schema
    ///   entry (present when the schema was recreated before) is skipped, as the transaction made it.
    ///   A `lock_timeout` turns a forgotten running component into an error instead of a hang.
    public static func restore(_ backup: URL, to location: MetadataDatabaseLocation, python: String) async throws(AirlockError) {
        guard FileManager.default.fileExists(atPath: backup.path) else {
            throw .environment("The backup `\(backup.path)` does not exist.")
        }
        switch location {
        case .sqlite(let dbFile):
            try await copy(backup, to: dbFile, python: python, what: "Restoring", mark: location.changeMark)
            // A journal left by the replaced DB would be applied to the restored one.
            for suffix in ["-journal", "-wal", "-shm"] {
                try? FileManager.default.removeItem(atPath: dbFile.path + suffix)
            }
        case .postgres(let url):
            guard let parts = PostgresURL(url) else { throw invalidURL(location) }
            try await restorePostgres(backup, to: location, parts: parts)
        }
    }

    /// SQLite shorthand for `restore(_:to: .sqlite(file:), python:)`, kept for SQLite-only callers.
    public static func restore(_ backup: URL, to dbFile: URL, python: String) async throws(AirlockError) {
        try await restore(backup, to: .sqlite(file: dbFile), python: python)
    }

    private static func restorePostgres(_ backup: URL, to location: MetadataDatabaseLocation, parts: PostgresURL) async throws(AirlockError) {
        let pgRestore = try PostgresClientTools.locate("pg_restore")
        let psql = try PostgresClientTools.locate("psql")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-pgrestore-\(UUID().uuidString)")
        try createFolder(scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let what = "Restoring `\(backup.path)` into `\(location.displayName)`"

        // 1. The backup's table of contents, without the `public` schema itself (recreated below).
        let listing = try await ProcessRunner.run(pgRestore, ["--list", backup.path], timeout: 120)
        guard listing.succeeded else {
            throw .environment("\(what) failed: `pg_restore --list` cannot read the backup (\(describe(listing, timeout: 120))):\n"
                               + tail(listing, of: location, lines: 10))
        }
        let entries = listing.stdout.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            !(line.contains(" SCHEMA - public ") || line.contains(" - SCHEMA public "))
        }
        let list = scratch.appendingPathComponent("toc.list")
        let script = scratch.appendingPathComponent("restore.sql")
        do {
            try entries.joined(separator: "\n").write(to: list, atomically: true, encoding: .utf8)
        } catch {
            throw .environment("\(what) failed: cannot write `\(list.path)`: \(error.localizedDescription)")
        }

        // 2. The backup as SQL, owners left out: the restoring role owns what it creates.
        let render = try await ProcessRunner.run(pgRestore, ["--no-owner", "--use-list", list.path, "--file", script.path, backup.path], timeout: 600)
        guard render.succeeded else {
            throw .environment("\(what) failed: pg_restore exited with \(describe(render, timeout: 600)):\n\(tail(render, of: location, lines: 15))")
        }

        // 3. Replace the schema and load, all in one transaction.
        var environment = parts.clientEnvironment.merging(location.changeMark) { $1 }
        environment["PGOPTIONS"] = "-c lock_timeout=60000 -c client_min_messages=warning"
        let apply = try await ProcessRunner.run(psql, ["--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--single-transaction",
                                                       "--command", "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;",
                                                       "--file", script.path, "--dbname", parts.libpqURL()],
                                                environment: environment, timeout: 600)
        guard apply.succeeded else {
            throw .environment("\(what) failed; the database is unchanged (psql \(describe(apply, timeout: 600))):\n\(tail(apply, of: location, lines: 15))",
                               hint: "Stop every Airflow component using the database and try again.")
        }
    }

    private static func copy(_ source: URL, to destination: URL, python: String, what: String,
                             mark: [String: String]) async throws(AirlockError) {
        try createFolder(destination.deletingLastPathComponent())
        let temporary = temporaryFile(beside: destination)
        let script = """
        import os, sqlite3, sys
        src = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=60)
        dst = sqlite3.connect(sys.argv[2])
        src.backup(dst)
        dst.close(); src.close()
        fd = os.open(sys.argv[2], os.O_RDONLY); os.fsync(fd); os.close(fd)
        os.replace(sys.argv[2], sys.argv[3])
        """
        let output = try await ProcessRunner.run(python, ["-c", script, source.path, temporary.path, destination.path],
                                                 environment: mark, timeout: 600)
        try? FileManager.default.removeItem(at: temporary)
        guard output.succeeded else {
            throw .environment("\(what) `\(source.path)` to `\(destination.path)` failed:\n\(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// `airflow db migrate` with `instance`'s environment; succeeds when the DB is at `expectedHead`.
    ///
    /// Take a `backup` first when the DB already exists: the 2.x→3.0 migration deletes task
    /// instances on SQLite (facts gotcha 1).
    /// - Returns: seconds the command took.
    @discardableResult
    public static func migrate(_ instance: AirflowInstance, expectedHead: String, timeout: Double = 600) async throws(AirlockError) -> Double {
        try await runAirflow(instance, ["db", "migrate"], expected: expectedHead, action: "`airflow db migrate`", timeout: timeout)
    }

    /// `airflow db downgrade -r REV -y` with `instance`'s environment, which must be the *newer* one:
    /// only it has the downgrade scripts (SPEC §4.3 rule 7). Below 3.0 it also needs the FAB provider
    /// installed (facts gotcha 3). Succeeds when the DB is at `revision`.
    /// - Returns: seconds the command took.
    @discardableResult
    public static func downgrade(_ instance: AirflowInstance, toRevision revision: String, timeout: Double = 600) async throws(AirlockError) -> Double {
        try await runAirflow(instance, ["db", "downgrade", "-r", revision, "-y"], expected: revision,
                             action: "`airflow db downgrade -r \(revision)`", timeout: timeout)
    }

    /// Moves the rows a SQLite downgrade left pointing at rows that no longer exist into
    /// `_airflow_moved__airlock_<UTC yyyymmddHHMMSS>__dangling__<table>` tables, and returns how many per table.
    ///
    /// Why: downgrading below 3.0 moves DAG runs without a logical date (every 3.x manual run) to
    /// `_airflow_moved__3_0_0__offending_dag_run` and deletes them, but on SQLite (foreign keys off
    /// during migrations) their task instances stay behind. 2.x runs with them, yet the next upgrade
    /// fails: 3.0.6's `d59cbbef95eb` copies `task_instance` with foreign keys on and stops at
    /// `FOREIGN KEY constraint failed`, so the deployment could never upgrade again. Airflow itself
    /// keeps data it cannot migrate in `_airflow_moved__…` tables (and 2.x's UI lists them), so that is
    /// where these rows go, not away. Found with `PRAGMA foreign_key_check`, repeated until clean
    /// (moving a task instance leaves its notes and XComs dangling in turn), in one transaction.
    /// Rows whose parent *table* is missing are left alone (that is a schema question, not dangling
    /// data). PostgreSQL enforces foreign keys during migrations, so there is nothing to do there.
    @discardableResult
    public static func moveDanglingRows(of location: MetadataDatabaseLocation, python: String) async throws(AirlockError) -> [String: Int] {
        guard case .sqlite(let dbFile) = location, FileManager.default.fileExists(atPath: dbFile.path) else { return [:] }
        let script = """
        import sqlite3, sys, time
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        c = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
        c.execute("PRAGMA foreign_keys=OFF")
        q = lambda name: '"' + name.replace('"', '""') + '"'
        c.execute("BEGIN IMMEDIATE")
        moved = {}
        try:
            tables = {r[0] for r in c.execute("select name from sqlite_master where type = 'table'")}
            for _ in range(20):
                try:
                    rows = c.execute("PRAGMA foreign_key_check").fetchall()
                except sqlite3.DatabaseError as e:
                    if "foreign key mismatch" in str(e): break
                    raise
                dangling = {}
                for table, rowid, parent, _fk in rows:
                    if parent in tables and rowid is not None:
                        dangling.setdefault(table, set()).add(int(rowid))
                if not dangling: break
                for table, ids in sorted(dangling.items()):
                    target = "_airflow_moved__airlock_" + stamp + "__dangling__" + table
                    if target not in tables:
                        c.execute(f"create table {q(target)} as select * from {q(table)} where 0")
                        tables.add(target)
                    where = "rowid in (" + ",".join(map(str, sorted(ids))) + ")"
                    c.execute(f"insert into {q(target)} select * from {q(table)} where {where}")
                    c.execute(f"delete from {q(table)} where {where}")
                    moved[table] = moved.get(table, 0) + len(ids)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        for table, count in sorted(moved.items()):
            print(f"{table}\t{count}")
        """
        let output = try await ProcessRunner.run(python, ["-c", script, dbFile.path], environment: location.changeMark, timeout: 120)
        guard output.succeeded else {
            throw .environment("Checking `\(dbFile.path)` for rows left without their parent row failed:\n"
                               + output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        var moved: [String: Int] = [:]
        for line in output.stdout.split(separator: "\n") {
            let fields = line.split(separator: "\t")
            if fields.count == 2, let count = Int(fields[1]) { moved[String(fields[0])] = count }
        }
        return moved
    }

    /// Stops every tool that a killed server left changing `location` (see `MetadataDatabaseLocation.changeMark`):
    /// SIGTERM, 10 s, then SIGKILL. Returns how many there were. Call it holding the deployment's lock, so that
    /// no live holder's tool is running.
    @discardableResult
    public static func stopChangesLeftRunning(on location: MetadataDatabaseLocation) -> Int {
        ChildProcessGroups.stopProcesses(withEnvironmentEntry: location.changeMarkEntry, grace: 10)
    }

    private static func runAirflow(_ instance: AirflowInstance, _ arguments: [String], expected: String, action: String,
                                   timeout: Double) async throws(AirlockError) -> Double {
        do {
            try FileManager.default.createDirectory(at: instance.airflowHome, withIntermediateDirectories: true)
        } catch {
            throw .environment("Cannot create `\(instance.airflowHome.path)`: \(error.localizedDescription)")
        }
        let secrets = try DeploymentSecrets.load(home: instance.airflowHome)
        let started = Date()
        let output = try await ProcessRunner.run(instance.environment.bin.appendingPathComponent("airflow").path, arguments,
                                                 environment: instance.processEnvironment(secrets: secrets).merging(instance.database.changeMark) { $1 },
                                                 workingDirectory: instance.airflowHome.path, timeout: timeout)
        let elapsed = Date().timeIntervalSince(started)
        let revision = try await currentRevision(of: instance.database, python: instance.environment.python)
        guard revision == expected else {
            let detail = output.timedOut ? "timed out after \(Int(timeout)) s" : "exited with status \(output.status)"
            let tail = instance.database.redacting((output.stderr + "\n" + output.stdout).split(separator: "\n").suffix(30).joined(separator: "\n"))
            throw .environment("\(action) \(detail) and left the database `\(instance.database.displayName)` at revision \(revision ?? "none"), expected \(expected).\n\(tail)",
                               hint: "Restore the backup taken before the migration if the database is now unusable.")
        }
        return elapsed
    }

    // MARK: Helpers

    /// Runs a psycopg2 snippet with the connection URL (password-free) in `AIRLOCK_PG_URL` and the
    /// password in `PGPASSWORD`, which libpq reads itself.
    private static func runPostgresPython(_ location: MetadataDatabaseLocation, python: String, script: String, arguments: [String] = [],
                                          connectTo database: String? = nil, timeout: Double) async throws(AirlockError) -> ProcessOutput {
        guard case .postgres(let url) = location, let parts = PostgresURL(url) else { throw invalidURL(location) }
        var environment = parts.clientEnvironment
        environment["AIRLOCK_PG_URL"] = parts.libpqURL(database: database)
        return try await ProcessRunner.run(python, ["-c", script] + arguments, environment: environment, timeout: timeout)
    }

    private static func hintForPython(_ output: ProcessOutput, location: MetadataDatabaseLocation) -> String? {
        guard output.stderr.contains("psycopg2") && (output.stderr.contains("not installed") || output.stderr.contains("No module named")) else {
            return nil
        }
        return "Add \(MetadataDatabaseLocation.requirements(for: location, airflowMajor: 3).joined(separator: " and ")) to the environment."
    }

    private static func tail(_ output: ProcessOutput, of location: MetadataDatabaseLocation, lines: Int) -> String {
        let text = (output.stderr + "\n" + output.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
        return location.redacting(text.split(separator: "\n").suffix(lines).joined(separator: "\n"))
    }

    private static func describe(_ output: ProcessOutput, timeout: Double) -> String {
        output.timedOut ? "timed out after \(Int(timeout)) s" : "status \(output.status)"
    }

    private static func invalidURL(_ location: MetadataDatabaseLocation) -> AirlockError {
        .usage("`\(location.displayName)` is not a PostgreSQL URL.", hint: "Use postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE.")
    }

    private static func createFolder(_ folder: URL) throws(AirlockError) {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw .environment("Cannot create `\(folder.path)`: \(error.localizedDescription)")
        }
    }

    private static func temporaryFile(beside destination: URL) -> URL {
        destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).tmp")
    }

    /// fsync, then rename: the backup is either complete at `destination` or absent.
    private static func syncAndRename(_ temporary: URL, to destination: URL) throws(AirlockError) {
        let fd = open(temporary.path, O_RDONLY)
        if fd >= 0 { _ = fsync(fd); close(fd) }
        guard rename(temporary.path, destination.path) == 0 else {
            throw .environment("Cannot move the backup into place at `\(destination.path)`: \(String(cString: strerror(errno)))")
        }
    }
}

/// Finds the PostgreSQL client programs (psql, pg_dump, pg_restore).
///
/// Debian installs them in `/usr/lib/postgresql/<major>/bin` and puts only wrappers (if anything) on
/// `PATH`, so that folder comes first, newest major first: `pg_dump` refuses servers newer than itself.
enum PostgresClientTools {
    static func locate(_ name: String) throws(AirlockError) -> String {
        var folders: [String] = []
        let base = "/usr/lib/postgresql"
        let majors = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
            .compactMap { Int($0) }.sorted(by: >)
        folders += majors.map { "\(base)/\($0)/bin" }
        for folder in folders where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
            return "\(folder)/\(name)"
        }
        if let found = ProcessRunner.which(name) { return found }
        throw .environment("`\(name)` (PostgreSQL client tools) was not found in /usr/lib/postgresql/*/bin or on PATH.",
                           hint: "Install the PostgreSQL client (Debian: postgresql-client).")
    }
}
