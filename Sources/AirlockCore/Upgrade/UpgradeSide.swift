import PythonPackaging

/// One side of an upgrade test: what would run, as Airflow version, Python and (for Astro
/// projects) the runtime that ships it.
public struct UpgradeSide: Hashable, Sendable, Codable {
    /// How reports name this side: the runtime tag for Astro runtimes, else the Airflow version.
    public var label: String
    public var runtime: RuntimeRelease?
    public var airflowVersion: Version
    public var python: String
    /// `slim` for a `-slim` runtime image, which ships fewer providers; nil for the standard image.
    public var imageVariant: String?

    public init(label: String, runtime: RuntimeRelease?, airflowVersion: Version, python: String, imageVariant: String? = nil) {
        self.label = label
        self.runtime = runtime
        self.airflowVersion = airflowVersion
        self.python = python
        self.imageVariant = imageVariant
    }
}

/// What the user asked to test against (`-v`, `-a`, `--python`), before the catalog resolves it.
public struct TargetRequest: Hashable, Sendable {
    public var runtimeVersion: String?
    public var airflowVersion: String?
    public var python: String?

    public init(runtimeVersion: String? = nil, airflowVersion: String? = nil, python: String? = nil) {
        self.runtimeVersion = runtimeVersion
        self.airflowVersion = airflowVersion
        self.python = python
    }
}

/// A chosen target plus the warnings the choice deserves (yanked, deprecated, downgrade, …).
public struct TargetSelection: Hashable, Sendable {
    public var side: UpgradeSide
    public var warnings: [String]
}

/// Turns a project's base image and the user's flags into concrete current and target sides.
public enum UpgradeSideResolver {
    /// The side the project runs today.
    /// - Parameters:
    ///   - base: the Dockerfile's base image, if there is a Dockerfile.
    ///   - airflowOverride: `--current-airflow-version`, required for images Airlock cannot read.
    ///   - python: `--python`, which wins over the tag and the catalog.
    public static func current(base: BaseImage?, baseLocation: String, airflowOverride: String?, python: String?,
                               catalog: RuntimeCatalog) throws(AirlockError) -> UpgradeSide {
        try currentSelection(base: base, baseLocation: baseLocation, airflowOverride: airflowOverride, python: python,
                             catalog: catalog).side
    }

    /// The side the project runs today, with the assumptions made to find it (a runtime tag newer than
    /// the catalog). `--current-airflow-version` on a runtime image keeps the runtime (its packages) and
    /// replaces only its Airflow version.
    public static func currentSelection(base: BaseImage?, baseLocation: String, airflowOverride: String?, python: String?,
                                        catalog: RuntimeCatalog) throws(AirlockError) -> TargetSelection {
        var override: Version?
        if let airflowOverride {
            guard let version = Version(airflowOverride) else {
                throw .usage("`\(airflowOverride)` is not a valid Airflow version")
            }
            override = version
        }
        switch base {
        case .astroRuntime(let tag)?:
            var (release, warnings) = try runtime(for: tag, catalog: catalog, location: baseLocation,
                                                  override: "pass --current-airflow-version X.Y.Z if it runs another version",
                                                  knownAirflow: override != nil)
            if let override {
                release.airflowVersion = override.description
                warnings = []
            }
            var side = try runtimeSide(release, python: python ?? tag.python)
            side.imageVariant = tag.slim ? "slim" : nil
            return TargetSelection(side: side, warnings: warnings)
        case .apacheAirflow(let version, let tagPython)?:
            let airflow = override ?? version
            return TargetSelection(side: UpgradeSide(label: airflow.description, runtime: nil, airflowVersion: airflow,
                                                     python: python ?? tagPython ?? defaultApachePython(airflow)), warnings: [])
        case .other(let image)?:
            guard let override else {
                throw .usage("\(baseLocation): cannot tell the Airflow version of image `\(image)`",
                             hint: "pass --current-airflow-version X.Y.Z")
            }
            return TargetSelection(side: apacheOverride(override, python: python), warnings: [])
        case nil:
            guard let override else {
                throw .usage("The project has no Dockerfile, so its Airflow version is unknown",
                             hint: "add a Dockerfile with `FROM quay.io/astronomer/astro-runtime:<tag>` or pass --current-airflow-version X.Y.Z")
            }
            return TargetSelection(side: apacheOverride(override, python: python), warnings: [])
        }
    }

    private static func apacheOverride(_ version: Version, python: String?) -> UpgradeSide {
        UpgradeSide(label: version.description, runtime: nil, airflowVersion: version, python: python ?? defaultApachePython(version))
    }

    /// The target side for a request, following SPEC §2's selection rules.
    ///
    /// `-v` picks a runtime; `-a` on an Astro project picks the newest stable runtime with exactly that
    /// Airflow version (falling back to plain Apache Airflow, with a warning, when the catalog has none);
    /// `-a` on an Apache Airflow project picks that release; no flag picks the latest.
    public static func target(_ request: TargetRequest, current: UpgradeSide, catalog: RuntimeCatalog,
                              today: String) throws(AirlockError) -> TargetSelection {
        if request.runtimeVersion != nil, request.airflowVersion != nil {
            throw .usage("--runtime-version and --airflow-version cannot be used together")
        }
        var warnings: [String] = []
        let side: UpgradeSide
        if let text = request.runtimeVersion {
            guard let tag = RuntimeTag(text) else {
                throw .usage("`\(text)` is not a runtime version (expected e.g. `12.0.0` or `3.1-12`)")
            }
            let (release, assumptions) = try runtime(for: tag, catalog: catalog, location: "--runtime-version",
                                                     override: "pass -a X.Y.Z to test an exact Airflow version instead")
            var runtimeSide = try runtimeSide(release, python: request.python ?? tag.python)
            runtimeSide.imageVariant = tag.slim ? "slim" : nil
            side = runtimeSide
            warnings += assumptions + RuntimeCatalog.warnings(for: release, today: today)
        } else if let text = request.airflowVersion {
            guard let version = Version(text) else {
                throw .usage("`\(text)` is not a valid Airflow version")
            }
            if current.runtime != nil {
                if let release = catalog.newestRuntime(forAirflow: version.description) {
                    side = try runtimeSide(release, python: request.python)
                    warnings += RuntimeCatalog.warnings(for: release, today: today)
                } else {
                    side = try apacheSide(version, catalog: catalog, python: request.python ?? current.python)
                    warnings.append("No stable Astro Runtime ships Airflow \(version) in the catalog; testing plain Apache Airflow \(version)")
                }
            } else {
                side = try apacheSide(version, catalog: catalog, python: request.python ?? current.python)
            }
        } else if current.runtime != nil {
            guard let release = catalog.latestRuntime else {
                throw .environment("The runtime catalog has no stable runtime versions")
            }
            side = try runtimeSide(release, python: request.python)
        } else {
            guard let release = catalog.latestAirflow, let version = release.parsedVersion else {
                throw .environment("The Airflow release list is empty")
            }
            side = UpgradeSide(label: version.description, runtime: nil, airflowVersion: version, python: request.python ?? current.python)
        }
        if side.airflowVersion < current.airflowVersion {
            warnings.append("Airflow \(side.airflowVersion) is older than the current \(current.airflowVersion): this tests a downgrade")
        } else if let t = side.runtime?.version, let c = current.runtime?.version, t < c {
            warnings.append("Runtime \(t) is older than the current \(c): this tests a downgrade")
        }
        return TargetSelection(side: side, warnings: warnings)
    }

    /// The catalog's release for a tag; a tag newer than the catalog is read from its scheme, with the
    /// assumption (and `override`, how to change it) as a warning.
    /// - Parameter knownAirflow: the caller sets the Airflow version itself, so no assumption is made about it.
    private static func runtime(for tag: RuntimeTag, catalog: RuntimeCatalog, location: String, override: String,
                                knownAirflow: Bool = false) throws(AirlockError) -> (RuntimeRelease, [String]) {
        if let version = tag.version {
            if let release = catalog.runtime(version) { return (release, []) }
            if version.prerelease == nil, let (release, assumption) = catalog.releaseByScheme(version) {
                return (release, knownAirflow ? [] : ["\(location): \(assumption); \(override)"])
            }
            if knownAirflow {  // the caller replaces the Airflow version
                return (RuntimeRelease(version: version, airflowVersion: "0", channel: "stable", releaseDate: nil, pythonVersions: [],
                                       defaultPython: RuntimeCatalog.defaultPython(for: version), yanked: false, yankedReason: nil,
                                       endOfMaintenance: nil, databaseMigration: nil), [])
            }
            throw .usage("\(location): Runtime `\(tag.raw)` is not in the runtime catalog, and no known Airflow release matches its tag",
                         hint: "run `airlock runtimes` to list known versions, or pass --runtime-feed with a newer feed")
        }
        if let series = tag.floatingSeries, let release = catalog.newestBuild(inSeries: series) {
            return (release, [])
        }
        throw .usage("\(location): Runtime `\(tag.raw)` is not in the runtime catalog",
                     hint: "run `airlock runtimes` to list known versions")
    }

    private static func runtimeSide(_ release: RuntimeRelease, python: String?) throws(AirlockError) -> UpgradeSide {
        guard let airflow = Version(release.airflowVersion) else {
            throw .environment("The catalog lists an invalid Airflow version `\(release.airflowVersion)` for Runtime \(release.version)")
        }
        return UpgradeSide(label: release.version.description, runtime: release, airflowVersion: airflow,
                           python: python ?? release.defaultPython)
    }

    private static func apacheSide(_ version: Version, catalog: RuntimeCatalog, python: String) throws(AirlockError) -> UpgradeSide {
        guard catalog.airflowRelease(version) != nil else {
            let known = catalog.airflowReleases.suffix(5).map(\.version).joined(separator: ", ")
            throw .usage("Airflow `\(version)` is not a known Apache Airflow release",
                         hint: "the newest known releases are \(known); `airlock runtimes` lists them")
        }
        return UpgradeSide(label: version.description, runtime: nil, airflowVersion: version, python: python)
    }

    /// Python of an `apache/airflow:<version>` image without a `-pythonX.Y` suffix: 3.12 from Airflow 2.9 on
    /// (when the images moved their default), 3.8 before.
    public static func defaultApachePython(_ version: Version) -> String {
        version >= Version(parsing: "2.9.0", orFallback: version) ? "3.12" : "3.8"
    }
}

extension Version {
    /// Parses a literal that is known to be valid; falls back instead of trapping.
    init(parsing literal: String, orFallback fallback: Version) {
        self = Version(literal) ?? fallback
    }
}
