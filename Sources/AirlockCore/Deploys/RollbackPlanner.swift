import Foundation
import PythonPackaging

/// Project files that differ between two deploys, as relative paths sorted by path (SPEC §4.3 rule 8).
public struct FileChanges: Hashable, Codable, Sendable {
    public var added: [String]
    public var removed: [String]
    public var changed: [String]

    public init(added: [String] = [], removed: [String] = [], changed: [String] = []) {
        self.added = added
        self.removed = removed
        self.changed = changed
    }

    /// Compares two manifests (relative path → sha256): `added` are only in `new`, `removed` only in
    /// `old`, `changed` in both with different digests.
    public init(from old: [String: String], to new: [String: String]) {
        self.added = new.keys.filter { old[$0] == nil }.sorted()
        self.removed = old.keys.filter { new[$0] == nil }.sorted()
        self.changed = new.compactMap { path, digest in old[path].flatMap { $0 == digest ? nil : path } }.sorted()
    }

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
    public var count: Int { added.count + removed.count + changed.count }
}

/// The runtime before and after, for the preview and the audit log.
public struct RuntimeChange: Hashable, Codable, Sendable {
    public var fromRuntime: String?
    public var toRuntime: String?
    public var fromAirflow: String?
    public var toAirflow: String?
    public var fromPython: String?
    public var toPython: String?
    /// By Airflow version (PEP 440), else by runtime version; `none` when equal or unknown.
    public var direction: DatabaseCheck.Direction

    public init(fromRuntime: String?, toRuntime: String?, fromAirflow: String?, toAirflow: String?,
                fromPython: String?, toPython: String?, direction: DatabaseCheck.Direction) {
        self.fromRuntime = fromRuntime
        self.toRuntime = toRuntime
        self.fromAirflow = fromAirflow
        self.toAirflow = toAirflow
        self.fromPython = fromPython
        self.toPython = toPython
        self.direction = direction
    }
}

/// A metadata-DB backup taken just before an upgrade migration (SPEC §4.3 rule 7). It can undo
/// that upgrade when its schema head is the one the rollback goes back to.
public struct BackupInfo: Hashable, Codable, Sendable {
    public var id: String
    public var takenAt: Date
    /// The alembic head of the database in the backup.
    public var schemaHead: String

    public init(id: String, takenAt: Date, schemaHead: String) {
        self.id = id
        self.takenAt = takenAt
        self.schemaHead = schemaHead
    }
}

/// What the rollback does to the metadata database. Downgrading must run with the current (newer)
/// environment before the switch, since only it has the downgrade scripts; a pre-upgrade backup is
/// the cleaner alternative when one exists, and the preview says what each choice loses.
public struct DatabasePlan: Hashable, Codable, Sendable {
    public enum Option: String, Hashable, Codable, Sendable {
        /// `airflow db downgrade` to the target's head.
        case downgrade
        /// Restore the backup taken just before the upgrade being undone (`--restore-backup`).
        case restoreBackup
    }

    public struct Choice: Hashable, Codable, Sendable {
        public var option: Option
        /// What happens, in one sentence.
        public var summary: String
        /// What is lost.
        public var loses: String
        /// For `.restoreBackup`.
        public var backupId: String?

        public init(option: Option, summary: String, loses: String, backupId: String? = nil) {
            self.option = option
            self.summary = summary
            self.loses = loses
            self.backupId = backupId
        }
    }

    public var direction: DatabaseCheck.Direction
    /// Head of the current deploy's schema.
    public var fromHead: String?
    /// Head of the target's schema.
    public var toHead: String?
    /// As given by the caller: the migrations run (upgrade) or undone (downgrade).
    public var migrations: [DatabaseMigration]
    /// Empty unless the schema goes down.
    public var choices: [Choice]
    /// The option that will run; `nil` unless the schema goes down.
    public var chosen: Option?
    /// Whether the DB is backed up before anything changes: always when the schema moves.
    public var backupFirst: Bool

    public init(direction: DatabaseCheck.Direction, fromHead: String?, toHead: String?, migrations: [DatabaseMigration],
                choices: [Choice], chosen: Option?, backupFirst: Bool) {
        self.direction = direction
        self.fromHead = fromHead
        self.toHead = toHead
        self.migrations = migrations
        self.choices = choices
        self.chosen = chosen
        self.backupFirst = backupFirst
    }
}

/// The preview of a rollback and the recipe for carrying it out (SPEC §4.3 rules 5–8). Built only by
/// `RollbackPlanner.plan`, which refuses ineligible targets, so holding a plan means the rules passed.
public struct RollbackPlan: Hashable, Codable, Sendable {
    public var deploymentId: String
    /// The deploy that is current now.
    public var fromDeploy: Deploy
    /// The deploy whose image and DAG bundle come back.
    public var toDeploy: Deploy
    /// Sequence number of the rollback deploy: one above the highest in the history.
    public var newSequence: Int
    /// `IMAGE_AND_DAG` when the image differs, else `DAG_ONLY`.
    public var type: DeployType
    public var runtimeChange: RuntimeChange
    /// Package changes from the current pins to the target's; `nil` unless both pin sets were given.
    public var packageDiff: [DependencyChange]?
    /// Project files changed by the rollback; `nil` unless both manifests were given.
    public var files: FileChanges?
    public var database: DatabasePlan
    /// Deploys that reached `DEPLOYED` strictly between the target and the current one.
    public var skippedDeploys: Int
    /// What comes back with the target (rule 6).
    public var rolledBack: [String]
    /// What stays as it is (rule 6): each environment variable by name, the executor and resources,
    /// every other setting.
    public var notRolledBack: [String]
    /// Danger messages (rule 9), most general first.
    public var warnings: [String]
    /// The trimmed description; `nil` only for a dry run without one.
    public var description: String?
    public var dryRun: Bool
    /// `rollback-images` or `rollback-dags` (`admin` also works).
    public var requiredRole: Role

    /// The new deploy record (rule 5): next sequence, the target's image, DAG bundle, DAG-deploy
    /// setting, schema head and git metadata, linked to both deploys, `INITIALIZED`.
    public func newDeploy(id: String, now: Date, actor: String) -> Deploy {
        Deploy(id: id, deploymentId: deploymentId, sequence: newSequence, type: type, status: .initialized,
               description: description ?? "Rollback to \(toDeploy.label)", createdAt: now, createdBy: actor,
               image: toDeploy.image, dagBundleVersion: toDeploy.dagBundleVersion, dagDeployEnabled: toDeploy.dagDeployEnabled,
               dbSchemaHead: toDeploy.dbSchemaHead, git: toDeploy.git, rollbackFromId: fromDeploy.id, rollbackToId: toDeploy.id,
               artifactsStored: toDeploy.artifactsStored, everDeployed: false)
    }

    /// The deployment's settings once the rollback succeeds: only the DAG-deploy setting changes.
    public func settingsAfterRollback(_ settings: DeploymentSettings) -> DeploymentSettings {
        var settings = settings
        settings.dagDeployEnabled = toDeploy.dagDeployEnabled
        return settings
    }
}

/// Builds rollback plans. Pure: the caller gathers pins, manifests, migrations and backups and
/// passes `now`, so the same inputs always give the same preview.
public enum RollbackPlanner {
    public static let lastResortWarning = "Rollbacks are a last resort for a recent deploy that broke: fixing forward with a new deploy is usually safer"

    /// Finds a deploy by `3`, `#3` or its id.
    public static func resolveTarget(_ reference: String, in history: [Deploy]) throws(AirlockError) -> Deploy {
        let text = reference.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            throw .usage("A deploy to roll back to is required", hint: "give its number (`3` or `#3`) or its id")
        }
        if let sequence = Deploy.sequence(fromReference: text), let deploy = history.first(where: { $0.sequence == sequence }) {
            return deploy
        }
        if let deploy = history.first(where: { $0.id == text }) { return deploy }
        throw .notFound("No deploy `\(text)` in this deployment's history", hint: "`airlock deploys list` shows the numbers and ids")
    }

    /// Checks every rule and builds the preview. Refuses (`.usage`) an ineligible target, a missing or
    /// too long description (unless `dryRun` and none was given), a role without the needed permission
    /// (not for a dry run: anyone may preview), and `restoreBackup` without a matching backup.
    ///
    /// - Parameters:
    ///   - targetId: `3`, `#3` or a deploy id.
    ///   - currentPins, targetPins: the two environments' pins, for the package diff.
    ///   - currentManifest, targetManifest: relative path → sha256 of all project files (image and DAGs).
    ///   - migrations: the migrations between the two schema heads.
    ///   - backupBeforeUpgrade: the backup taken just before the upgrade being undone, if any.
    public static func plan(deployment: Deployment, history: [Deploy], targetId: String, now: Date,
                            description: String?, dryRun: Bool = false, restoreBackup: Bool = false, role: Role,
                            currentPins: PinnedSet? = nil, targetPins: PinnedSet? = nil,
                            currentManifest: [String: String]? = nil, targetManifest: [String: String]? = nil,
                            migrations: [DatabaseMigration] = [], backupBeforeUpgrade: BackupInfo? = nil) throws(AirlockError) -> RollbackPlan {
        let history = RollbackPolicy.own(history, deployment)
        let target = try resolveTarget(targetId, in: history)
        let reasons = RollbackPolicy.eligibility(of: target, in: history, deployment: deployment, now: now)
        guard reasons.isEmpty, let current = RollbackPolicy.currentDeploy(in: history, deployment: deployment) else {
            throw .usage("Cannot roll back to \(target.label): " + reasons.map(\.message).joined(separator: "; "))
        }

        var trimmedDescription: String?
        let given = (description ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if !dryRun || !given.isEmpty {
            trimmedDescription = try RollbackPolicy.validateDescription(description)
        }

        let type: DeployType = current.image == target.image ? .dagOnly : .imageAndDag
        let requiredRole = RollbackPolicy.requiredRole(for: type)
        if !dryRun, !role.satisfies(requiredRole) {
            throw .usage(RollbackIneligibility.missingPermission(requiredRole).message, hint: "your role is `\(role.rawValue)`")
        }

        let database = try databasePlan(from: current, to: target, migrations: migrations,
                                         backup: backupBeforeUpgrade, restoreBackup: restoreBackup)
        let low = min(current.sequence, target.sequence), high = max(current.sequence, target.sequence)
        let skipped = history.filter { $0.reachedDeployed && $0.sequence > low && $0.sequence < high }.map(\.sequence).sorted()

        var packageDiff: [DependencyChange]?
        if let currentPins, let targetPins { packageDiff = DependencyDiff(from: currentPins, to: targetPins).changes }
        var files: FileChanges?
        if let currentManifest, let targetManifest { files = FileChanges(from: currentManifest, to: targetManifest) }

        return RollbackPlan(
            deploymentId: deployment.id, fromDeploy: current, toDeploy: target,
            newSequence: (history.map(\.sequence).max() ?? 0) + 1, type: type,
            runtimeChange: runtimeChange(from: current, to: target), packageDiff: packageDiff, files: files, database: database,
            skippedDeploys: skipped.count, rolledBack: rolledBack(from: current, to: target),
            notRolledBack: notRolledBack(deployment.settings),
            warnings: warnings(from: current, to: target, database: database, skipped: skipped, backup: backupBeforeUpgrade,
                               sqlite: deployment.settings.metadataDatabaseUrl == nil),
            description: trimmedDescription, dryRun: dryRun, requiredRole: requiredRole)
    }

    // MARK: Pieces

    /// Compares the two images: Airflow versions by PEP 440, else runtime versions; `nil` when neither can be read.
    static func versionDirection(from current: DeployImage?, to target: DeployImage?) -> DatabaseCheck.Direction? {
        guard let current, let target else { return nil }
        if let old = Version(current.airflowVersion), let new = Version(target.airflowVersion) {
            return new == old ? DatabaseCheck.Direction.none : (new < old ? .downgrade : .upgrade)
        }
        if let oldText = current.runtimeVersion, let newText = target.runtimeVersion,
           let old = RuntimeVersion(oldText), let new = RuntimeVersion(newText) {
            return new == old ? DatabaseCheck.Direction.none : (new < old ? .downgrade : .upgrade)
        }
        return nil
    }

    static func runtimeChange(from current: Deploy, to target: Deploy) -> RuntimeChange {
        RuntimeChange(fromRuntime: current.image?.runtimeVersion, toRuntime: target.image?.runtimeVersion,
                      fromAirflow: current.image?.airflowVersion, toAirflow: target.image?.airflowVersion,
                      fromPython: current.image?.python, toPython: target.image?.python,
                      direction: versionDirection(from: current.image, to: target.image) ?? .none)
    }

    /// Same heads: no change. Different heads: down when the target's Airflow is older (as the
    /// upgrade test decides), and down when the versions cannot be read, the safe assumption since
    /// it takes a backup and warns. A missing head: inferred from the versions.
    static func schemaDirection(from current: Deploy, to target: Deploy) -> DatabaseCheck.Direction {
        let byVersion = versionDirection(from: current.image, to: target.image)
        if let fromHead = current.dbSchemaHead, let toHead = target.dbSchemaHead {
            if fromHead == toHead { return .none }
            return byVersion == .downgrade || byVersion == nil ? .downgrade : .upgrade
        }
        return byVersion ?? .none
    }

    static func databasePlan(from current: Deploy, to target: Deploy, migrations: [DatabaseMigration],
                             backup: BackupInfo?, restoreBackup: Bool) throws(AirlockError) -> DatabasePlan {
        let direction = schemaDirection(from: current, to: target)
        let usableBackup = backup.flatMap { $0.schemaHead == target.dbSchemaHead ? $0 : nil }
        if restoreBackup, direction != .downgrade {
            throw .usage("--restore-backup applies only when the database schema goes down; this rollback does not lower it")
        }
        if restoreBackup, usableBackup == nil {
            let reason = backup.map { "backup `\($0.id)` has schema head `\($0.schemaHead)`, not the target's `\(target.dbSchemaHead ?? "unknown")`" }
                ?? "there is no backup from just before the upgrade being undone"
            throw .usage("Cannot restore a backup: \(reason)", hint: "leave out --restore-backup to downgrade the schema instead")
        }
        var choices: [DatabasePlan.Choice] = []
        var chosen: DatabasePlan.Option?
        if direction == .downgrade {
            let head = target.dbSchemaHead.map { " to `\($0)`" } ?? ""
            choices.append(.init(option: .downgrade,
                                 summary: "Run `airflow db downgrade`\(head) with the current environment before switching",
                                 loses: "Erases the data of features newer than the target (tables and columns added since); running tasks fail"))
            if let usableBackup {
                choices.append(.init(option: .restoreBackup,
                                     summary: "Restore backup `\(usableBackup.id)` taken before the upgrade being undone",
                                     loses: "Loses everything written to the metadata database since \(timestamp(usableBackup.takenAt)): runs, task states, variables and connections; running tasks fail",
                                     backupId: usableBackup.id))
            }
            chosen = restoreBackup ? .restoreBackup : .downgrade
        }
        return DatabasePlan(direction: direction, fromHead: current.dbSchemaHead, toHead: target.dbSchemaHead,
                            migrations: migrations, choices: choices, chosen: chosen, backupFirst: direction != .none)
    }

    static func rolledBack(from current: Deploy, to target: Deploy) -> [String] {
        var items = ["Project code including DAGs (from \(target.label))"]
        if current.image != target.image {
            items.append("Image: \(current.image?.versionLabel ?? "unknown") → \(target.image?.versionLabel ?? "unknown")")
        }
        if current.dagDeployEnabled != target.dagDeployEnabled {
            items.append("DAG deploy setting: \(onOff(current.dagDeployEnabled)) → \(onOff(target.dagDeployEnabled))")
        }
        return items
    }

    static func notRolledBack(_ settings: DeploymentSettings) -> [String] {
        var items: [String] = []
        if settings.environmentVariables.isEmpty {
            items.append("Environment variables (none are set)")
        } else {
            items += settings.environmentVariables.keys.sorted().map { "Environment variable `\($0)`" }
        }
        items.append(settings.executor.map { "Executor `\($0)` and resources" } ?? "Executor and resources")
        items.append("Every other deployment setting (name, retention, rollback and pin settings)")
        return items
    }

    /// - Parameter sqlite: the metadata database is SQLite (no `metadataDatabaseUrl`), where Airlock moves
    ///   the rows a downgrade leaves dangling (`MetadataDatabase.moveDanglingRows`).
    static func warnings(from current: Deploy, to target: Deploy, database: DatabasePlan, skipped: [Int], backup: BackupInfo?,
                         sqlite: Bool) -> [String] {
        var warnings = [lastResortWarning]
        if skipped.count > 1, let first = skipped.first, let last = skipped.last {
            warnings.append("This rollback skips \(skipped.count) deploys (#\(first) … #\(last)); rolling back across several deploys is disruptive")
        }
        switch (database.direction, database.chosen) {
        case (.downgrade, .restoreBackup?):
            let since = backup.map { " since \(timestamp($0.takenAt))" } ?? ""
            warnings.append("The metadata database is restored from a backup: everything written\(since) is lost, and running tasks fail (tasks with retries left retry afterwards)")
        case (.downgrade, _):
            let heads = database.fromHead.flatMap { from in database.toHead.map { " from `\(from)` to `\($0)`" } } ?? ""
            warnings.append("The metadata database schema goes down\(heads) before the switch: data of features newer than the target is erased, and running tasks fail (tasks with retries left retry afterwards)")
        case (.upgrade, _):
            warnings.append("The metadata database schema goes up: it is backed up, then `airflow db migrate` runs")
        case (.none, _):
            break
        }
        for deploy in [current, target] where deploy.dbSchemaHead == nil {
            warnings.append("The schema head of \(deploy.label) is not recorded; the database direction is inferred from the Airflow versions")
        }
        if let from = current.image.flatMap({ Version($0.airflowVersion) }), let to = target.image.flatMap({ Version($0.airflowVersion) }),
           let fromMajor = from.release.first, let toMajor = to.release.first, fromMajor != toMajor {
            warnings.append("The rollback crosses Airflow major versions (\(fromMajor) → \(toMajor)): it takes longer, and the DAGs must suit Airflow \(toMajor)")
            if fromMajor >= 3, toMajor < 3, database.chosen == .downgrade {
                warnings.append(movedRunsWarning(sqlite: sqlite))
            }
        }
        if current.image == target.image, current.dagBundleVersion == target.dagBundleVersion {
            warnings.append(current.dagDeployEnabled == target.dagDeployEnabled
                ? "The target has the same image and DAG bundle as the current deploy; nothing changes"
                : "The target has the same image and DAG bundle as the current deploy; only the DAG deploy setting changes")
        }
        return warnings
    }

    /// Airflow 2's schema needs a logical date on every DAG run, and Airflow 3 records its manual runs
    /// without one: downgrading below 3.0 moves those runs out of `dag_run` (Airflow's own migration),
    /// and on SQLite Airlock then moves the task instances, notes and XComs they leave dangling, so the
    /// next upgrade does not fail on them. Nothing is deleted, but Airflow 2 no longer shows any of it.
    static func movedRunsWarning(sqlite: Bool) -> String {
        let rows = sqlite
            ? "; their task instances, notes and XComs go to `_airflow_moved__airlock_<UTC time>__dangling__<table>` tables"
            : ""
        return "The DAG runs Airflow 3 recorded without a logical date (its manual runs) leave the run history: the downgrade moves them to `_airflow_moved__3_0_0__offending_dag_run`\(rows). They are kept in the database, but Airflow 2 does not show them"
    }

    private static func onOff(_ flag: Bool) -> String { flag ? "on" : "off" }

    /// `2025-06-01T12:00:00Z`: UTC, so previews do not depend on the machine's time zone.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}

extension RollbackPlan {
    /// Confirmation rises with risk: a rollback that lowers Airflow or crosses a DB migration also needs
    /// the deployment's name typed in (web UI); a plain code rollback needs only the description.
    public var needsTypedConfirmation: Bool {
        runtimeChange.direction == .downgrade || database.direction != .none || !database.migrations.isEmpty
    }
}
