import PythonPackaging

/// How a package changes between two pinned sets, classified by PEP 440 rather than SemVer.
public enum ChangeKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// The first release segment went up.
    case major
    /// The second release segment went up (first equal).
    case minor
    /// A later release segment went up.
    case patch
    /// The new version is lower than the old one.
    case downgrade
    /// Only pre/post/dev/local parts changed, an epoch changed, a URL is involved, or a version does not parse.
    case unknown
    case added
    case removed
}

/// The Astro CLI's three buckets: Airflow itself, its provider packages, everything else.
public enum PackageGroup: String, Sendable, Hashable, Codable {
    case airflow
    case provider
    case other

    public init(_ name: PackageName) {
        if name.normalized == "apache-airflow" {
            self = .airflow
        } else if name.normalized.hasPrefix("apache-airflow-providers-") {
            self = .provider
        } else {
            self = .other
        }
    }
}

/// One line of the package comparison.
public struct DependencyChange: Hashable, Sendable, Codable {
    /// PEP 503 normalised name.
    public var name: String
    /// Version (or `@ url`) before; nil when added.
    public var from: String?
    /// Version (or `@ url`) after; nil when removed.
    public var to: String?
    public var kind: ChangeKind
    public var group: PackageGroup

    public init(name: String, from: String?, to: String?, kind: ChangeKind, group: PackageGroup) {
        self.name = name
        self.from = from
        self.to = to
        self.kind = kind
        self.group = group
    }
}

/// The classified difference between the current and the target pinned sets (SPEC §3.1).
public struct DependencyDiff: Hashable, Sendable {
    /// Changes sorted by name; unchanged packages are not listed.
    public var changes: [DependencyChange]

    public init(from old: PinnedSet, to new: PinnedSet) {
        var changes: [DependencyChange] = []
        changes.reserveCapacity(max(old.count, new.count))
        for (key, before) in old.packages {
            let group = PackageGroup(before.name)
            guard let after = new.packages[key] else {
                changes.append(DependencyChange(name: key, from: before.displayVersion, to: nil, kind: .removed, group: group))
                continue
            }
            if let kind = DependencyDiff.classify(before, after) {
                changes.append(DependencyChange(name: key, from: before.displayVersion, to: after.displayVersion, kind: kind, group: group))
            }
        }
        for (key, after) in new.packages where old.packages[key] == nil {
            changes.append(DependencyChange(name: key, from: nil, to: after.displayVersion, kind: .added, group: PackageGroup(after.name)))
        }
        self.changes = changes.sorted { $0.name < $1.name }
    }

    /// The kind of change from `before` to `after`, or nil when they are the same.
    public static func classify(_ before: PinnedPackage, _ after: PinnedPackage) -> ChangeKind? {
        if before.url != nil || after.url != nil {
            return before.url == after.url && before.version == after.version ? nil : .unknown
        }
        guard let oldText = before.version, let newText = after.version else { return .unknown }
        if oldText == newText { return nil }
        guard let old = Version(oldText), let new = Version(newText) else {
            return oldText == newText ? nil : .unknown
        }
        return classify(old, new)
    }

    /// PEP 440 classification: a lower version is a downgrade; otherwise the first differing release
    /// segment decides major/minor/patch; anything else (pre/post/dev/local, epoch) is unknown.
    public static func classify(_ old: Version, _ new: Version) -> ChangeKind? {
        if old == new { return nil }
        if new < old { return .downgrade }
        if old.epoch != new.epoch { return .unknown }
        let length = max(old.release.count, new.release.count)
        for index in 0..<length {
            let a = index < old.release.count ? old.release[index] : 0
            let b = index < new.release.count ? new.release[index] : 0
            if a != b {
                switch index {
                case 0: return .major
                case 1: return .minor
                default: return .patch
                }
            }
        }
        return .unknown
    }

    public func changes(_ group: PackageGroup, _ kind: ChangeKind) -> [DependencyChange] {
        changes.filter { $0.group == group && $0.kind == kind }
    }

    /// Counts per kind, for summaries.
    public var counts: [ChangeKind: Int] {
        changes.reduce(into: [:]) { $0[$1.kind, default: 0] += 1 }
    }
}

extension DependencyDiff {
    /// The sections of `dependency_compare.txt`: the Astro CLI's titles and order, plus
    /// `Airflow Providers Downgrades:` and `Downgrades:`.
    static let sections: [(title: String, groups: [PackageGroup], kinds: [ChangeKind])] = [
        ("Apache Airflow Update:", [.airflow], [.major, .minor, .patch, .downgrade, .unknown]),
        ("Airflow Providers Unknown Updates:", [.provider], [.unknown]),
        ("Airflow Providers Major Updates:", [.provider], [.major]),
        ("Airflow Providers Minor Updates:", [.provider], [.minor]),
        ("Airflow Providers Patch Updates:", [.provider], [.patch]),
        ("Airflow Providers Downgrades:", [.provider], [.downgrade]),
        ("Added Airflow Providers:", [.provider], [.added]),
        ("Removed Airflow Providers:", [.provider], [.removed]),
        ("Unknown Updates:", [.other], [.unknown]),
        ("Major Updates:", [.other], [.major]),
        ("Minor Updates:", [.other], [.minor]),
        ("Patch Updates:", [.other], [.patch]),
        ("Downgrades:", [.other], [.downgrade]),
        ("Added Packages:", [.other, .airflow], [.added]),
        ("Removed Packages:", [.other, .airflow], [.removed]),
    ]

    /// `dependency_compare.txt`: each non-empty section is its title, one entry per line, then a blank line.
    /// Updates read `name old >> new`; added and removed packages read `name==version` (or `name @ url`).
    public var compareText: String {
        var output = ""
        for section in DependencyDiff.sections {
            let entries = changes.filter { section.groups.contains($0.group) && section.kinds.contains($0.kind) }
            guard !entries.isEmpty else { continue }
            output += section.title + "\n"
            for change in entries {
                output += DependencyDiff.entryText(change) + "\n"
            }
            output += "\n"
        }
        return output
    }

    static func entryText(_ change: DependencyChange) -> String {
        switch change.kind {
        case .added: return pinText(change.name, change.to ?? "")
        case .removed: return pinText(change.name, change.from ?? "")
        default: return "\(change.name) \(change.from ?? "") >> \(change.to ?? "")"
        }
    }

    private static func pinText(_ name: String, _ version: String) -> String {
        version.hasPrefix("@ ") ? "\(name) \(version)" : "\(name)==\(version)"
    }
}
