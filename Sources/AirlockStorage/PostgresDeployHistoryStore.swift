import AirlockCore
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL `DeployHistoryStore` (SPEC §4.5), for servers that share one database
/// (`airlock server --database-url postgresql://…`). Same contract, schema and messages as
/// `SQLiteDeployHistoryStore`; validation, row mapping and audit events come from `DeployHistoryRecords`.
///
/// Schema (migration `v1`, recorded in `airlock_migrations`): the SQLite tables with native types
/// (`BOOLEAN`, `DOUBLE PRECISION` Unix seconds, `BIGINT`), PL/pgSQL triggers for `deploy_count` and the
/// append-only `audit_events`, and a `(deployment_id, sequence DESC)` unique index that backs sequence
/// numbers and serves history pages. Later migrations as in SQLite (`v4`: `deploys.target_image`, `helm_revision`; `v5`: `web_sessions`).
///
/// Concurrency: every write is one transaction. Writers that depend on a deployment's state (new deploys,
/// mark deployed/failed, settings, pin) first lock the deployment row (`SELECT … FOR UPDATE`), so concurrent
/// creators take turns for max+1 and never share a sequence number.
public final class PostgresDeployHistoryStore: DeployHistoryStore {
    /// The database URL without its password (for messages and logs).
    public let location: String
    private let client: PostgresClient
    /// Where `withDeploymentLock` opens its own connections.
    private let server: PostgresURL
    private let runner: Task<Void, Never>
    private let now: @Sendable () -> Date
    private let logger: Logger

    private init(location: String, client: PostgresClient, server: PostgresURL, now: @escaping @Sendable () -> Date, logger: Logger) {
        self.location = location
        self.server = server
        self.client = client
        self.now = now
        self.logger = logger
        runner = Task { await client.run() }
    }

    /// The pool lives as long as the store: dropping the last reference closes its connections.
    deinit { runner.cancel() }

    /// Connects to `url` (`postgresql://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`,
    /// or `postgres://…`) and applies pending migrations. Checks the server with one connection first, so an
    /// unreachable server or a refused login fails here with a clear `.environment` error instead of later.
    public static func connect(url: String, now: @escaping @Sendable () -> Date = { Date() }) async throws(AirlockError) -> PostgresDeployHistoryStore {
        let target = try PostgresURL(parsing: url)
        var logger = Logger(label: "airlock.deploy-history.postgres")
        logger.logLevel = .error
        do {
            let connection = try await PostgresConnection.connect(configuration: try target.connectionConfiguration(), id: 1, logger: logger)
            do {
                try await migrate(PostgresSession(connection: connection, logger: logger), location: target.redacted)
            } catch {
                try? await connection.close()
                throw error
            }
            try? await connection.close()
        } catch {
            throw mapError(error, location: target.redacted, connecting: true)
        }
        return PostgresDeployHistoryStore(location: target.redacted, client: PostgresClient(configuration: target.clientConfiguration()),
                                          server: target, now: now, logger: logger)
    }

    /// Closes the pool's connections and waits for it to stop. The store cannot be used afterwards.
    public func shutdown() async {
        runner.cancel()
        await runner.value
    }

    // MARK: Migrations

    /// Versioned migrations: `v1`, `v2`, … Each runs once per database, recorded in `airlock_migrations`.
    /// Never edit a shipped migration; add the next one. One statement per string (extended protocol).
    static let migrations: [(identifier: String, statements: [String])] = [
        ("v1", [
            """
            CREATE TABLE deployments (
                id TEXT PRIMARY KEY NOT NULL,
                name TEXT NOT NULL,
                target TEXT NOT NULL,
                settings TEXT NOT NULL,
                current_deploy_id TEXT,
                pinned TEXT,
                deploy_count BIGINT NOT NULL DEFAULT 0
            )
            """,
            "CREATE UNIQUE INDEX deployments_name ON deployments (name)",
            """
            CREATE TABLE deploys (
                id TEXT PRIMARY KEY NOT NULL,
                deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE RESTRICT,
                sequence BIGINT NOT NULL CHECK (sequence >= 1),
                type TEXT NOT NULL,
                status TEXT NOT NULL,
                description TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                created_by TEXT NOT NULL,
                image TEXT,
                dag_bundle_version TEXT,
                dag_deploy_enabled BOOLEAN NOT NULL,
                db_schema_head TEXT,
                git TEXT,
                rollback_from_id TEXT REFERENCES deploys (id),
                rollback_to_id TEXT REFERENCES deploys (id),
                artifacts_stored BOOLEAN NOT NULL DEFAULT TRUE,
                ever_deployed BOOLEAN NOT NULL DEFAULT FALSE
            )
            """,
            // History pages (newest first), max+1 sequence numbers, and their uniqueness.
            "CREATE UNIQUE INDEX deploys_deployment_sequence ON deploys (deployment_id, sequence DESC)",
            // Parent key of deployments.current_deploy_id: a deployment points at its own deploys only.
            "ALTER TABLE deploys ADD CONSTRAINT deploys_deployment_id UNIQUE (deployment_id, id)",
            """
            ALTER TABLE deployments ADD CONSTRAINT deployments_current_deploy
                FOREIGN KEY (id, current_deploy_id) REFERENCES deploys (deployment_id, id)
            """,
            """
            CREATE FUNCTION airlock_deploys_count() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('DELETE', 'UPDATE') THEN
                    UPDATE deployments SET deploy_count = deploy_count - 1 WHERE id = OLD.deployment_id;
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN
                    UPDATE deployments SET deploy_count = deploy_count + 1 WHERE id = NEW.deployment_id;
                END IF;
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER deploys_count AFTER INSERT OR DELETE OR UPDATE OF deployment_id ON deploys
                FOR EACH ROW EXECUTE FUNCTION airlock_deploys_count()
            """,
            """
            CREATE TABLE audit_events (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                at DOUBLE PRECISION NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                deployment_id TEXT,
                before_deploy_id TEXT,
                after_deploy_id TEXT,
                before_runtime TEXT,
                after_runtime TEXT,
                outcome TEXT NOT NULL,
                request_id TEXT,
                detail TEXT
            )
            """,
            "CREATE INDEX audit_events_deployment ON audit_events (deployment_id, seq)",
            """
            CREATE FUNCTION airlock_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit events are append-only';
            END $$
            """,
            """
            CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
                FOR EACH ROW EXECUTE FUNCTION airlock_audit_append_only()
            """,
            """
            CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
                FOR EACH STATEMENT EXECUTE FUNCTION airlock_audit_append_only()
            """,
            """
            CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY NOT NULL,
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                secret_sha256 TEXT NOT NULL UNIQUE,
                created_at DOUBLE PRECISION NOT NULL,
                revoked_at DOUBLE PRECISION
            )
            """,
        ]),
        ("v2", [
            "ALTER TABLE api_tokens ADD COLUMN last_used_at DOUBLE PRECISION",
            // The audit log's filters (newest first within an actor or an action).
            "CREATE INDEX audit_events_actor ON audit_events (actor, seq)",
            "CREATE INDEX audit_events_action ON audit_events (action, seq)",
        ]),
        // Deploy History search index: trigram GIN indexes (pg_trgm) on the searched text, so `ILIKE '%…%'`
        // of three or more characters reads the rows that contain it instead of scanning the history. The
        // extension needs the right to create it (trusted since PostgreSQL 13: the database owner may);
        // where it cannot be had, the block's own subtransaction undoes it, nothing is created, and
        // searches scan as before.
        ("v3", [
            """
            DO $$
            BEGIN
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
                CREATE INDEX deploys_search_description ON deploys USING gin (description gin_trgm_ops);
                CREATE INDEX deploys_search_created_by ON deploys USING gin (created_by gin_trgm_ops);
                CREATE INDEX deploys_search_airflow_version ON deploys USING gin ((image::jsonb ->> 'airflowVersion') gin_trgm_ops);
                CREATE INDEX deploys_search_runtime_version ON deploys USING gin ((image::jsonb ->> 'runtimeVersion') gin_trgm_ops);
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'pg_trgm is not available (%): Deploy History searches scan the history', SQLERRM;
            END $$
            """,
        ]),
        // What the target ran, kept on the deploy (issue #13 items 3, 4): the image reference by digest and
        // the Helm revision. Deploys recorded before stay NULL (unknown); nothing else changes.
        ("v4", [
            "ALTER TABLE deploys ADD COLUMN target_image TEXT",
            "ALTER TABLE deploys ADD COLUMN helm_revision BIGINT",
        ]),
        // The web UI's sessions (issue 12): in the store, so they survive a restart and every server knows them.
        ("v5", [
            """
            CREATE TABLE web_sessions (
                id_sha256 TEXT PRIMARY KEY,
                token_id TEXT NOT NULL REFERENCES api_tokens (id),
                csrf TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            )
            """,
            "CREATE INDEX web_sessions_token ON web_sessions (token_id)",
            "CREATE INDEX web_sessions_expiry ON web_sessions (expires_at)",
        ]),
    ]

    /// Applies pending migrations in one transaction. A transaction-scoped advisory lock makes two
    /// processes starting at once take turns: the second finds the work done.
    private static func migrate(_ session: PostgresSession, location: String) async throws {
        try await session.transaction { db in
            try await db.execute("SELECT pg_advisory_xact_lock(\(migrationLockKey))")
            try await db.execute("""
                CREATE TABLE IF NOT EXISTS airlock_migrations (
                    identifier TEXT PRIMARY KEY NOT NULL,
                    applied_at DOUBLE PRECISION NOT NULL
                )
                """)
            let applied = Set(try await db.rows("SELECT identifier FROM airlock_migrations").map { try $0.string("identifier") })
            let known = Set(migrations.map(\.identifier))
            guard applied.isSubset(of: known) else {
                throw AirlockError.environment("The deploy history database at \(location) was created by a newer Airlock",
                                               hint: "upgrade Airlock, or point it at another database")
            }
            for migration in migrations where !applied.contains(migration.identifier) {
                for statement in migration.statements {
                    try await db.execute(PostgresQuery(unsafeSQL: statement))
                }
                let at = Date().timeIntervalSince1970
                try await db.execute("INSERT INTO airlock_migrations (identifier, applied_at) VALUES (\(migration.identifier), \(at))")
            }
        }
    }

    /// `pg_advisory_xact_lock` key for migrations: a fixed number, the same in every Airlock.
    private static let migrationLockKey: Int = 0x4169_726C_6F63_6B01  // "Airlock" + 1

    /// The applied migrations, oldest first (`["v1"]`).
    public func appliedMigrations() async throws(AirlockError) -> [String] {
        try await read { db in
            try await db.rows("SELECT identifier FROM airlock_migrations ORDER BY applied_at, identifier").map { try $0.string("identifier") }
        }
    }

    public func schemaVersion() async throws(AirlockError) -> Int {
        try await appliedMigrations().compactMap { Int($0.dropFirst()) }.max() ?? 0
    }

    // MARK: Deployments

    @discardableResult
    public func createDeployment(_ deployment: Deployment) async throws(AirlockError) -> Deployment {
        let (settings, pinned) = try DeployHistoryRecords.validateNewDeployment(deployment)
        return try await write(uniqueViolation: { constraint in
            // A concurrent creator got past the checks below first.
            switch constraint {
            case "deployments_name": DeployHistoryRecords.duplicateDeploymentName(deployment.name)
            case "deployments_pkey": DeployHistoryRecords.duplicateDeploymentId(deployment.id)
            default: nil
            }
        }) { db in
            if try await db.one("SELECT 1 FROM deployments WHERE name = \(deployment.name)") != nil {
                throw DeployHistoryRecords.duplicateDeploymentName(deployment.name)
            }
            if try await db.one("SELECT 1 FROM deployments WHERE id = \(deployment.id)") != nil {
                throw DeployHistoryRecords.duplicateDeploymentId(deployment.id)
            }
            try await db.execute("""
                INSERT INTO deployments (id, name, target, settings, current_deploy_id, pinned)
                VALUES (\(deployment.id), \(deployment.name), \(deployment.target.rawValue), \(settings), NULL, \(pinned))
                """)
            return deployment
        }
    }

    public func deployment(named name: String) async throws(AirlockError) -> Deployment? {
        try await read { db in
            try await db.one("SELECT * FROM deployments WHERE name = \(name)").map(DeployHistoryRecords.deployment(from:))
        }
    }

    public func deployment(id: String) async throws(AirlockError) -> Deployment? {
        try await read { db in try await Self.fetchDeployment(db, id: id) }
    }

    public func listDeployments() async throws(AirlockError) -> [Deployment] {
        try await read { db in
            try await db.rows("SELECT * FROM deployments ORDER BY name").map(DeployHistoryRecords.deployment(from:))
        }
    }

    @discardableResult
    public func updateSettings(deploymentId: String, settings: DeploymentSettings, actor: String,
                               requestId: String?) async throws(AirlockError) -> Deployment {
        let encoded = try DeployHistoryRecords.json(settings)
        let at = now()
        let eventId = DeployHistoryRecords.newId()
        return try await write { db in
            var deployment = try await Self.requireDeployment(db, id: deploymentId, forUpdate: true)
            let event = DeployHistoryRecords.settingsEvent(id: eventId, at: at, actor: actor, requestId: requestId,
                                                           deployment: deployment, newSettings: settings)
            deployment.settings = settings
            try await db.execute("UPDATE deployments SET settings = \(encoded) WHERE id = \(deploymentId)")
            try await Self.insertAudit(db, event)
            return deployment
        }
    }

    @discardableResult
    public func setPin(deploymentId: String, pin: Deployment.Pin?, actor: String,
                       requestId: String?) async throws(AirlockError) -> Deployment {
        let encoded = try pin.map { pin throws(AirlockError) in try DeployHistoryRecords.json(pin) }
        let at = now()
        let eventId = DeployHistoryRecords.newId()
        return try await write { db in
            var deployment = try await Self.requireDeployment(db, id: deploymentId, forUpdate: true)
            let event = DeployHistoryRecords.pinEvent(id: eventId, at: at, actor: actor, requestId: requestId, deployment: deployment, pin: pin)
            deployment.pinned = pin
            try await db.execute("UPDATE deployments SET pinned = \(encoded) WHERE id = \(deploymentId)")
            try await Self.insertAudit(db, event)
            return deployment
        }
    }

    // MARK: Deploys

    @discardableResult
    public func createDeploy(_ deploy: Deploy) async throws(AirlockError) -> Deploy {
        try await createDeploys([deploy]).first ?? deploy
    }

    /// Numbers and inserts the deploys in one transaction, with the deployment rows locked: each
    /// deployment's max+1 is read once, then counted up locally (nobody else can number meanwhile),
    /// and rows go in as multi-row INSERTs (imports and the 100k benchmark stay fast).
    @discardableResult
    public func createDeploys(_ deploys: [Deploy]) async throws(AirlockError) -> [Deploy] {
        guard !deploys.isEmpty else { return [] }
        var encoded: [(image: String?, git: String?)] = []
        encoded.reserveCapacity(deploys.count)
        var seen = Set<String>()
        for deploy in deploys {
            encoded.append(try DeployHistoryRecords.encodedNested(deploy))
            guard seen.insert(deploy.id).inserted else { throw DeployHistoryRecords.duplicateDeploy(deploy.id) }
        }
        let nested = encoded
        let ids = deploys.map(\.id)
        return try await write(uniqueViolation: { constraint in
            switch constraint {
            case "deploys_pkey": DeployHistoryRecords.duplicateDeploy(deploys[0].id)
            default: nil
            }
        }) { db in
            // Lock the deployments in a fixed order (no deadlock between two batches), and read each max once.
            var next: [String: Int] = [:]
            for deploymentId in Set(deploys.map(\.deploymentId)).sorted() {
                _ = try await Self.requireDeployment(db, id: deploymentId, forUpdate: true)
                let row = try await db.one("SELECT COALESCE(MAX(sequence), 0) AS max_sequence FROM deploys WHERE deployment_id = \(deploymentId)")
                next[deploymentId] = (try row?.int("max_sequence") ?? 0) + 1
            }
            // Then, as in SQLite: duplicate ids, then rollback references to other deployments' deploys.
            let existing = Set(try await db.rows("SELECT id FROM deploys WHERE id = ANY(\(ids))").map { try $0.string("id") })
            let references = Set(deploys.flatMap { [$0.rollbackFromId, $0.rollbackToId].compactMap { $0 } })
            var owners: [String: String] = [:]
            if !references.isEmpty {
                for row in try await db.rows("SELECT id, deployment_id FROM deploys WHERE id = ANY(\(Array(references)))") {
                    owners[try row.string("id")] = try row.string("deployment_id")
                }
            }
            var stored: [Deploy] = []
            stored.reserveCapacity(deploys.count)
            for deploy in deploys {
                if existing.contains(deploy.id) { throw DeployHistoryRecords.duplicateDeploy(deploy.id) }
                for (label, reference) in [("rollbackFromId", deploy.rollbackFromId), ("rollbackToId", deploy.rollbackToId)] {
                    guard let reference else { continue }
                    guard owners[reference] == deploy.deploymentId else { throw DeployHistoryRecords.foreignReference(label, reference) }
                }
                let sequence = next[deploy.deploymentId, default: 1]
                next[deploy.deploymentId] = sequence + 1
                stored.append(DeployHistoryRecords.numbered(deploy, sequence: sequence))
                // Later deploys of the batch may name this one.
                owners[deploy.id] = deploy.deploymentId
            }
            let columns = ["id", "deployment_id", "sequence", "type", "status", "description", "created_at", "created_by", "image",
                           "dag_bundle_version", "dag_deploy_enabled", "db_schema_head", "git", "rollback_from_id", "rollback_to_id",
                           "artifacts_stored", "ever_deployed", "target_image", "helm_revision"]
            // At most 65,535 bind parameters per statement.
            let chunkSize = 1_000
            for start in stride(from: 0, to: stored.count, by: chunkSize) {
                let end = min(stored.count, start + chunkSize)
                var binds = PostgresBindings(capacity: (end - start) * columns.count)
                var values: [String] = []
                for index in start..<end {
                    let deploy = stored[index]
                    let base = (index - start) * columns.count
                    values.append("(" + (1...columns.count).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
                    binds.append(deploy.id)
                    binds.append(deploy.deploymentId)
                    binds.append(deploy.sequence)
                    binds.append(deploy.type.rawValue)
                    binds.append(deploy.status.rawValue)
                    binds.append(deploy.description)
                    binds.append(deploy.createdAt.timeIntervalSince1970)
                    binds.append(deploy.createdBy)
                    binds.append(nested[index].image)
                    binds.append(deploy.dagBundleVersion)
                    binds.append(deploy.dagDeployEnabled)
                    binds.append(deploy.dbSchemaHead)
                    binds.append(nested[index].git)
                    binds.append(deploy.rollbackFromId)
                    binds.append(deploy.rollbackToId)
                    binds.append(deploy.artifactsStored)
                    binds.append(deploy.everDeployed)
                    binds.append(deploy.targetImage)
                    binds.append(deploy.helmRevision)
                }
                try await db.execute(PostgresQuery(
                    unsafeSQL: "INSERT INTO deploys (\(columns.joined(separator: ", "))) VALUES \(values.joined(separator: ", "))",
                    binds: binds))
            }
            return stored
        }
    }

    @discardableResult
    public func updateDeploy(_ deploy: Deploy) async throws(AirlockError) -> Deploy {
        let (image, git) = try DeployHistoryRecords.encodedNested(deploy)
        return try await write { db in
            let existing = try await Self.requireDeploy(db, id: deploy.id)
            guard existing.deploymentId == deploy.deploymentId, existing.sequence == deploy.sequence else {
                throw DeployHistoryRecords.immovableDeploy(existing)
            }
            let everDeployed = deploy.everDeployed || deploy.status == .deployed
            try await db.execute("""
                UPDATE deploys SET type = \(deploy.type.rawValue), status = \(deploy.status.rawValue), description = \(deploy.description),
                    created_at = \(deploy.createdAt.timeIntervalSince1970), created_by = \(deploy.createdBy), image = \(image),
                    dag_bundle_version = \(deploy.dagBundleVersion), dag_deploy_enabled = \(deploy.dagDeployEnabled),
                    db_schema_head = \(deploy.dbSchemaHead), git = \(git), rollback_from_id = \(deploy.rollbackFromId),
                    rollback_to_id = \(deploy.rollbackToId), artifacts_stored = \(deploy.artifactsStored),
                    ever_deployed = (ever_deployed OR \(everDeployed)), target_image = \(deploy.targetImage),
                    helm_revision = \(deploy.helmRevision)
                WHERE id = \(deploy.id)
                """)
            return try await Self.requireDeploy(db, id: deploy.id)
        }
    }

    public func deploy(id: String) async throws(AirlockError) -> Deploy? {
        try await read { db in try await Self.fetchDeploy(db, id: id) }
    }

    /// One page from one snapshot (REPEATABLE READ, read-only), so the count and the rows agree. Sequences
    /// are 1…N without gaps (assigned max+1, never deleted): when `deploy_count` equals the highest
    /// sequence, offset k is a range seek on the (deployment_id, sequence DESC) index, O(log n + limit) however
    /// deep the page. Otherwise (a gap from a manual repair) it falls back to LIMIT/OFFSET on the same index.
    public func listDeploys(deploymentId: String, offset: Int, limit: Int,
                            search: DeploySearch?) async throws(AirlockError) -> (deploys: [Deploy], totalCount: Int) {
        try DeployHistoryRecords.validatePage(offset: offset, limit: limit)
        if let search { return try await searchPage(deploymentId: deploymentId, offset: offset, limit: limit, search: search) }
        return try await withSession { session in
            try await session.transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { db in
                guard let info = try await db.one("""
                    SELECT deploy_count, (SELECT MAX(sequence) FROM deploys WHERE deployment_id = \(deploymentId)) AS max_sequence
                    FROM deployments WHERE id = \(deploymentId)
                    """) else {
                    throw DeployHistoryRecords.noDeployment(deploymentId)
                }
                let total = try info.int("deploy_count")
                let maxSequence = try info.optionalInt("max_sequence") ?? 0
                guard limit > 0, offset < total else { return ([], total) }
                let rows: [PostgresRandomAccessRow]
                if maxSequence == total {
                    let upper = maxSequence - offset
                    let lower = max(1, upper - limit + 1)
                    rows = try await db.rows("""
                        SELECT * FROM deploys WHERE deployment_id = \(deploymentId) AND sequence BETWEEN \(lower) AND \(upper)
                        ORDER BY sequence DESC
                        """)
                } else {
                    rows = try await db.rows("""
                        SELECT * FROM deploys WHERE deployment_id = \(deploymentId) ORDER BY sequence DESC LIMIT \(limit) OFFSET \(offset)
                        """)
                }
                let decoder = DeployHistoryRecords.decoder()
                return (try rows.map { try DeployHistoryRecords.deploy(from: $0, decoder: decoder) }, total)
            }
        }
    }

    /// A search page from one snapshot: count and page walk the deployment's rows newest first.
    /// `ILIKE … ESCAPE '\'` (case-insensitive; the user's `%` and `_` literal) on the plain columns, then the
    /// image JSON's versions.
    private func searchPage(deploymentId: String, offset: Int, limit: Int,
                            search: DeploySearch) async throws(AirlockError) -> (deploys: [Deploy], totalCount: Int) {
        // PostgreSQL text cannot hold a NUL, so no stored text matches one (and the parameter would be refused).
        let hasNul = search.text.unicodeScalars.contains("\u{0}")
        let sequence = search.sequence ?? 0, text = search.matchesText && !hasNul, pattern = hasNul ? "" : search.likePattern
        func query(_ select: String, _ tail: String) -> PostgresQuery {
            """
            SELECT \(unescaped: select) FROM deploys WHERE deployment_id = \(deploymentId) AND (sequence = \(sequence) OR (\(text) AND (
                description ILIKE \(pattern) ESCAPE '\\' OR created_by ILIKE \(pattern) ESCAPE '\\'
                OR (image::jsonb ->> 'airflowVersion') ILIKE \(pattern) ESCAPE '\\'
                OR (image::jsonb ->> 'runtimeVersion') ILIKE \(pattern) ESCAPE '\\'))) \(unescaped: tail)
            """
        }
        return try await withSession { session in
            try await session.transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { db in
                guard try await db.one("SELECT 1 AS found FROM deployments WHERE id = \(deploymentId)") != nil else {
                    throw DeployHistoryRecords.noDeployment(deploymentId)
                }
                let total = try await db.one(query("COUNT(*) AS total", "")).map { try $0.int("total") } ?? 0
                guard limit > 0, offset < total else { return ([], total) }
                let rows = try await db.rows(query("*", "ORDER BY sequence DESC LIMIT \(limit) OFFSET \(offset)"))
                let decoder = DeployHistoryRecords.decoder()
                return (try rows.map { try DeployHistoryRecords.deploy(from: $0, decoder: decoder) }, total)
            }
        }
    }

    public func history(deploymentId: String) async throws(AirlockError) -> [Deploy] {
        try await withSession { session in
            try await session.transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { db in
                _ = try await Self.requireDeployment(db, id: deploymentId)
                let decoder = DeployHistoryRecords.decoder()
                return try await db.rows("SELECT * FROM deploys WHERE deployment_id = \(deploymentId) ORDER BY sequence DESC")
                    .map { try DeployHistoryRecords.deploy(from: $0, decoder: decoder) }
            }
        }
    }

    @discardableResult
    public func markDeployed(deployId: String, deploymentId: String, dbSchemaHead: String?, actor: String,
                             requestId: String?) async throws(AirlockError) -> Deploy {
        let at = now()
        let eventId = DeployHistoryRecords.newId()
        return try await write { db in
            let deployment = try await Self.requireDeployment(db, id: deploymentId, forUpdate: true)
            let deploy = try await Self.requireDeploy(db, id: deployId)
            guard deploy.deploymentId == deploymentId else {
                throw DeployHistoryRecords.foreignDeploy(deployId, deploymentName: deployment.name)
            }
            let previous = try await deployment.currentDeployId.asyncFlatMap { id in try await Self.fetchDeploy(db, id: id) }
            try await db.execute("""
                UPDATE deploys SET status = \(DeployStatus.deployed.rawValue), ever_deployed = TRUE,
                    db_schema_head = COALESCE(\(dbSchemaHead), db_schema_head)
                WHERE id = \(deployId)
                """)
            try await db.execute("UPDATE deployments SET current_deploy_id = \(deployId) WHERE id = \(deploymentId)")
            try await Self.insertAudit(db, DeployHistoryRecords.deployOutcomeEvent(id: eventId, at: at, actor: actor, requestId: requestId,
                                                                                   deploy: deploy, previous: previous, failureReason: nil))
            return try await Self.requireDeploy(db, id: deployId)
        }
    }

    @discardableResult
    public func markFailed(deployId: String, reason: String, actor: String, requestId: String?) async throws(AirlockError) -> Deploy {
        let at = now()
        let eventId = DeployHistoryRecords.newId()
        return try await write { db in
            let deploy = try await Self.requireDeploy(db, id: deployId)
            let deployment = try await Self.requireDeployment(db, id: deploy.deploymentId, forUpdate: true)
            let current = try await deployment.currentDeployId.asyncFlatMap { id in try await Self.fetchDeploy(db, id: id) }
            try await db.execute("UPDATE deploys SET status = \(DeployStatus.failed.rawValue) WHERE id = \(deployId)")
            try await Self.insertAudit(db, DeployHistoryRecords.deployOutcomeEvent(id: eventId, at: at, actor: actor, requestId: requestId,
                                                                                   deploy: deploy, previous: current, failureReason: reason))
            return try await Self.requireDeploy(db, id: deployId)
        }
    }

    @discardableResult
    public func recordTargetRun(deployId: String, targetImage: String?, helmRevision: Int?) async throws(AirlockError) -> Deploy {
        try await write { db in
            _ = try await Self.requireDeploy(db, id: deployId)
            try await db.execute("UPDATE deploys SET target_image = \(targetImage), helm_revision = \(helmRevision) WHERE id = \(deployId)")
            return try await Self.requireDeploy(db, id: deployId)
        }
    }

    // MARK: Audit

    public func appendAudit(_ event: AuditEvent) async throws(AirlockError) {
        try await write(uniqueViolation: { $0 == "audit_events_id_key" ? DeployHistoryRecords.duplicateAudit(event.id) : nil }) { db in
            if try await db.one("SELECT 1 FROM audit_events WHERE id = \(event.id)") != nil {
                throw DeployHistoryRecords.duplicateAudit(event.id)
            }
            try await Self.insertAudit(db, event)
        }
    }

    public func auditEvents(_ query: AuditQuery) async throws(AirlockError) -> AuditPage {
        let conditions = try DeployHistoryRecords.auditConditions(query)
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.enumerated().map { "\($1.column) = $\($0 + 1)" }.joined(separator: " AND ")
        func binds(_ extra: [Int] = []) -> PostgresBindings {
            var binds = PostgresBindings(capacity: conditions.count + extra.count)
            for condition in conditions { binds.append(condition.value) }
            for value in extra { binds.append(value) }
            return binds
        }
        let n = conditions.count
        return try await withSession { session in
            try await session.transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { db in
                let total = try await db.one(PostgresQuery(unsafeSQL: "SELECT count(*) AS total FROM audit_events \(filter)", binds: binds()))?
                    .int("total") ?? 0
                guard query.limit > 0, query.offset < total else { return AuditPage(events: [], totalCount: total) }
                let rows = try await db.rows(PostgresQuery(
                    unsafeSQL: "SELECT * FROM audit_events \(filter) ORDER BY seq DESC LIMIT $\(n + 1) OFFSET $\(n + 2)",
                    binds: binds([query.limit, query.offset])))
                return AuditPage(events: try rows.map(DeployHistoryRecords.auditEvent(from:)), totalCount: total)
            }
        }
    }

    private static func insertAudit(_ db: PostgresSession, _ event: AuditEvent) async throws {
        try await db.execute("""
            INSERT INTO audit_events (id, at, actor, action, deployment_id, before_deploy_id, after_deploy_id, before_runtime,
                                      after_runtime, outcome, request_id, detail)
            VALUES (\(event.id), \(event.at.timeIntervalSince1970), \(event.actor), \(event.action.rawValue), \(event.deploymentId),
                    \(event.beforeDeployId), \(event.afterDeployId), \(event.beforeRuntime), \(event.afterRuntime),
                    \(event.outcome.rawValue), \(event.requestId), \(event.detail))
            """)
    }

    // MARK: Tokens

    public func createToken(name: String, role: Role) async throws(AirlockError) -> (token: String, record: APIToken) {
        let trimmed = try DeployHistoryRecords.validatedTokenName(name)
        let secret = DeployHistoryRecords.newTokenSecret()
        let record = APIToken(id: DeployHistoryRecords.newId(), name: trimmed, role: role, createdAt: now())
        let hash = SHA256.hex(secret)
        try await write { db in
            try await db.execute("""
                INSERT INTO api_tokens (id, name, role, secret_sha256, created_at, revoked_at)
                VALUES (\(record.id), \(record.name), \(record.role.rawValue), \(hash), \(record.createdAt.timeIntervalSince1970), NULL)
                """)
        }
        return (secret, record)
    }

    public func token(matching secret: String) async throws(AirlockError) -> APIToken? {
        guard secret.hasPrefix(APIToken.secretPrefix) else { return nil }
        let hash = SHA256.hex(secret)
        let token = try await read { db in
            try await db.one("SELECT * FROM api_tokens WHERE secret_sha256 = \(hash) AND revoked_at IS NULL")
                .map(DeployHistoryRecords.token(from:))
        }
        let at = now()
        guard var token, token.needsUseRecorded(at: at) else { return token }
        let (now, id, since) = (at.timeIntervalSince1970, token.id, at.timeIntervalSince1970 - APIToken.lastUsedResolution)
        try await write { db in
            try await db.execute("UPDATE api_tokens SET last_used_at = \(now) WHERE id = \(id) AND (last_used_at IS NULL OR last_used_at <= \(since))")
        }
        token.lastUsedAt = at
        return token
    }

    public func listTokens() async throws(AirlockError) -> [APIToken] {
        try await read { db in
            try await db.rows("SELECT * FROM api_tokens ORDER BY created_at, id").map(DeployHistoryRecords.token(from:))
        }
    }

    @discardableResult
    public func revokeToken(id: String) async throws(AirlockError) -> APIToken {
        let at = now().timeIntervalSince1970
        return try await write { db in
            try await db.execute("UPDATE api_tokens SET revoked_at = \(at) WHERE id = \(id) AND revoked_at IS NULL")
            try await db.execute("DELETE FROM web_sessions WHERE token_id = \(id)")
            guard let row = try await db.one("SELECT * FROM api_tokens WHERE id = \(id)") else {
                throw DeployHistoryRecords.noToken(id)
            }
            return try DeployHistoryRecords.token(from: row)
        }
    }

    // MARK: Web UI sessions

    public func createWebSession(_ session: WebSessionRecord) async throws(AirlockError) {
        let (created, expires) = (session.createdAt.timeIntervalSince1970, session.expiresAt.timeIntervalSince1970)
        try await write { db in
            try await db.execute("DELETE FROM web_sessions WHERE expires_at <= \(created)")
            try await db.execute("""
                INSERT INTO web_sessions (id_sha256, token_id, csrf, created_at, expires_at)
                VALUES (\(session.idSHA256), \(session.tokenId), \(session.csrf), \(created), \(expires))
                """)
        }
    }

    public func webSession(idSHA256: String, now: Date) async throws(AirlockError) -> WebSessionRecord? {
        let at = now.timeIntervalSince1970
        return try await read { db in
            try await db.one("SELECT * FROM web_sessions WHERE id_sha256 = \(idSHA256) AND expires_at > \(at)").map(DeployHistoryRecords.webSession(from:))
        }
    }

    public func deleteWebSession(idSHA256: String) async throws(AirlockError) {
        try await write { db in try await db.execute("DELETE FROM web_sessions WHERE id_sha256 = \(idSHA256)") }
    }

    public func deleteWebSessions(tokenId: String) async throws(AirlockError) {
        try await write { db in try await db.execute("DELETE FROM web_sessions WHERE token_id = \(tokenId)") }
    }

    // MARK: Artifacts

    @discardableResult
    public func markArtifactsExpired(deployIds: [String]) async throws(AirlockError) -> Int {
        guard !deployIds.isEmpty else { return 0 }
        let ids = Array(Set(deployIds))
        return try await write { db in
            try await db.rows("UPDATE deploys SET artifacts_stored = FALSE WHERE id = ANY(\(ids)) AND artifacts_stored RETURNING id").count
        }
    }

    // MARK: Several servers

    /// A session-level `pg_advisory_lock` on a connection of its own, held while `body` runs. Not a pooled
    /// connection: the pool would hand it to other queries while the lock is held, and a transaction-level
    /// lock would keep a transaction open for minutes. The lock goes with the connection, so a server that
    /// dies mid-switch frees it when PostgreSQL sees its connection close, and the next server can repair.
    ///
    /// The key is the two-`int4` form, `(deploymentLockNamespace, hashtext(deployment id))`: PostgreSQL keeps
    /// it apart from the one-`bigint` key space of the migration lock. Two ids with the same hash only take turns.
    ///
    /// If this connection breaks while `body` runs (PostgreSQL restarted, network cut), the lock is gone
    /// while this server still works; the switch goes on and another server may start one too. The servers
    /// are meant to share a PostgreSQL they reach reliably.
    public func withDeploymentLock<T: Sendable>(deploymentId: String,
                                                _ body: @Sendable () async throws(AirlockError) -> T) async throws(AirlockError) -> T {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: try server.connectionConfiguration(),
                                                              id: Int.random(in: 1..<Int(Int32.max)), logger: logger)
        } catch {
            throw Self.mapError(error, location: location, connecting: true)
        }
        let session = PostgresSession(connection: connection, logger: logger)
        do {
            try await session.execute("SELECT pg_advisory_lock(\(Self.deploymentLockNamespace), hashtext(\(deploymentId)))")
        } catch {
            try? await connection.close()
            throw Self.mapError(error, location: location, connecting: false)
        }
        let result: Result<T, AirlockError>
        do throws(AirlockError) {
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        // Closing the session frees its advisory locks; the unlock first says so explicitly.
        try? await session.execute("SELECT pg_advisory_unlock(\(Self.deploymentLockNamespace), hashtext(\(deploymentId)))")
        try? await connection.close()
        return try result.get()
    }

    /// First key of the deployment locks (`pg_advisory_lock(int4, int4)`): "Airl", the same in every Airlock.
    static let deploymentLockNamespace: Int32 = 0x4169_726C

    /// Several servers may share a PostgreSQL history: an `INITIALIZED` deploy may be another server's.
    public var isSharedByServers: Bool { true }

    // MARK: Plumbing

    private static func fetchDeployment(_ db: PostgresSession, id: String, forUpdate: Bool = false) async throws -> Deployment? {
        let row = forUpdate
            ? try await db.one("SELECT * FROM deployments WHERE id = \(id) FOR UPDATE")
            : try await db.one("SELECT * FROM deployments WHERE id = \(id)")
        return try row.map(DeployHistoryRecords.deployment(from:))
    }

    /// The deployment, locked until the end of the transaction when `forUpdate` (writers that depend on its state).
    private static func requireDeployment(_ db: PostgresSession, id: String, forUpdate: Bool = false) async throws -> Deployment {
        guard let deployment = try await fetchDeployment(db, id: id, forUpdate: forUpdate) else { throw DeployHistoryRecords.noDeployment(id) }
        return deployment
    }

    private static func fetchDeploy(_ db: PostgresSession, id: String) async throws -> Deploy? {
        try await db.one("SELECT * FROM deploys WHERE id = \(id)").map { try DeployHistoryRecords.deploy(from: $0, decoder: DeployHistoryRecords.decoder()) }
    }

    private static func requireDeploy(_ db: PostgresSession, id: String) async throws -> Deploy {
        guard let deploy = try await fetchDeploy(db, id: id) else { throw DeployHistoryRecords.noDeploy(id) }
        return deploy
    }

    private func withSession<T: Sendable>(uniqueViolation: ((String) -> AirlockError?)? = nil,
                                          _ body: (PostgresSession) async throws -> T) async throws(AirlockError) -> T {
        do {
            return try await client.withConnection { connection in
                try await body(PostgresSession(connection: connection, logger: logger))
            }
        } catch {
            if let uniqueViolation, let psql = error as? PSQLError, psql.serverInfo?[.sqlState] == "23505",
               let constraint = psql.serverInfo?[.constraintName], let mapped = uniqueViolation(constraint) {
                throw mapped
            }
            throw Self.mapError(error, location: location, connecting: false)
        }
    }

    private func read<T: Sendable>(_ body: (PostgresSession) async throws -> T) async throws(AirlockError) -> T {
        try await withSession(body)
    }

    /// One transaction; `uniqueViolation` turns a UNIQUE violation (by constraint name) into the contract's refusal.
    private func write<T: Sendable>(uniqueViolation: ((String) -> AirlockError?)? = nil,
                                    _ body: (PostgresSession) async throws -> T) async throws(AirlockError) -> T {
        try await withSession(uniqueViolation: uniqueViolation) { session in try await session.transaction(body) }
    }

    static func mapError(_ error: any Error, location: String, connecting: Bool) -> AirlockError {
        if let error = error as? AirlockError { return error }
        if let error = error as? PostgresDecodingError {
            return .environment("The deploy history database at \(location) holds an unreadable `\(error.columnName)` value (\(error.code))")
        }
        guard let error = error as? PSQLError else {
            return .environment("The deploy history database at \(location) failed: \(error)")
        }
        if let info = error.serverInfo, let state = info[.sqlState] {
            if state == "23505", info[.constraintName] == "deploys_deployment_sequence" { return DeployHistoryRecords.sequenceRace }
            let message = info[.message] ?? "error"
            // Class 28: authentication; 3D000: no such database; 08: connection exceptions.
            if connecting || state.hasPrefix("28") || state == "3D000" || state.hasPrefix("08") {
                return .environment("Cannot use the deploy history database at \(location): \(message) (SQLSTATE \(state))",
                                    hint: "check the user, password and database name in --database-url")
            }
            return .environment("The deploy history database at \(location) failed: \(message) (SQLSTATE \(state))")
        }
        let reason: String
        if let failure = error.underlying as? NIOConnectionError {
            // The first address tried says it best ("Connection refused").
            reason = failure.connectionErrors.first.map { attempt in
                (attempt.error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(attempt.error)"
            } ?? failure.dnsAError.map { "\($0)" } ?? "\(failure)"
        } else {
            reason = error.underlying.map { "\($0)" } ?? "\(error.code)"
        }
        if connecting || [.connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed].contains(error.code) {
            return .environment("Cannot connect to the deploy history database at \(location): \(reason)",
                                hint: "check that PostgreSQL is running there and accepts connections from this machine")
        }
        return .environment("The deploy history database at \(location) failed: \(reason)")
    }
}

/// One connection (pooled or not) and the queries the store runs on it.
struct PostgresSession {
    let connection: PostgresConnection
    let logger: Logger

    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await connection.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    func one(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? {
        try await rows(query).first
    }

    func execute(_ query: PostgresQuery) async throws {
        _ = try await connection.query(query, logger: logger).collect()
    }

    /// `body` inside BEGIN … COMMIT; any error rolls back (errors from the body are rethrown as they are).
    func transaction<T>(begin: String = "BEGIN", _ body: (PostgresSession) async throws -> T) async throws -> T {
        try await execute(PostgresQuery(unsafeSQL: begin))
        let value: T
        do {
            value = try await body(self)
        } catch {
            try? await execute("ROLLBACK")
            throw error
        }
        try await execute("COMMIT")
        return value
    }
}

extension PostgresRandomAccessRow: DeployHistoryRow {
    func string(_ column: String) throws -> String { try self[column].decode(String.self) }
    func optionalString(_ column: String) throws -> String? { try self[column].decode(String?.self) }
    func int(_ column: String) throws -> Int { try self[column].decode(Int.self) }
    func optionalInt(_ column: String) throws -> Int? { try self[column].decode(Int?.self) }
    func double(_ column: String) throws -> Double { try self[column].decode(Double.self) }
    func optionalDouble(_ column: String) throws -> Double? { try self[column].decode(Double?.self) }
    func bool(_ column: String) throws -> Bool { try self[column].decode(Bool.self) }
}

extension Optional {
    fileprivate func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
