import PythonPackaging

/// What an image has installed before a project's `requirements.txt` goes in, at fixed versions:
/// the packages Astronomer lists for a runtime (providers, `astronomer-providers`, `astro-sdk-python`, …)
/// or, when one is found, the runtime's whole freeze file.
public struct ImagePackages: Sendable, Hashable {
    /// The packages and the versions the image ships. Never holds Airflow itself (its side pins it).
    public var pins: PinnedSet
    /// Where the list comes from (the provider reference row source, or the freeze file's location).
    public var source: String
    /// Assumptions made to get the list (another runtime's list, versions Airlock changed), for the report.
    public var assumptions: [String]

    public init(pins: PinnedSet, source: String, assumptions: [String] = []) {
        self.pins = pins
        self.source = source
        self.assumptions = assumptions
    }

    /// A freeze file (`pip freeze` of the image) as image packages: Airflow's own distributions are
    /// left to the side's Airflow pin, and local version labels (`+astro.1`, Astronomer's own builds,
    /// not on PyPI) are cut to the public version they are built from.
    public init(freezeText: String, source: String) {
        let (pins, assumptions) = ImagePackages.publicPins(PinnedSet(freezeText: freezeText).sorted)
        self.init(pins: pins, source: source, assumptions: assumptions)
    }

    /// Airflow core distributions, which the side pins itself.
    static let airflowCore: Set<String> = ["apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk"]

    /// Pins a public package index can serve: without Airflow core, without local labels, without
    /// Astronomer's epoch-1 rebuilds (`1!2.0.0`), which exist only on Astronomer's own index.
    static func publicPins(_ packages: [PinnedPackage]) -> (PinnedSet, [String]) {
        var pins = PinnedSet()
        var assumptions: [String] = []
        for package in packages where !airflowCore.contains(package.name.normalized) {
            guard let text = package.version, let version = Version(text) else {
                if package.url == nil { continue }
                pins.insert(package); continue
            }
            if version.epoch != 0 {
                assumptions.append("\(package.name.raw)==\(text) is an Astronomer build (epoch \(version.epoch)) that only Astronomer's index serves; left out")
                continue
            }
            if let plus = text.firstIndex(of: "+") {
                let public_ = String(text[..<plus])
                assumptions.append("\(package.name.raw)==\(text) is an Astronomer build; using the public \(public_) it is built from")
                pins.insert(PinnedPackage(name: package.name, version: public_))
                continue
            }
            pins.insert(package)
        }
        return (pins, assumptions)
    }
}

/// Astronomer's provider package reference: per runtime version, the packages its image ships
/// (bundled from `runtime_providers.csv`, one row per runtime, package, version and image variant).
public struct RuntimeProviderTable: Sendable {
    public struct Row: Sendable, Hashable {
        public var runtime: RuntimeVersion
        public var package: String
        public var version: String
        /// `standard`, `slim`, or empty when the reference has one list for every image of that runtime.
        public var variant: String
        public var source: String
    }

    public private(set) var rows: [Row]

    public init(rows: [Row]) { self.rows = rows }

    /// Reads `runtime_version,package,version,image_variant,source`.
    public static func parseCSV(_ text: String) -> RuntimeProviderTable {
        var rows: [Row] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where index > 0 {
            let fields = CSV.fields(String(line))
            guard fields.count >= 5, let runtime = RuntimeVersion(fields[0]), !fields[1].isEmpty, !fields[2].isEmpty else { continue }
            rows.append(Row(runtime: runtime, package: fields[1], version: fields[2], variant: fields[3], source: fields[4]))
        }
        return RuntimeProviderTable(rows: rows)
    }

    /// The runtimes the table has a list for, oldest first.
    public var runtimes: [RuntimeVersion] { Array(Set(rows.map(\.runtime))).sorted() }

    /// The packages a runtime image ships. A runtime the reference does not list borrows the list of
    /// the nearest listed runtime of the same series (the newest one before it, else the oldest one
    /// after it), and says so: providers move a little between patches, but which providers an image
    /// has does not, and a DAG that imports them must be tested with them installed.
    /// - Returns: nil when no runtime of that series is listed.
    public func packages(for version: RuntimeVersion, slim: Bool) -> ImagePackages? {
        let listed = runtimes.filter { $0.series == version.series }
        let chosen = listed.contains(version) ? version : (listed.last { $0 < version } ?? listed.first)
        guard let chosen else { return nil }
        let ofRuntime = rows.filter { $0.runtime == chosen }
        let variants = Set(ofRuntime.map(\.variant)).subtracting([""])
        let wanted = variants.isEmpty ? "" : (slim && variants.contains("slim") ? "slim" : "standard")
        let chosenRows = ofRuntime.filter { $0.variant == wanted || $0.variant.isEmpty }
        let (pins, publicAssumptions) = ImagePackages.publicPins(chosenRows.map { PinnedPackage(name: PackageName($0.package), version: $0.version) })
        var assumptions: [String] = []
        if chosen != version {
            assumptions.append("Astronomer's provider reference has no list for Runtime \(version); using the list of Runtime \(chosen), the nearest listed runtime of the \(version.series) series")
        }
        if slim, wanted != "slim" {
            assumptions.append("the provider reference has no slim list for Runtime \(chosen); using its full list")
        }
        let sources = Set(chosenRows.map(\.source)).sorted().joined(separator: ", ")
        return ImagePackages(pins: pins, source: "Astronomer provider reference for Runtime \(chosen)\(wanted.isEmpty ? "" : " (\(wanted))") — \(sources)",
                             assumptions: assumptions + publicAssumptions)
    }
}

extension RuntimeProviderTable {
    /// The provider reference compiled into the binary.
    public static var bundled: RuntimeProviderTable { parseCSV(BundledData.runtimeProviders) }
}
