import AirlockCore
import AirlockStorage
import AirlockTestSupport
import Foundation
import PostgresNIO
import Testing

/// `withDeploymentLock` on both stores, held the way servers hold it: two store instances on one database
/// (separate connections or file descriptors, as two `airlock server` processes have) take turns on a
/// deployment and not on another one, and a holder in another process that is SIGKILLed frees the lock.
@Suite struct DeploymentLockTests {
    static let kinds = ["sqlite", "postgresql"]

    /// What the holders did, in order, and which of them may leave.
    actor Events {
        private(set) var list: [String] = []
        private var released: Set<String> = []
        func add(_ event: String) { list.append(event) }
        func release(_ holder: String) { released.insert(holder) }
        func waitForRelease(_ holder: String) async {
            while !released.contains(holder) { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Two stores on one new database, and where the lock is outside the store (the SQLite lock file, the
    /// PostgreSQL database name); nil when PostgreSQL is not configured.
    static func twoStores(_ kind: String) async throws -> (a: any DeployHistoryStore, b: any DeployHistoryStore, folder: URL, database: String)? {
        if kind == "sqlite" {
            let folder = try TestSupport.scratchFolder("airlock-lock")
            let path = folder.appendingPathComponent("airlock.sqlite").path
            return (try SQLiteDeployHistoryStore(path: path), try SQLiteDeployHistoryStore(path: path), folder, "")
        }
        guard let server = PostgresTestServer.shared else {
            #expect(!PostgresTestTools.runsInCI, "CI runs need AIRLOCK_TEST_POSTGRES_URL (scripts/test starts a private cluster)")
            return nil
        }
        let database = try await server.createDatabase()
        let url = server.url(database: database)
        let folder = try TestSupport.scratchFolder("airlock-lock")
        return (try await PostgresDeployHistoryStore.connect(url: url), try await PostgresDeployHistoryStore.connect(url: url), folder, database)
    }

    static func eventually(_ timeout: Duration = .seconds(60), _ check: () async throws -> Bool) async rethrows -> Bool {
        let clock = ContinuousClock(), deadline = clock.now + timeout
        while clock.now < deadline {
            if try await check() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await check()
    }

    @Test(arguments: kinds) func twoHoldersOfOneDeploymentTakeTurnsAndAnotherDeploymentDoesNotWait(kind: String) async throws {
        guard let (a, b, folder, _) = try await Self.twoStores(kind) else { return }
        defer { try? FileManager.default.removeItem(at: folder) }
        let events = Events()
        let first = Task {
            try await a.withDeploymentLock(deploymentId: "dep") {
                await events.add("enter a")
                await events.waitForRelease("a")
                await events.add("leave a")
            }
        }
        #expect(await Self.eventually { await events.list == ["enter a"] })
        let second = Task {
            try await b.withDeploymentLock(deploymentId: "dep") {
                await events.add("enter b")
                await events.add("leave b")
            }
        }
        try await b.withDeploymentLock(deploymentId: "other") { await events.add("other deployment") }
        try await Task.sleep(for: .milliseconds(700))
        #expect(await events.list == ["enter a", "other deployment"], "b waits while a holds the lock")
        await events.release("a")
        try await first.value
        try await second.value
        #expect(await events.list == ["enter a", "other deployment", "leave a", "enter b", "leave b"])

        // A body's error comes back as it was thrown, and the lock is free afterwards.
        let error = await #expect(throws: AirlockError.self) {
            try await a.withDeploymentLock(deploymentId: "dep") { () async throws(AirlockError) in throw .usage("refused") }
        }
        #expect(error?.message == "refused")
        let free = Task { try await b.withDeploymentLock(deploymentId: "dep") { true } }
        let took = try await free.value
        #expect(took)
    }

    /// The lock holder is another process (`flock` on the SQLite store's lock file; `psql` taking the same
    /// advisory lock, proving the key): while it lives the store waits; SIGKILL frees the lock at once.
    @Test(arguments: kinds) func aHolderProcessThatIsKilledFreesTheLock(kind: String) async throws {
        guard let (a, _, folder, database) = try await Self.twoStores(kind) else { return }
        defer { try? FileManager.default.removeItem(at: folder) }
        let holder = Process()
        let input = Pipe(), output = Pipe()
        holder.standardInput = input
        holder.standardOutput = output
        holder.standardError = FileHandle.nullDevice
        if let sqlite = a as? SQLiteDeployHistoryStore {
            let file = sqlite.deploymentLockFile(deploymentId: "dep")
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            // `--close`: the lock stays with flock itself, not with the `sleep` it runs.
            holder.arguments = ["--close", file.path, "sleep", "600"]
        } else {
            let server = try #require(PostgresTestServer.shared)
            holder.executableURL = try PostgresTestTools.psql()
            holder.arguments = [server.url(database: database), "-v", "ON_ERROR_STOP=1", "-q"]
        }
        try holder.run()
        var sleeper: [Int32] = []
        defer {
            if holder.isRunning { kill(holder.processIdentifier, SIGKILL) }
            // flock's `sleep` child, orphaned by the SIGKILL.
            for pid in sleeper { kill(pid, SIGKILL) }
        }
        if kind == "postgresql" {
            let server = try #require(PostgresTestServer.shared)
            try input.fileHandleForWriting.write(contentsOf: Data("SELECT pg_advisory_lock(1097429612, hashtext('dep'));\n".utf8))
            // Held once pg_locks shows it granted (the psql session then sits idle, as a server between queries).
            #expect(try await Self.eventually {
                try await server.withConnection(database: database) { connection in
                    let rows = try await connection.query("""
                        SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND classid = 1097429612 AND granted
                          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        """, logger: PostgresTestServer.logger).collect()
                    return try rows.first?.decode(Int.self) == 1
                }
            })
        } else {
            // flock takes the lock before it starts `sleep`, whose pid then shows up as flock's child.
            #expect(await Self.eventually { !Self.children(of: holder.processIdentifier).isEmpty })
            sleeper = Self.children(of: holder.processIdentifier)
        }
        let entered = Events()
        let waiter = Task { try await a.withDeploymentLock(deploymentId: "dep") { await entered.add("entered") } }
        try await Task.sleep(for: .milliseconds(700))
        #expect(await entered.list.isEmpty, "the store waits while the other process holds the lock")
        let killedAt = ContinuousClock.now
        kill(holder.processIdentifier, SIGKILL)
        try await waiter.value
        #expect(await entered.list == ["entered"])
        #expect(ContinuousClock.now - killedAt < .seconds(30), "freed when the holder died, not after a timeout")
    }

    /// The processes that name `pid` as their parent (read from /proc).
    static func children(of pid: Int32) -> [Int32] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return all.compactMap { entry in
            guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid ? child : nil
        }
    }
}
