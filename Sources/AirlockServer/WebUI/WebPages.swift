import AirlockCore
import Foundation

// What each template shows, as plain values (Mustache reads them by reflection). Absent values are
// `nil`, never "", because Mustache renders a section for any present value.

/// The layout's part of every page: title, who is signed in, self-refresh.
struct Frame {
    struct SessionView { var tokenName: String; var role: String; var csrf: String; var isAdmin = false }
    var title: String
    var session: SessionView?
    var refreshSeconds: Int?

    init(title: String, session: WebSession?, refreshSeconds: Int? = nil) {
        self.title = title
        self.session = session.map { SessionView(tokenName: $0.tokenName, role: $0.role.rawValue, csrf: $0.csrf, isAdmin: $0.role == .admin) }
        self.refreshSeconds = refreshSeconds
    }
}

struct LinkView { var href: String; var text: String? = nil }

/// `<time datetime>` with absolute UTC text and a relative hint.
struct TimeView {
    var iso: String
    var absolute: String
    var relative: String

    /// One value-type format shared by every row: making an `ISO8601DateFormatter` per time cost about a
    /// millisecond each, most of a 50-row page (benchmarks/ui).
    static let isoFormat = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!)

    init(_ date: Date, now: Date = Date()) {
        self.iso = Self.isoFormat.format(date)
        self.absolute = self.iso.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
        self.relative = Self.relative(now.timeIntervalSince(date))
    }

    static func relative(_ seconds: TimeInterval) -> String {
        let past = seconds >= 0, value = abs(seconds)
        let text: String
        switch value {
        case ..<60: return "just now"
        case ..<3600: text = "\(Int(value / 60)) min"
        case ..<86_400: text = "\(Int(value / 3600)) h"
        default: text = "\(Int(value / 86_400)) d"
        }
        return past ? "\(text) ago" : "in \(text)"
    }
}

struct PinView {
    var by: String
    var reason: String
    var time: TimeView

    init(_ pin: Deployment.Pin) {
        by = pin.by
        reason = pin.reason
        time = TimeView(pin.at)
    }
}

/// A deploy named in a line: number, versions, time.
struct DeployLink {
    var sequence: Int
    var versions: String
    var time: TimeView

    init(_ deploy: Deploy) {
        sequence = deploy.sequence
        versions = deploy.image?.versionLabel ?? "unknown version"
        time = TimeView(deploy.createdAt)
    }
}

struct RollbackOf { var from: Int; var to: Int }

/// "Rollback to" offered, or the reasons it is not, in words.
struct Availability { var canRollback: Bool; var reasons: [String] }

struct MessagePage {
    var frame: Frame
    var title: String
    var message: String
    var kind: String
    var role: String
    var link: LinkView?
}

struct SignInPage {
    var frame: Frame
    var csrf: String
    var next: String
    var error: String?
}

struct DeploymentsPage {
    struct Row {
        var name: String
        var pathName: String
        var target: String
        var current: DeployLink?
        var health: String
        var rollbackEnabled: Bool
        var pinned: PinView?
    }

    var frame: Frame
    var deployments: [Row]
    var hasDeployments: Bool
    var canCreate: Bool
    var csrf: String?
    var error: String?
    var newName: String?
}

/// Deploy History's rows, the model of the `history_rows` template.
struct HistoryRowsView {
    var rows: [HistoryRow]
    /// The search, for the text shown when no row matches.
    var query: String?
}

/// One row of Deploy History.
struct HistoryRow {
    var pathName: String
    var sequence: Int
    var status: String
    var statusClass: String
    var isCurrent: Bool
    var time: TimeView
    var description: String
    var rollbackOf: RollbackOf?
    var type: String
    var versions: String
    var actor: String
    var imageDigest: String?
    var imageShort: String?
    var dagsDigest: String?
    var dagsShort: String?
    var canRollback: Bool
    var reasons: [String]

    init(_ deploy: Deploy, pathName: String, isCurrent: Bool, rollbackOf: RollbackOf?, availability: Availability) {
        self.pathName = pathName
        sequence = deploy.sequence
        status = deploy.status.rawValue
        statusClass = deploy.status.rawValue.lowercased()
        self.isCurrent = isCurrent
        time = TimeView(deploy.createdAt)
        description = deploy.description
        self.rollbackOf = rollbackOf
        type = deploy.type.rawValue
        versions = deploy.image?.versionLabel ?? "unknown"
        actor = deploy.createdBy
        imageDigest = deploy.image?.projectDigest
        imageShort = imageDigest.map(Self.short)
        dagsDigest = deploy.dagBundleVersion
        dagsShort = dagsDigest.map(Self.short)
        canRollback = availability.canRollback
        reasons = availability.reasons
    }

    /// The first 12 hex digits of a digest (`sha256:` dropped), like short git commits.
    static func short(_ digest: String) -> String {
        String((digest.split(separator: ":").last.map(String.init) ?? digest).prefix(12))
    }
}

struct DeploymentPage {
    struct Component { var name: String; var status: String }

    var frame: Frame
    var name: String
    var pathName: String
    var target: String
    var pinned: PinView?
    var current: DeployLink?
    var health: String
    var components: [Component]
    var airflowUrl: String?
    var dbSchemaHead: String?
    var rollbackEnabled: Bool
    /// The Deploy History rows as `history_rows` renders them (`HistoryRowsCache`).
    var rowsHTML: String
    var rangeText: String
    var previous: LinkView?
    var next: LinkView?
    /// The Deploy History search as typed (the store filters, counts and pages it).
    var query: String? = nil
    /// Why this viewer cannot unpin (not `admin`), shown instead of the Unpin link (`WebPins`).
    var unpinRefusal: String? = nil
}

/// One line of a deploy's step log, with how long it took when that is known.
struct StepView {
    var text: String
    var took: String?
}

struct DeployPageView {
    var frame: Frame
    var deploymentName: String
    var pathName: String
    var id: String
    var sequence: Int
    var status: String
    var statusClass: String
    var isCurrent: Bool
    var running: Bool
    var deployed: Bool
    var statusMessage: String?
    var failure: String?
    var refreshEvery: Int
    var description: String
    var rollbackOf: RollbackOf?
    var time: TimeView
    var type: String
    var versions: String
    var python: String?
    var actor: String
    var imageDigest: String?
    var dagsDigest: String?
    var lockHash: String?
    var dbSchemaHead: String?
    /// What the target ran (Kubernetes): the image by digest and the Helm revision; rows only when known.
    var targetImage: String?
    var helmRevision: Int?
    var dagDeployEnabled: Bool
    var artifactsStored: Bool
    var git: GitMetadata?
    var hasSteps: Bool
    var steps: [StepView]
    var canRollback: Bool
    var hasReasons: Bool
    var reasons: [String]
    /// The deploy before this one, offered by the compare form (`WebCompare`).
    var compareWith: Int

    init(frame: Frame, deploymentName: String, pathName: String, deploy: Deploy, isCurrent: Bool, running: Bool, statusMessage: String?,
         failure: String?, rollbackOf: RollbackOf?, steps: [DeployStep], availability: Availability, refreshSeconds: Int) {
        self.frame = frame
        self.deploymentName = deploymentName
        self.pathName = pathName
        id = deploy.id
        sequence = deploy.sequence
        status = deploy.status.rawValue
        statusClass = deploy.status.rawValue.lowercased()
        self.isCurrent = isCurrent
        self.running = running
        deployed = deploy.status == .deployed
        self.statusMessage = statusMessage
        self.failure = failure
        refreshEvery = refreshSeconds
        description = deploy.description
        self.rollbackOf = rollbackOf
        time = TimeView(deploy.createdAt)
        type = deploy.type.rawValue
        versions = deploy.image?.versionLabel ?? "unknown"
        python = deploy.image?.python
        actor = deploy.createdBy
        imageDigest = deploy.image?.projectDigest
        dagsDigest = deploy.dagBundleVersion
        lockHash = deploy.image?.lockHash
        dbSchemaHead = deploy.dbSchemaHead
        targetImage = deploy.targetImage
        helmRevision = deploy.helmRevision
        dagDeployEnabled = deploy.dagDeployEnabled
        artifactsStored = deploy.artifactsStored
        git = deploy.git
        hasSteps = !steps.isEmpty
        // A finished deploy's last step ("Deployed: …", or the failure) is where it ended: it has no length.
        let durations = DeployStep.durations(of: steps, end: running ? Date() : nil)
        self.steps = zip(steps, durations).map { step, seconds in StepView(text: step.message, took: seconds.map(DeployStep.durationText)) }
        canRollback = availability.canRollback
        hasReasons = !availability.reasons.isEmpty
        reasons = availability.reasons
        compareWith = max(1, deploy.sequence - 1)
    }
}

struct SettingsPage {
    var frame: Frame
    var name: String
    var pathName: String
    var csrf: String?
    var saved: Bool
    var readOnlyReason: String?
    var rollbackEnabled: Bool
    var dagDeployEnabled: Bool
    var retentionDays: Int
    /// What the retention field holds: the stored value, or what was typed when it was refused.
    var retentionInput: String
    /// Why the typed retention window was refused (nothing was saved).
    var retentionError: String?
    var retentionMinimum = DeploymentSettings.retentionDaysRange.lowerBound
    var retentionMaximum = DeploymentSettings.retentionDaysRange.upperBound
    /// Kubernetes deployments only: the start timeout (`KubernetesSettings.startTimeout`).
    var kubernetes: StartTimeoutField?
    var environment: EnvironmentVariablesView
}

/// The start timeout's field on the Settings page: what it holds (the stored value, or what was typed when it was
/// refused) and why it was refused.
struct StartTimeoutField {
    var input: String
    var error: String?
    var minimum = KubernetesSettings.startTimeoutRange.lowerBound
    var maximum = KubernetesSettings.startTimeoutRange.upperBound
    var defaultSeconds = KubernetesSettings.defaultStartTimeout
}

struct RollbackPage {
    var frame: Frame
    var deploymentName: String
    var pathName: String
    var toSequence: Int
    var csrf: String?
    var refusal: String?
    var stale: String?
    var plan: RollbackPreview?
}

/// The planner's preview, as the rollback page shows it, and the confirmation form's state.
struct RollbackPreview {
    struct Package { var name: String; var from: String; var to: String; var kind: String }
    struct Choice { var option: String; var summary: String; var loses: String; var chosen: Bool }
    struct Files { var added: [String]; var removed: [String]; var changed: [String] }

    var warnings: [String]
    var fromId: String
    var fromSequence: Int
    var newSequence: Int
    var fromVersions: String
    var toVersions: String
    var fromPython: String?
    var toPython: String?
    var type: String
    var requiredRole: String
    var versionDirection: String
    var skipped: Int?
    var dbFromHead: String
    var dbToHead: String
    var dbDirection: String
    var dbDowngrade: Bool
    var backupFirst: Bool
    var hasMigrations: Bool
    var migrations: [DatabaseMigration]
    var hasPackages: Bool
    var packages: [Package]
    var packagesNote: String
    var filesNote: String
    var files: Files?
    var rolledBack: [String]
    var notRolledBack: [String]
    var canSubmit: Bool
    var cannotSubmit: String?
    var formError: String?
    var typedDescription: String?
    var hasChoices: Bool
    var choices: [Choice]
    var pinChecked: Bool
    var needsTypedName: Bool
    var typedNameWhy: String
    var typedName: String?

    init(_ plan: RollbackPlan, deploymentName: String, form: [String: String], error: String?, cannotSubmit: String?) {
        warnings = plan.warnings.contains(RollbackPlanner.lastResortWarning) ? plan.warnings : [RollbackPlanner.lastResortWarning] + plan.warnings
        fromId = plan.fromDeploy.id
        fromSequence = plan.fromDeploy.sequence
        newSequence = plan.newSequence
        fromVersions = plan.fromDeploy.image?.versionLabel ?? "unknown"
        toVersions = plan.toDeploy.image?.versionLabel ?? "unknown"
        fromPython = plan.runtimeChange.fromPython
        toPython = plan.runtimeChange.toPython
        type = plan.type.rawValue
        requiredRole = plan.requiredRole.rawValue
        versionDirection = plan.runtimeChange.direction.rawValue
        skipped = plan.skippedDeploys > 0 ? plan.skippedDeploys : nil
        dbFromHead = plan.database.fromHead ?? "unknown"
        dbToHead = plan.database.toHead ?? "unknown"
        dbDirection = plan.database.direction.rawValue
        dbDowngrade = plan.database.direction == .downgrade
        backupFirst = plan.database.backupFirst
        migrations = plan.database.migrations
        hasMigrations = !migrations.isEmpty
        packages = (plan.packageDiff ?? []).map { Package(name: $0.name, from: $0.from ?? "—", to: $0.to ?? "—", kind: $0.kind.rawValue) }
        hasPackages = !packages.isEmpty
        packagesNote = plan.packageDiff == nil ? "The pinned package sets of one side are not known on this server." : "No package changes."
        if let changes = plan.files {
            files = Files(added: changes.added, removed: changes.removed, changed: changes.changed)
            filesNote = changes.isEmpty ? "No file changes." : "\(changes.added.count) added, \(changes.removed.count) removed, \(changes.changed.count) changed."
        } else {
            filesNote = "The files of one side are not stored on this server."
        }
        rolledBack = plan.rolledBack
        notRolledBack = plan.notRolledBack
        canSubmit = cannotSubmit == nil
        self.cannotSubmit = cannotSubmit
        formError = error
        typedDescription = form["description"].flatMap { $0.isEmpty ? nil : $0 }
        let picked = form["database"].flatMap(DatabasePlan.Option.init(rawValue:)) ?? plan.database.chosen
        choices = plan.database.choices.map { Choice(option: $0.option.rawValue, summary: $0.summary, loses: $0.loses, chosen: $0.option == picked) }
        hasChoices = choices.count > 1
        pinChecked = form["pin"] == "true"
        needsTypedName = plan.needsTypedConfirmation
        typedNameWhy = plan.runtimeChange.direction == .downgrade ? "lowers Airflow" : "crosses a metadata DB migration"
        typedName = form["confirmName"].flatMap { $0.isEmpty ? nil : $0 }
    }
}
