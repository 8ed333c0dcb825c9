import Foundation

/// What changes from deploy `from` to deploy `to` of one deployment (SPEC §4.4 "Compare any two deploys"):
/// files, packages, Runtime / Airflow and the metadata-DB direction with the migrations in between.
///
/// Every rule is the rollback planner's or the upgrade test's, not a copy: `FileChanges(from:to:)` for files,
/// `DependencyDiff` (the `dependency_compare.txt` engine and sections) for packages,
/// `RollbackPlanner.runtimeChange` and `schemaDirection` for versions and the DB. A rollback preview from
/// the current deploy to a target is this comparison from current to target. Either order and `from == to`
/// are fine (an empty comparison).
public struct DeployComparison: Sendable {
    public var from: Deploy
    public var to: Deploy
    public var runtimeChange: RuntimeChange
    /// `nil` when the files of one side are not stored (artifacts expired, or never uploaded).
    public var files: FileChanges?
    /// `nil` when the pinned package set of one side is not known.
    public var packages: DependencyDiff?
    public var databaseDirection: DatabaseCheck.Direction
    public var migrations: [DatabaseMigration]

    public init(from: Deploy, to: Deploy, fromPins: PinnedSet?, toPins: PinnedSet?,
                fromManifest: [String: String]?, toManifest: [String: String]?, migrations: [DatabaseMigration]) {
        self.from = from
        self.to = to
        runtimeChange = RollbackPlanner.runtimeChange(from: from, to: to)
        if let fromManifest, let toManifest { files = FileChanges(from: fromManifest, to: toManifest) }
        if let fromPins, let toPins { packages = DependencyDiff(from: fromPins, to: toPins) }
        databaseDirection = RollbackPlanner.schemaDirection(from: from, to: to)
        self.migrations = databaseDirection == .none ? [] : migrations
    }
}

extension DependencyDiff {
    /// The non-empty sections of `dependency_compare.txt`, in its order, each entry as the file writes it.
    public var compareSections: [(title: String, entries: [String])] {
        DependencyDiff.sections.compactMap { section in
            let entries = changes.filter { section.groups.contains($0.group) && section.kinds.contains($0.kind) }.map(DependencyDiff.entryText)
            return entries.isEmpty ? nil : (section.title, entries)
        }
    }
}
