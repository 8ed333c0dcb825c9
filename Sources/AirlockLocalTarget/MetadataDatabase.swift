import AirlockCore
import AirlockToolchain
import Foundation

/// The SQLite metadata DB of a local deployment: its schema revision, backups, migrations.
///
/// Revisions are read with the environment's Python and its `sqlite3` module (a fraction of a
/// second, no Airflow import) instead of an `airflow` command (4–8 s each). Migrations are judged by
/// the revision they leave in `alembic_version`, never by exit status alone: 3.x can exit 1 *after*
/// migrating (facts gotcha 2) and could in principle exit 0 short of the head.
public enum MetadataDatabase {
    /// Heads of the versions Airlock knows; callers pass the head they expect explicitly.
    public static let head2_10_5 = "5f2621c13b39"
    public static let head3_0_6 = "fe199e1abd77"

    /// The `alembic_version` of `dbFile`, or nil when the file or the table does not exist yet.
    public static func currentRevision(of dbFile: URL, python: String) async throws(AirlockError) -> String? {
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

    /// Copies `dbFile` to `destination` with SQLite's online backup API (consistent even while Airflow
    /// writes), into a temporary file renamed over `destination` only once complete, so a crash never
    /// leaves a half-written backup where a good one is expected.
    public static func backup(_ dbFile: URL, to destination: URL, python: String) async throws(AirlockError) {
        guard FileManager.default.fileExists(atPath: dbFile.path) else {
            throw .environment("There is no database to back up at `\(dbFile.path)`.")
        }
        try await copy(dbFile, to: destination, python: python, what: "Backing up")
    }

    /// Puts `backup` back as `dbFile`, the same way (online copy into a temporary file, then rename).
    /// Airflow must be stopped: a rename under running components would leave them on the old inode.
    public static func restore(_ backup: URL, to dbFile: URL, python: String) async throws(AirlockError) {
        guard FileManager.default.fileExists(atPath: backup.path) else {
            throw .environment("The backup `\(backup.path)` does not exist.")
        }
        try await copy(backup, to: dbFile, python: python, what: "Restoring")
        // A journal left by the replaced DB would be applied to the restored one.
        for suffix in ["-journal", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: dbFile.path + suffix)
        }
    }

    private static func copy(_ source: URL, to destination: URL, python: String, what: String) async throws(AirlockError) {
        do {
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw .environment("Cannot create `\(destination.deletingLastPathComponent().path)`: \(error.localizedDescription)")
        }
        let temporary = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).tmp")
        let script = """
        import os, sqlite3, sys
        src = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=60)
        dst = sqlite3.connect(sys.argv[2])
        src.backup(dst)
        dst.close(); src.close()
        fd = os.open(sys.argv[2], os.O_RDONLY); os.fsync(fd); os.close(fd)
        os.replace(sys.argv[2], sys.argv[3])
        """
        let output = try await ProcessRunner.run(python, ["-c", script, source.path, temporary.path, destination.path], timeout: 600)
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
                                                 environment: instance.processEnvironment(secrets: secrets),
                                                 workingDirectory: instance.airflowHome.path, timeout: timeout)
        let elapsed = Date().timeIntervalSince(started)
        let revision = try await currentRevision(of: instance.databaseFile, python: instance.environment.python)
        guard revision == expected else {
            let detail = output.timedOut ? "timed out after \(Int(timeout)) s" : "exited with status \(output.status)"
            let tail = (output.stderr + "\n" + output.stdout).split(separator: "\n").suffix(30).joined(separator: "\n")
            throw .environment("\(action) \(detail) and left the database at revision \(revision ?? "none"), expected \(expected).\n\(tail)",
                               hint: "Restore the backup taken before the migration if the database is now unusable.")
        }
        return elapsed
    }
}
