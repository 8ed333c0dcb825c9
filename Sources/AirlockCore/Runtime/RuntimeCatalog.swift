import Foundation
import PythonPackaging

/// One Astro Runtime release as the catalog knows it.
public struct RuntimeRelease: Hashable, Sendable, Codable {
    public var version: RuntimeVersion
    public var airflowVersion: String
    public var channel: String
    public var releaseDate: String?
    public var pythonVersions: [String]
    public var defaultPython: String
    public var yanked: Bool
    public var yankedReason: String?
    public var endOfMaintenance: String?
    /// Whether moving to this runtime migrates the Airflow metadata database (`migrations.airflowDatabase`).
    public var databaseMigration: Bool?

    /// Selectable without a warning: on the stable channel and not yanked.
    public var isStable: Bool { channel == "stable" && !yanked }
}

/// One Apache Airflow release from the Python package index.
public struct AirflowRelease: Hashable, Sendable, Codable {
    public var version: String
    public var releaseDate: String?
    public var requiresPython: String?
    public var yanked: Bool

    public init(version: String, releaseDate: String?, requiresPython: String?, yanked: Bool) {
        self.version = version
        self.releaseDate = releaseDate
        self.requiresPython = requiresPython
        self.yanked = yanked
    }

    public var parsedVersion: Version? { Version(version) }
    public var isStable: Bool { !yanked && !(parsedVersion?.isPrerelease ?? true) }
}

/// Every runtime and Airflow version Airlock can test against, with the selection rules of SPEC §2.
public struct RuntimeCatalog: Sendable {
    /// Runtimes, oldest first.
    public private(set) var runtimes: [RuntimeRelease]
    /// Apache Airflow releases, oldest first.
    public private(set) var airflowReleases: [AirflowRelease]

    public init(feed: RuntimeFeed, airflowReleases: [AirflowRelease]) {
        var runtimes: [RuntimeRelease] = []
        for (key, entry) in (feed.runtimeVersions ?? [:]).merging(feed.runtimeVersionsV3 ?? [:], uniquingKeysWith: { a, _ in a }) {
            guard let version = RuntimeVersion(key) else { continue }
            let metadata = entry.metadata
            runtimes.append(RuntimeRelease(
                version: version,
                airflowVersion: metadata.airflowVersion,
                channel: metadata.channel ?? "stable",
                releaseDate: metadata.releaseDate,
                pythonVersions: metadata.pythonVersions ?? [],
                defaultPython: metadata.defaultPythonVersion ?? RuntimeCatalog.defaultPython(for: version),
                yanked: metadata.yanked ?? false,
                yankedReason: metadata.yankedReason,
                endOfMaintenance: metadata.endOfMaintenance,
                databaseMigration: entry.migrations?.airflowDatabase))
        }
        self.runtimes = runtimes.sorted { $0.version < $1.version }
        self.airflowReleases = airflowReleases.sorted {
            switch ($0.parsedVersion, $1.parsedVersion) {
            case let (a?, b?): a < b
            default: $0.version < $1.version
            }
        }
    }

    /// The default Python of a runtime line when the feed does not say (Astronomer's documented
    /// defaults: 4–7 → 3.9, 8 → 3.10, 9–11 → 3.11, 12–13 and Airflow 3 runtimes → 3.12).
    public static func defaultPython(for version: RuntimeVersion) -> String {
        if version.scheme == .airflowBuild { return "3.12" }
        switch version.numbers[0] {
        case ..<8: return "3.9"
        case 8: return "3.10"
        case 9...11: return "3.11"
        default: return "3.12"
        }
    }

    public func runtime(_ version: RuntimeVersion) -> RuntimeRelease? {
        runtimes.first { $0.version == version }
    }

    /// Latest = the highest stable, non-yanked runtime.
    public var latestRuntime: RuntimeRelease? {
        runtimes.last { $0.isStable }
    }

    /// The newest stable, non-yanked runtime whose Airflow version is exactly `airflowVersion`.
    public func newestRuntime(forAirflow airflowVersion: String) -> RuntimeRelease? {
        let wanted = Version(airflowVersion)
        return runtimes.last {
            $0.isStable && ($0.airflowVersion == airflowVersion || (wanted != nil && Version($0.airflowVersion) == wanted))
        }
    }

    /// The newest non-yanked build of a floating new-scheme series such as `3.1`.
    public func newestBuild(inSeries series: String) -> RuntimeRelease? {
        runtimes.last { $0.version.scheme == .airflowBuild && $0.version.series == series && !$0.yanked && $0.version.prerelease == nil }
    }

    /// A runtime the catalog does not list, read from its tag's scheme: a new-scheme tag `X.Y-N` runs
    /// Airflow X.Y; an old-scheme major runs one Airflow minor (the one the catalog's releases of that
    /// major run, else Astronomer's line-up Runtime 4 → 2.2 … 11 → 2.9, 12 → 2.10, 13 → 2.11, i.e. major − 2;
    /// `runtime_versions.csv`'s series rows). The patch is an assumption: the newest known release of
    /// that minor. Nil when no known Airflow release has that minor.
    /// - Returns: the release and the assumption, worded for a warning (callers add how to override it).
    public func releaseByScheme(_ version: RuntimeVersion) -> (release: RuntimeRelease, assumption: String)? {
        let minor: (Int, Int)
        let rule: String
        switch version.scheme {
        case .airflowBuild:
            minor = (version.numbers[0], version.numbers[1])
            rule = "a Runtime \(version.series)-N tag names Airflow \(version.series)"
        case .semantic:
            let major = version.numbers[0]
            if let known = runtimes.last(where: { $0.version.scheme == .semantic && $0.version.numbers[0] == major }),
               let airflow = Version(known.airflowVersion), airflow.release.count >= 2 {
                minor = (airflow.release[0], airflow.release[1])
                rule = "Runtime \(major).x runs Airflow \(minor.0).\(minor.1), like Runtime \(known.version)"
            } else {
                guard major >= 4 else { return nil }
                minor = (2, major - 2)
                rule = "each Runtime major runs one Airflow minor, and Runtime \(major).x is Airflow \(minor.0).\(minor.1)"
            }
        }
        let patches = airflowReleases.filter {
            guard $0.isStable, let parsed = $0.parsedVersion, parsed.release.count >= 2 else { return false }
            return parsed.release[0] == minor.0 && parsed.release[1] == minor.1
        }
        guard let newest = patches.last else { return nil }
        let newestKnown = runtimes.last?.version.description ?? "none"
        let release = RuntimeRelease(version: version, airflowVersion: newest.version, channel: "stable", releaseDate: nil,
                                     pythonVersions: [], defaultPython: RuntimeCatalog.defaultPython(for: version), yanked: false,
                                     yankedReason: nil, endOfMaintenance: nil, databaseMigration: nil)
        let assumption = "Runtime \(version) is not in the runtime catalog (newest known: \(newestKnown)); assuming Airflow \(newest.version), "
            + "the newest known patch of Airflow \(minor.0).\(minor.1), because \(rule)"
        return (release, assumption)
    }

    public func airflowRelease(_ version: Version) -> AirflowRelease? {
        airflowReleases.first { $0.parsedVersion == version }
    }

    /// The highest stable, non-yanked Apache Airflow release.
    public var latestAirflow: AirflowRelease? {
        airflowReleases.last { $0.isStable }
    }

    /// Warnings for choosing `release` on `today` (`YYYY-MM-DD`): yanked, non-stable channel, past end of maintenance.
    public static func warnings(for release: RuntimeRelease, today: String) -> [String] {
        var warnings: [String] = []
        if release.yanked {
            warnings.append("Runtime \(release.version) is yanked" + (release.yankedReason.map { ": \($0)" } ?? ""))
        }
        if release.channel != "stable" {
            warnings.append("Runtime \(release.version) is on the `\(release.channel)` channel, not `stable`")
        }
        if let end = release.endOfMaintenance, !end.isEmpty, isPast(end, today: today) {
            warnings.append("Runtime \(release.version) reached its end of maintenance (\(end))")
        }
        return warnings
    }

    /// `YYYY-MM` dates end on the last day of that month; `YYYY-MM-DD` on that day.
    static func isPast(_ date: String, today: String) -> Bool {
        if date.count == 7 { return String(today.prefix(7)) > date }
        return today > date
    }
}
