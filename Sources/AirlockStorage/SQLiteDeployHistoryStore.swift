import AirlockCore
import AirlockToolchain
import Foundation
import GRDB

/// The SQLite `DeployHistoryStore` (SPEC §4.5): one file in Airlock's data folder, opened as a GRDB
/// `DatabasePool` in WAL mode (readers never wait for the writer), or an in-memory `DatabaseQueue`
/// for tests.
///
/// Schema (migration `v1`):
/// - `deployments` — settings and pin as JSON text; `current_deploy_id` is a composite foreign key
///   `(id, current_deploy_id) → deploys(deployment_id, id)`, so a deployment can only point at one
///   of its own deploys that exists; `deploy_count` is kept by triggers for O(1) `totalCount`.
/// - `deploys` — image and git as JSON text; UNIQUE(deployment_id, sequence) backs sequence numbers
///   and serves history lists.
/// - `audit_events` — append-only: triggers abort any UPDATE or DELETE; `seq` is the append order.
/// - `api_tokens` — the SHA-256 of the secret only.
/// - `deploys_search` (`v3`) — an FTS5 trigram index of the text Deploy History's search reads, kept by
///   triggers on `deploys`; `deploys_search_keys` maps each deploy to its index row.
/// - `web_sessions` (`v5`) — signed-in browsers: the SHA-256 of the cookie value, the token, the CSRF token.
/// - `deploys.target_image`, `deploys.helm_revision` (`v4`) — what the target ran (`Deploy.targetImage`,
///   `Deploy.helmRevision`); NULL on deploys recorded before v4 and on the local target.
///
/// Dates are Unix seconds (`REAL`) in columns and in JSON. Every write is one IMMEDIATE transaction
/// (GRDB's default for writes), so a crash leaves either all of a change or none of it.
public final class SQLiteDeployHistoryStore: DeployHistoryStore {
    /// The database file, or `nil` for an in-memory store.
    public let path: String?
    private let writer: any DatabaseWriter
    private let now: @Sendable () -> Date
    /// Where the per-deployment lock files are (`withDeploymentLock`).
    private let lockFolder: URL

    /// Opens (creating if needed) the database file at `path` and applies pending migrations.
    public init(path: String, now: @escaping @Sendable () -> Date = { Date() }) throws(AirlockError) {
        self.path = path
        self.now = now
        lockFolder = URL(fileURLWithPath: path + ".locks")
        do {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            writer = try DatabasePool(path: path, configuration: Self.configuration())
        } catch {
            throw Self.mapError(error, path: path)
        }
        try Self.migrate(writer, path: path)
    }

    /// A store that lives in memory only (tests, dry runs).
    public init(inMemoryWithNow now: @escaping @Sendable () -> Date = { Date() }) throws(AirlockError) {
        self.path = nil
        self.now = now
        // No file to sit next to: a folder of this store's own, so its locks exclude its own holders only.
        lockFolder = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-locks-\(UUID().uuidString.lowercased())")
        do {
            writer = try DatabaseQueue(configuration: Self.configuration())
        } catch {
            throw Self.mapError(error, path: nil)
        }
        try Self.migrate(writer, path: nil)
    }

    public static func inMemory(now: @escaping @Sendable () -> Date = { Date() }) throws(AirlockError) -> SQLiteDeployHistoryStore {
        try SQLiteDeployHistoryStore(inMemoryWithNow: now)
    }

    private static func configuration() -> Configuration {
        var config = Configuration()
        config.foreignKeysEnabled = true
        // Another Airlock process (CLI next to the server) may hold the write lock for a moment.
        config.busyMode = .timeout(10)
        config.label = "airlock.deploy-history"
        return config
    }

    // MARK: Migrations

    /// Versioned migrations: `v1`, `v2`, … Each runs once per database, recorded by GRDB in
    /// `grdb_migrations`. Never edit a shipped migration; add the next one.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE deployments (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    target TEXT NOT NULL,
                    settings TEXT NOT NULL,
                    current_deploy_id TEXT,
                    pinned TEXT,
                    deploy_count INTEGER NOT NULL DEFAULT 0,
                    FOREIGN KEY (id, current_deploy_id) REFERENCES deploys (deployment_id, id)
                );
                CREATE UNIQUE INDEX deployments_name ON deployments (name);

                CREATE TABLE deploys (
                    id TEXT PRIMARY KEY NOT NULL,
                    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE RESTRICT,
                    sequence INTEGER NOT NULL CHECK (sequence >= 1),
                    type TEXT NOT NULL,
                    status TEXT NOT NULL,
                    description TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    created_by TEXT NOT NULL,
                    image TEXT,
                    dag_bundle_version TEXT,
                    dag_deploy_enabled INTEGER NOT NULL,
                    db_schema_head TEXT,
                    git TEXT,
                    rollback_from_id TEXT REFERENCES deploys (id),
                    rollback_to_id TEXT REFERENCES deploys (id),
                    artifacts_stored INTEGER NOT NULL DEFAULT 1,
                    ever_deployed INTEGER NOT NULL DEFAULT 0
                );
                -- History lists (newest first), max+1 sequence numbers, and their uniqueness.
                CREATE UNIQUE INDEX deploys_deployment_sequence ON deploys (deployment_id, sequence);
                -- Parent key of deployments.current_deploy_id: a deployment points at its own deploys only.
                CREATE UNIQUE INDEX deploys_deployment_id ON deploys (deployment_id, id);

                CREATE TRIGGER deploys_count_insert AFTER INSERT ON deploys BEGIN
                    UPDATE deployments SET deploy_count = deploy_count + 1 WHERE id = NEW.deployment_id;
                END;
                CREATE TRIGGER deploys_count_delete AFTER DELETE ON deploys BEGIN
                    UPDATE deployments SET deploy_count = deploy_count - 1 WHERE id = OLD.deployment_id;
                END;

                CREATE TABLE audit_events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    at REAL NOT NULL,
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
                );
                CREATE INDEX audit_events_deployment ON audit_events (deployment_id, seq);
                CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN
                    SELECT RAISE(ABORT, 'audit events are append-only');
                END;
                CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN
                    SELECT RAISE(ABORT, 'audit events are append-only');
                END;

                CREATE TABLE api_tokens (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    secret_sha256 TEXT NOT NULL UNIQUE,
                    created_at REAL NOT NULL,
                    revoked_at REAL
                );
                """)
        }
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                ALTER TABLE api_tokens ADD COLUMN last_used_at REAL;
                -- The audit log's filters (newest first within an actor or an action).
                CREATE INDEX audit_events_actor ON audit_events (actor, seq);
                CREATE INDEX audit_events_action ON audit_events (action, seq);
                """)
        }
        // Deploy History search index: FTS5 with the trigram tokenizer over the searched text, so a search
        // of three or more characters reads the rows that contain it instead of scanning the history
        // (`searchPage`). `deploys_search_keys` gives each deploy a stable integer — an INTEGER PRIMARY
        // KEY keeps its value through VACUUM, the implicit rowid of `deploys` does not — which is its
        // index row's rowid. Without the trigram tokenizer (SQLite before 3.34, or FTS5 left out) nothing
        // is created and searches scan as before.
        migrator.registerMigration("v3") { db in
            guard trigramTokenizerAvailable(db) else { return }
            try db.execute(sql: """
                CREATE TABLE deploys_search_keys (
                    key INTEGER PRIMARY KEY,
                    deploy_id TEXT NOT NULL UNIQUE
                );
                CREATE VIRTUAL TABLE deploys_search USING fts5(
                    deployment_id UNINDEXED, description, created_by, airflow_version, runtime_version,
                    tokenize = 'trigram'
                );
                INSERT INTO deploys_search_keys (deploy_id) SELECT id FROM deploys ORDER BY rowid;
                INSERT INTO deploys_search (rowid, deployment_id, description, created_by, airflow_version, runtime_version)
                    SELECT k.key, d.deployment_id, d.description, d.created_by,
                           json_extract(d.image, '$.airflowVersion'), json_extract(d.image, '$.runtimeVersion')
                    FROM deploys d JOIN deploys_search_keys k ON k.deploy_id = d.id;
                CREATE TRIGGER deploys_search_insert AFTER INSERT ON deploys BEGIN
                    INSERT INTO deploys_search_keys (deploy_id) VALUES (NEW.id);
                    INSERT INTO deploys_search (rowid, deployment_id, description, created_by, airflow_version, runtime_version)
                        VALUES ((SELECT key FROM deploys_search_keys WHERE deploy_id = NEW.id), NEW.deployment_id,
                                NEW.description, NEW.created_by,
                                json_extract(NEW.image, '$.airflowVersion'), json_extract(NEW.image, '$.runtimeVersion'));
                END;
                -- Status changes rewrite every column; only a change of the searched text touches the index.
                CREATE TRIGGER deploys_search_update AFTER UPDATE OF description, created_by, image ON deploys
                WHEN OLD.description IS NOT NEW.description OR OLD.created_by IS NOT NEW.created_by OR OLD.image IS NOT NEW.image
                BEGIN
                    DELETE FROM deploys_search WHERE rowid = (SELECT key FROM deploys_search_keys WHERE deploy_id = OLD.id);
                    INSERT INTO deploys_search (rowid, deployment_id, description, created_by, airflow_version, runtime_version)
                        VALUES ((SELECT key FROM deploys_search_keys WHERE deploy_id = OLD.id), NEW.deployment_id,
                                NEW.description, NEW.created_by,
                                json_extract(NEW.image, '$.airflowVersion'), json_extract(NEW.image, '$.runtimeVersion'));
                END;
                CREATE TRIGGER deploys_search_delete AFTER DELETE ON deploys BEGIN
                    DELETE FROM deploys_search WHERE rowid = (SELECT key FROM deploys_search_keys WHERE deploy_id = OLD.id);
                    DELETE FROM deploys_search_keys WHERE deploy_id = OLD.id;
                END;
                """)
        }
        // What the target ran, kept on the deploy (issue #13 items 3, 4): the image reference by digest and
        // the Helm revision. Deploys recorded before stay NULL (unknown); nothing else changes.
        migrator.registerMigration("v4") { db in
            try db.execute(sql: """
                ALTER TABLE deploys ADD COLUMN target_image TEXT;
                ALTER TABLE deploys ADD COLUMN helm_revision INTEGER;
                """)
        }
        // The web UI's sessions (issue 12): in the store, so they survive a restart and every server knows them.
        migrator.registerMigration("v5") { db in
            try db.execute(sql: """
                CREATE TABLE web_sessions (
                    id_sha256 TEXT PRIMARY KEY NOT NULL,
                    token_id TEXT NOT NULL REFERENCES api_tokens (id),
                    csrf TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    expires_at REAL NOT NULL
                );
                CREATE INDEX web_sessions_token ON web_sessions (token_id);
                CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
                """)
        }
        return migrator
    }()

    private static func migrate(_ writer: any DatabaseWriter, path: String?) throws(AirlockError) {
        do {
            let superseded = try writer.read { db in try migrator.hasBeenSuperseded(db) }
            if superseded {
                throw AirlockError.environment(
                    "The deploy history database\(path.map { " at \($0)" } ?? "") was created by a newer Airlock",
                    hint: "upgrade Airlock, or point it at another data folder")
            }
            try migrator.migrate(writer)
        } catch {
            throw mapError(error, path: path)
        }
    }

    /// The applied migrations, oldest first (`["v1"]`).
    public func appliedMigrations() async throws(AirlockError) -> [String] {
        try await read { db in try Self.migrator.appliedMigrations(db) }
    }

    public func schemaVersion() async throws(AirlockError) -> Int {
        try await appliedMigrations().compactMap { Int($0.dropFirst()) }.max() ?? 0
    }

    // MARK: Deployments

    @discardableResult
    public func createDeployment(_ deployment: Deployment) async throws(AirlockError) -> Deployment {
        let (settings, pinned) = try DeployHistoryRecords.validateNewDeployment(deployment)
        return try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM deployments WHERE name = ?", arguments: [deployment.name]) != nil {
                throw DeployHistoryRecords.duplicateDeploymentName(deployment.name)
            }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM deployments WHERE id = ?", arguments: [deployment.id]) != nil {
                throw DeployHistoryRecords.duplicateDeploymentId(deployment.id)
            }
            try db.execute(sql: """
                INSERT INTO deployments (id, name, target, settings, current_deploy_id, pinned) VALUES (?, ?, ?, ?, NULL, ?)
                """, arguments: [deployment.id, deployment.name, deployment.target.rawValue, settings, pinned])
            return deployment
        }
    }

    public func deployment(named name: String) async throws(AirlockError) -> Deployment? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM deployments WHERE name = ?", arguments: [name]).map(DeployHistoryRecords.deployment(from:))
        }
    }

    public func deployment(id: String) async throws(AirlockError) -> Deployment? {
        try await read { db in try Self.fetchDeployment(db, id: id) }
    }

    public func listDeployments() async throws(AirlockError) -> [Deployment] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM deployments ORDER BY name").map(DeployHistoryRecords.deployment(from:))
        }
    }

    @discardableResult
    public func updateSettings(deploymentId: String, settings: DeploymentSettings, actor: String,
                               requestId: String?) async throws(AirlockError) -> Deployment {
        let encoded = try DeployHistoryRecords.json(settings)
        let at = now()
        let eventId = DeployHistoryRecords.newId()
        return try await write { db in
            var deployment = try Self.requireDeployment(db, id: deploymentId)
            let event = DeployHistoryRecords.settingsEvent(id: eventId, at: at, actor: actor, requestId: requestId,
                                                           deployment: deployment, newSettings: settings)
            deployment.settings = settings
            try db.execute(sql: "UPDATE deployments SET settings = ? WHERE id = ?", arguments: [encoded, deploymentId])
            try Self.insertAudit(db, event)
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
            var deployment = try Self.requireDeployment(db, id: deploymentId)
            let event = DeployHistoryRecords.pinEvent(id: eventId, at: at, actor: actor, requestId: requestId, deployment: deployment, pin: pin)
            deployment.pinned = pin
            try db.execute(sql: "UPDATE deployments SET pinned = ? WHERE id = ?", arguments: [encoded, deploymentId])
            try Self.insertAudit(db, event)
            return deployment
        }
    }

    // MARK: Deploys

    @discardableResult
    public func createDeploy(_ deploy: Deploy) async throws(AirlockError) -> Deploy {
        let encoded = try DeployHistoryRecords.encodedNested(deploy)
        return try await write { db in try Self.insertDeploy(db, deploy, image: encoded.image, git: encoded.git) }
    }

    @discardableResult
    public func createDeploys(_ deploys: [Deploy]) async throws(AirlockError) -> [Deploy] {
        guard !deploys.isEmpty else { return [] }
        var encoded: [(image: String?, git: String?)] = []
        encoded.reserveCapacity(deploys.count)
        for deploy in deploys { encoded.append(try DeployHistoryRecords.encodedNested(deploy)) }
        let nested = encoded
        return try await write { db in
            try zip(deploys, nested).map { deploy, nested in try Self.insertDeploy(db, deploy, image: nested.image, git: nested.git) }
        }
    }

    /// Inserts one deploy inside the caller's write transaction, numbering it max+1.
    private static func insertDeploy(_ db: Database, _ deploy: Deploy, image: String?, git: String?) throws -> Deploy {
        _ = try requireDeployment(db, id: deploy.deploymentId)
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM deploys WHERE id = ?", arguments: [deploy.id]) != nil {
            throw DeployHistoryRecords.duplicateDeploy(deploy.id)
        }
        for (label, reference) in [("rollbackFromId", deploy.rollbackFromId), ("rollbackToId", deploy.rollbackToId)] {
            guard let reference else { continue }
            let owner = try String.fetchOne(db, sql: "SELECT deployment_id FROM deploys WHERE id = ?", arguments: [reference])
            guard owner == deploy.deploymentId else {
                throw DeployHistoryRecords.foreignReference(label, reference)
            }
        }
        // max+1 inside the write transaction; the UNIQUE(deployment_id, sequence) index backs it.
        let sequence = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence), 0) + 1 FROM deploys WHERE deployment_id = ?",
                                        arguments: [deploy.deploymentId]) ?? 1
        let stored = DeployHistoryRecords.numbered(deploy, sequence: sequence)
        try db.execute(sql: """
            INSERT INTO deploys (id, deployment_id, sequence, type, status, description, created_at, created_by, image,
                                 dag_bundle_version, dag_deploy_enabled, db_schema_head, git, rollback_from_id, rollback_to_id,
                                 artifacts_stored, ever_deployed, target_image, helm_revision)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [stored.id, stored.deploymentId, sequence, stored.type.rawValue, stored.status.rawValue,
                             stored.description, stored.createdAt.timeIntervalSince1970, stored.createdBy, image,
                             stored.dagBundleVersion, stored.dagDeployEnabled, stored.dbSchemaHead, git,
                             stored.rollbackFromId, stored.rollbackToId, stored.artifactsStored, stored.everDeployed,
                             stored.targetImage, stored.helmRevision])
        return stored
    }

    @discardableResult
    public func updateDeploy(_ deploy: Deploy) async throws(AirlockError) -> Deploy {
        let (image, git) = try DeployHistoryRecords.encodedNested(deploy)
        return try await write { db in
            let existing = try Self.requireDeploy(db, id: deploy.id)
            guard existing.deploymentId == deploy.deploymentId, existing.sequence == deploy.sequence else {
                throw DeployHistoryRecords.immovableDeploy(existing)
            }
            try db.execute(sql: """
                UPDATE deploys SET type = ?, status = ?, description = ?, created_at = ?, created_by = ?, image = ?,
                    dag_bundle_version = ?, dag_deploy_enabled = ?, db_schema_head = ?, git = ?, rollback_from_id = ?,
                    rollback_to_id = ?, artifacts_stored = ?, ever_deployed = (ever_deployed OR ?), target_image = ?, helm_revision = ?
                WHERE id = ?
                """, arguments: [deploy.type.rawValue, deploy.status.rawValue, deploy.description, deploy.createdAt.timeIntervalSince1970,
                                 deploy.createdBy, image, deploy.dagBundleVersion, deploy.dagDeployEnabled, deploy.dbSchemaHead, git,
                                 deploy.rollbackFromId, deploy.rollbackToId, deploy.artifactsStored,
                                 deploy.everDeployed || deploy.status == .deployed, deploy.targetImage, deploy.helmRevision, deploy.id])
            return try Self.requireDeploy(db, id: deploy.id)
        }
    }

    public func deploy(id: String) async throws(AirlockError) -> Deploy? {
        try await read { db in try Self.fetchDeploy(db, id: id) }
    }

    public func listDeploys(deploymentId: String, offset: Int, limit: Int,
                            search: DeploySearch?) async throws(AirlockError) -> (deploys: [Deploy], totalCount: Int) {
        try DeployHistoryRecords.validatePage(offset: offset, limit: limit)
        guard let search else {
            return try await read { db in try Self.page(db, deploymentId: deploymentId, offset: offset, limit: limit) }
        }
        return try await read { db in try Self.searchPage(db, deploymentId: deploymentId, offset: offset, limit: limit, search: search) }
    }

    /// A search page in one read transaction. Text of three or more characters reads the candidates from
    /// the trigram index (`v3`), so a rare term costs its matches, not the history; shorter text (and a
    /// database without the index) walks the deployment's rows on the (deployment_id, sequence) index,
    /// newest first, testing the plain columns before the image JSON.
    /// `LIKE` is ASCII case-insensitive in SQLite; `ESCAPE '\'` makes the user's `%` and `_` literal.
    /// Whether this SQLite has FTS5's trigram tokenizer (3.34 and later, FTS5 compiled in).
    static func trigramTokenizerAvailable(_ db: Database) -> Bool {
        do {
            try db.execute(sql: "CREATE VIRTUAL TABLE temp.airlock_trigram_probe USING fts5(text, tokenize = 'trigram')")
            try db.execute(sql: "DROP TABLE temp.airlock_trigram_probe")
            return true
        } catch {
            return false
        }
    }

    static func searchPage(_ db: Database, deploymentId: String, offset: Int, limit: Int,
                           search: DeploySearch) throws -> (deploys: [Deploy], totalCount: Int) {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM deployments WHERE id = ?", arguments: [deploymentId]) != nil else {
            throw DeployHistoryRecords.noDeployment(deploymentId)
        }
        /// The searched text, as `LIKE` decides it. `|| ''` keeps a column an expression, so on the index's
        /// own columns it is SQLite's `LIKE` (ASCII case folding) too, not FTS5's.
        func textFilter(_ columns: [String]) -> String {
            columns.map { "(\($0) || '') LIKE :pattern ESCAPE '\\'" }.joined(separator: " OR ")
        }
        let deployColumns = textFilter(["description", "created_by", "json_extract(image, '$.airflowVersion')",
                                        "json_extract(image, '$.runtimeVersion')"])
        var arguments: StatementArguments = ["deployment": deploymentId, "sequence": search.sequence ?? 0,
                                             "text": search.matchesText, "pattern": search.likePattern]
        var filter = "deployment_id = :deployment AND (sequence = :sequence OR (:text AND (\(deployColumns))))"
        let total: Int
        // Text with a NUL is scanned: an FTS5 query ends at the NUL and the MATCH fails (a 500 schemathesis found).
        if search.matchesText, search.text.unicodeScalars.count >= 3, !search.text.unicodeScalars.contains("\u{0}"),
           try Bool.fetchOne(db, sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deploys_search'") != nil {
            // Indexed (schema v3): the trigram index names the candidates (a superset: it folds case beyond
            // ASCII), `LIKE` then decides exactly as the scan does, so the results are the same. The count
            // reads the index alone (its rows hold the searched text), plus the deploy `#N` names when the
            // text does not match it.
            arguments += ["match": "\"" + search.text.replacingOccurrences(of: "\"", with: "\"\"") + "\""]
            let indexed = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM deploys_search WHERE deploys_search MATCH :match AND deployment_id = :deployment
                AND (\(textFilter(["description", "created_by", "airflow_version", "runtime_version"])))
                """, arguments: arguments) ?? 0
            let numbered = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM deploys WHERE deployment_id = :deployment AND sequence = :sequence AND NOT coalesce((\(deployColumns)), 0)
                """, arguments: arguments) ?? 0
            total = indexed + numbered
            // The page: walking the history newest first stops after offset + limit matches, about
            // (offset + limit) · deploys / matches rows; the index reads and sorts every match. Take the cheaper
            // (a common version walks a few rows, a rare term reads its few matches). `+` keeps the planner on
            // the candidates' primary key.
            let deployCount = try Int.fetchOne(db, sql: "SELECT deploy_count FROM deployments WHERE id = :deployment",
                                               arguments: arguments) ?? 0
            if total > 0, (offset + limit) * deployCount / total > total {
                filter = """
                    id IN (SELECT id FROM deploys WHERE deployment_id = :deployment AND sequence = :sequence
                           UNION ALL
                           SELECT k.deploy_id FROM deploys_search s JOIN deploys_search_keys k ON k.key = s.rowid
                           WHERE deploys_search MATCH :match AND s.deployment_id = :deployment)
                    AND +deployment_id = :deployment AND (+sequence = :sequence OR (\(deployColumns)))
                    """
            }
        } else {
            total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM deploys WHERE \(filter)", arguments: arguments) ?? 0
        }
        guard limit > 0, offset < total else { return ([], total) }
        var pageArguments = arguments
        pageArguments += ["limit": limit, "offset": offset]
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM deploys WHERE \(filter) ORDER BY sequence DESC LIMIT :limit OFFSET :offset",
                                    arguments: pageArguments)
        let decoder = DeployHistoryRecords.decoder()
        return (try rows.map { try DeployHistoryRecords.deploy(from: $0, decoder: decoder) }, total)
    }

    /// One page in one read transaction. Sequences are 1…N without gaps (assigned max+1, never
    /// deleted), so when `deploy_count` equals the highest sequence, offset k is a range seek on the
    /// (deployment_id, sequence) index: O(log n + limit) however deep the page. Otherwise (a gap,
    /// e.g. from a manual repair) it falls back to LIMIT/OFFSET on the same index.
    static func page(_ db: Database, deploymentId: String, offset: Int, limit: Int) throws -> (deploys: [Deploy], totalCount: Int) {
        guard let info = try Row.fetchOne(db, sql: """
            SELECT deploy_count, (SELECT MAX(sequence) FROM deploys WHERE deployment_id = ?1) AS max_sequence
            FROM deployments WHERE id = ?1
            """, arguments: [deploymentId]) else {
            throw DeployHistoryRecords.noDeployment(deploymentId)
        }
        let total: Int = info["deploy_count"]
        let maxSequence: Int = info["max_sequence"] ?? 0
        guard limit > 0, offset < total else { return ([], total) }
        let rows: [Row]
        if maxSequence == total {
            let upper = maxSequence - offset
            let lower = max(1, upper - limit + 1)
            rows = try Row.fetchAll(db, sql: """
                SELECT * FROM deploys WHERE deployment_id = ? AND sequence BETWEEN ? AND ? ORDER BY sequence DESC
                """, arguments: [deploymentId, lower, upper])
        } else {
            rows = try Row.fetchAll(db, sql: """
                SELECT * FROM deploys WHERE deployment_id = ? ORDER BY sequence DESC LIMIT ? OFFSET ?
                """, arguments: [deploymentId, limit, offset])
        }
        let decoder = DeployHistoryRecords.decoder()
        return (try rows.map { try DeployHistoryRecords.deploy(from: $0, decoder: decoder) }, total)
    }

    public func history(deploymentId: String) async throws(AirlockError) -> [Deploy] {
        try await read { db in
            _ = try Self.requireDeployment(db, id: deploymentId)
            let decoder = DeployHistoryRecords.decoder()
            return try Row.fetchAll(db, sql: "SELECT * FROM deploys WHERE deployment_id = ? ORDER BY sequence DESC",
                                    arguments: [deploymentId]).map { try DeployHistoryRecords.deploy(from: $0, decoder: decoder) }
        }
    }

    @discardableResult
    public func markDeployed(deployId: String, deploymentId: String, dbSchemaHead: String?, actor: String,
                             requestId: String?) async throws(AirlockError) -> Deploy {
        let at = now()
        let eventId = DeployHistoryRecords.newId()
        return try await write { db in
            let deployment = try Self.requireDeployment(db, id: deploymentId)
            let deploy = try Self.requireDeploy(db, id: deployId)
            guard deploy.deploymentId == deploymentId else {
                throw DeployHistoryRecords.foreignDeploy(deployId, deploymentName: deployment.name)
            }
            let previous = try deployment.currentDeployId.flatMap { id in try Self.fetchDeploy(db, id: id) }
            try db.execute(sql: """
                UPDATE deploys SET status = ?, ever_deployed = 1, db_schema_head = COALESCE(?, db_schema_head) WHERE id = ?
                """, arguments: [DeployStatus.deployed.rawValue, dbSchemaHead, deployId])
            try db.execute(sql: "UPDATE deployments SET current_deploy_id = ? WHERE id = ?", arguments: [deployId, deploymentId])
            try Self.insertAudit(db, DeployHistoryRecords.deployOutcomeEvent(id: eventId, at: at, actor: actor, requestId: requestId,
                                                                             deploy: deploy, previous: previous, failureReason: nil))
            return try Self.requireDeploy(db, id: deployId)
        }
    }

    @discardableResult
    public func markFailed(deployId: String, reason: String, actor: String, requestId: String?) async throws(AirlockError) -> Deploy {
        let at = now()
        let eventId = DeployHistoryRecords.newId()
        return try await write { db in
            let deploy = try Self.requireDeploy(db, id: deployId)
            let deployment = try Self.requireDeployment(db, id: deploy.deploymentId)
            let current = try deployment.currentDeployId.flatMap { id in try Self.fetchDeploy(db, id: id) }
            try db.execute(sql: "UPDATE deploys SET status = ? WHERE id = ?", arguments: [DeployStatus.failed.rawValue, deployId])
            try Self.insertAudit(db, DeployHistoryRecords.deployOutcomeEvent(id: eventId, at: at, actor: actor, requestId: requestId,
                                                                             deploy: deploy, previous: current, failureReason: reason))
            return try Self.requireDeploy(db, id: deployId)
        }
    }

    @discardableResult
    public func recordTargetRun(deployId: String, targetImage: String?, helmRevision: Int?) async throws(AirlockError) -> Deploy {
        try await write { db in
            _ = try Self.requireDeploy(db, id: deployId)
            try db.execute(sql: "UPDATE deploys SET target_image = ?, helm_revision = ? WHERE id = ?",
                           arguments: [targetImage, helmRevision, deployId])
            return try Self.requireDeploy(db, id: deployId)
        }
    }

    // MARK: Audit

    public func appendAudit(_ event: AuditEvent) async throws(AirlockError) {
        try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM audit_events WHERE id = ?", arguments: [event.id]) != nil {
                throw DeployHistoryRecords.duplicateAudit(event.id)
            }
            try Self.insertAudit(db, event)
        }
    }

    public func auditEvents(_ query: AuditQuery) async throws(AirlockError) -> AuditPage {
        let conditions = try DeployHistoryRecords.auditConditions(query)
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.map { "\($0.column) = ?" }.joined(separator: " AND ")
        let values = conditions.map(\.value)
        return try await read { db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM audit_events \(filter)", arguments: StatementArguments(values)) ?? 0
            guard query.limit > 0, query.offset < total else { return AuditPage(events: [], totalCount: total) }
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM audit_events \(filter) ORDER BY seq DESC LIMIT ? OFFSET ?",
                                        arguments: StatementArguments(values) + [query.limit, query.offset])
            return AuditPage(events: try rows.map(DeployHistoryRecords.auditEvent(from:)), totalCount: total)
        }
    }

    private static func insertAudit(_ db: Database, _ event: AuditEvent) throws {
        try db.execute(sql: """
            INSERT INTO audit_events (id, at, actor, action, deployment_id, before_deploy_id, after_deploy_id, before_runtime,
                                      after_runtime, outcome, request_id, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [event.id, event.at.timeIntervalSince1970, event.actor, event.action.rawValue, event.deploymentId,
                             event.beforeDeployId, event.afterDeployId, event.beforeRuntime, event.afterRuntime,
                             event.outcome.rawValue, event.requestId, event.detail])
    }

    // MARK: Tokens

    public func createToken(name: String, role: Role) async throws(AirlockError) -> (token: String, record: APIToken) {
        let trimmed = try DeployHistoryRecords.validatedTokenName(name)
        let secret = DeployHistoryRecords.newTokenSecret()
        let record = APIToken(id: DeployHistoryRecords.newId(), name: trimmed, role: role, createdAt: now())
        let hash = SHA256.hex(secret)
        try await write { db in
            try db.execute(sql: "INSERT INTO api_tokens (id, name, role, secret_sha256, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)",
                           arguments: [record.id, record.name, record.role.rawValue, hash, record.createdAt.timeIntervalSince1970])
        }
        return (secret, record)
    }

    public func token(matching secret: String) async throws(AirlockError) -> APIToken? {
        guard secret.hasPrefix(APIToken.secretPrefix) else { return nil }
        let hash = SHA256.hex(secret)
        let token = try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_tokens WHERE secret_sha256 = ? AND revoked_at IS NULL", arguments: [hash])
                .map(DeployHistoryRecords.token(from:))
        }
        let at = now()
        guard var token, token.needsUseRecorded(at: at) else { return token }
        let (id, since) = (token.id, at.timeIntervalSince1970 - APIToken.lastUsedResolution)
        try await write { db in
            try db.execute(sql: "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
                           arguments: [at.timeIntervalSince1970, id, since])
        }
        token.lastUsedAt = at
        return token
    }

    public func listTokens() async throws(AirlockError) -> [APIToken] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_tokens ORDER BY created_at, id").map(DeployHistoryRecords.token(from:))
        }
    }

    @discardableResult
    public func revokeToken(id: String) async throws(AirlockError) -> APIToken {
        let at = now().timeIntervalSince1970
        return try await write { db in
            try db.execute(sql: "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [at, id])
            try db.execute(sql: "DELETE FROM web_sessions WHERE token_id = ?", arguments: [id])
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM api_tokens WHERE id = ?", arguments: [id]) else {
                throw DeployHistoryRecords.noToken(id)
            }
            return try DeployHistoryRecords.token(from: row)
        }
    }

    // MARK: Web UI sessions

    public func createWebSession(_ session: WebSessionRecord) async throws(AirlockError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM web_sessions WHERE expires_at <= ?", arguments: [session.createdAt.timeIntervalSince1970])
            try db.execute(sql: "INSERT INTO web_sessions (id_sha256, token_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [session.idSHA256, session.tokenId, session.csrf,
                                       session.createdAt.timeIntervalSince1970, session.expiresAt.timeIntervalSince1970])
        }
    }

    public func webSession(idSHA256: String, now: Date) async throws(AirlockError) -> WebSessionRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM web_sessions WHERE id_sha256 = ? AND expires_at > ?",
                             arguments: [idSHA256, now.timeIntervalSince1970])
                .map(DeployHistoryRecords.webSession(from:))
        }
    }

    public func deleteWebSession(idSHA256: String) async throws(AirlockError) {
        try await write { db in try db.execute(sql: "DELETE FROM web_sessions WHERE id_sha256 = ?", arguments: [idSHA256]) }
    }

    public func deleteWebSessions(tokenId: String) async throws(AirlockError) {
        try await write { db in try db.execute(sql: "DELETE FROM web_sessions WHERE token_id = ?", arguments: [tokenId]) }
    }

    // MARK: Artifacts

    @discardableResult
    public func markArtifactsExpired(deployIds: [String]) async throws(AirlockError) -> Int {
        guard !deployIds.isEmpty else { return 0 }
        return try await write { db in
            var changed = 0
            for id in Set(deployIds) {
                try db.execute(sql: "UPDATE deploys SET artifacts_stored = 0 WHERE id = ? AND artifacts_stored = 1", arguments: [id])
                changed += db.changesCount
            }
            return changed
        }
    }

    // MARK: Several servers

    /// An `flock` on `deploymentLockFile`: one SQLite file normally has one server, but a second process on
    /// the same data folder (another `airlock server`, a CLI next to it) takes turns with it too, and the
    /// kernel frees the lock of a process that dies.
    public func withDeploymentLock<T: Sendable>(deploymentId: String,
                                                _ body: @Sendable () async throws(AirlockError) -> T) async throws(AirlockError) -> T {
        let lock = try FileLock(deploymentLockFile(deploymentId: deploymentId))
        try await lock.acquire()
        defer { lock.release() }
        return try await body()
    }

    /// `<database file>.locks/<SHA-256 of the deployment id>.lock`: next to the database, so every process
    /// on that file finds it; hashed, because a deployment id is not necessarily a safe file name.
    public func deploymentLockFile(deploymentId: String) -> URL {
        lockFolder.appendingPathComponent("\(SHA256.hex(deploymentId).prefix(32)).lock")
    }

    /// One server per SQLite file: deploys it finds `INITIALIZED` at its start are its own leftovers.
    public var isSharedByServers: Bool { false }

    // MARK: Plumbing

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(AirlockError) -> T {
        do {
            return try await writer.read(body)
        } catch {
            throw Self.mapError(error, path: path)
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(AirlockError) -> T {
        do {
            return try await writer.write(body)
        } catch {
            throw Self.mapError(error, path: path)
        }
    }

    static func mapError(_ error: any Error, path: String?) -> AirlockError {
        if let error = error as? AirlockError { return error }
        let location = path.map { " at \($0)" } ?? ""
        if let error = error as? DatabaseError {
            if error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE, error.message?.contains("deploys.sequence") == true {
                return DeployHistoryRecords.sequenceRace
            }
            return .environment("The deploy history database\(location) failed: \(error.message ?? "\(error.resultCode)")",
                                hint: error.resultCode == .SQLITE_BUSY ? "another Airlock process holds the database; retry" : nil)
        }
        return .environment("The deploy history database\(location) failed: \(error)")
    }

    private static func requireDeployment(_ db: Database, id: String) throws -> Deployment {
        guard let deployment = try fetchDeployment(db, id: id) else { throw DeployHistoryRecords.noDeployment(id) }
        return deployment
    }

    private static func fetchDeployment(_ db: Database, id: String) throws -> Deployment? {
        try Row.fetchOne(db, sql: "SELECT * FROM deployments WHERE id = ?", arguments: [id]).map(DeployHistoryRecords.deployment(from:))
    }

    private static func requireDeploy(_ db: Database, id: String) throws -> Deploy {
        guard let deploy = try fetchDeploy(db, id: id) else { throw DeployHistoryRecords.noDeploy(id) }
        return deploy
    }

    private static func fetchDeploy(_ db: Database, id: String) throws -> Deploy? {
        let decoder = DeployHistoryRecords.decoder()
        return try Row.fetchOne(db, sql: "SELECT * FROM deploys WHERE id = ?", arguments: [id])
            .map { try DeployHistoryRecords.deploy(from: $0, decoder: decoder) }
    }
}

/// GRDB rows for the shared row mapping: a NULL or mistyped column is an `.environment` error, not a trap.
extension Row: DeployHistoryRow {
    private func value<T: DatabaseValueConvertible>(_ column: String) throws -> T {
        guard let value = self[column] as T? else {
            throw AirlockError.environment("The deploy history database holds no readable `\(column)` value (expected \(T.self))")
        }
        return value
    }

    func string(_ column: String) throws -> String { try value(column) }
    func optionalString(_ column: String) throws -> String? { self[column] }
    func int(_ column: String) throws -> Int { try value(column) }
    func optionalInt(_ column: String) throws -> Int? { self[column] }
    func double(_ column: String) throws -> Double { try value(column) }
    func optionalDouble(_ column: String) throws -> Double? { self[column] }
    func bool(_ column: String) throws -> Bool { try value(column) }
}
