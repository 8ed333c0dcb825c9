import PythonPackaging

/// Where an Airflow name went, so a failing import can be answered with the import to use instead.
public struct Relocation: Hashable, Sendable {
    /// What happened to the old name.
    public enum Kind: String, Sendable {
        /// Gone; `newModule`/`newName` say what to use instead when there is a replacement.
        case removed
        /// Now lives in a provider package that must be installed.
        case movedToProvider
        /// Moved within Airflow (or to the Task SDK that ships with it).
        case movedInCore
        /// Moved, but the old name still works (with a warning) on the version that reported it.
        case deprecated
    }

    /// Fully qualified, e.g. `airflow.operators.bash_operator.BashOperator`.
    public var oldName: String
    public var kind: Kind
    public var newModule: String?
    public var newName: String?
    /// e.g. `apache-airflow-providers-standard`.
    public var providerPackage: String?
    public var minProviderVersion: String?
    /// ruff's help text when present.
    public var help: String?
    /// e.g. `ruff AIR302`, `Airflow 2.10.5 deprecation table`, `upgrade-check 1.10`; hops joined by ` → `.
    public var source: String
    /// The Airflow version (`3.0`, `3.1`) from which the new location is the one to use; nil when always.
    public var since: String?

    public init(oldName: String, kind: Kind, newModule: String? = nil, newName: String? = nil, providerPackage: String? = nil,
                minProviderVersion: String? = nil, help: String? = nil, source: String, since: String? = nil) {
        self.oldName = oldName
        self.kind = kind
        self.newModule = newModule
        self.newName = newName
        self.providerPackage = providerPackage
        self.minProviderVersion = minProviderVersion
        self.help = help
        self.source = source
        self.since = since
    }

    /// `newModule.newName` when both are known.
    public var newQualifiedName: String? {
        guard let newModule, let newName, !newModule.isEmpty, !newName.isEmpty else { return nil }
        return newModule + "." + newName
    }
}

/// Old Airflow import paths and where they went, merged from ruff's Airflow rules, Airflow's own
/// deprecated-import tables and the 1.10 upgrade-check renames, so that a DAG's failing import can be
/// answered with a concrete replacement instead of "module not found".
public struct RelocationTable: Sendable {
    private var byOldName: [String: Relocation] = [:]
    /// Old names under each module prefix, for whole-module lookups.
    private var sortedNames: [String]

    /// Earlier entries win when two share an `oldName`.
    public init(_ relocations: [Relocation]) {
        for relocation in relocations where byOldName[relocation.oldName] == nil {
            byOldName[relocation.oldName] = relocation
        }
        sortedNames = byOldName.keys.sorted()
    }

    /// Built once from `BundledData`: ruff rows first, then Airflow's shim tables, then the 1.10 renames.
    public static let bundled = RelocationTable(bundledRelocations)

    /// Ruff rows first, then Airflow's shim tables, then the 1.10 renames (earlier entries win).
    static let bundledRelocations: [Relocation] = {
        var relocations = parseRuffRules(BundledData.ruffAirflowRules)
        relocations += parseShims(BundledData.airflowShims306, since: "3.0")
        relocations += parseShims(BundledData.airflowShims310, since: "3.1")
        relocations += parseShims(BundledData.airflowShims2105, since: nil)
        relocations += parseUpgradeCheckRenames(BundledData.upgradeCheckRenames)
        return relocations
    }()

    public var count: Int { byOldName.count }

    /// The relocation of an exact name, following chains (a 2.10 shim whose target moved again in 3.x) so that
    /// the answer is the newest location. With `airflow`, hops after the first that only apply to a newer
    /// Airflow are not followed: the suggestion must exist on that version.
    public func relocation(for qualifiedName: String, airflow: Version? = nil) -> Relocation? {
        guard let first = byOldName[qualifiedName] else { return nil }
        var hops = [first]
        var visited: Set<String> = [qualifiedName]
        while hops.count < 8, let next = hops[hops.count - 1].newQualifiedName, !visited.contains(next),
              let hop = byOldName[next], Self.applies(hop, on: airflow) {
            visited.insert(next)
            hops.append(hop)
        }
        return Self.merge(hops)
    }

    /// Every entry whose old name lies under `module` (for `import module` and whole-module failures), resolved
    /// like `relocation(for:)`, sorted by old name.
    public func relocations(inModule module: String, airflow: Version? = nil) -> [Relocation] {
        let prefix = module + "."
        var result: [Relocation] = []
        var low = 0, high = sortedNames.count
        while low < high {
            let mid = (low + high) / 2
            if sortedNames[mid] < prefix { low = mid + 1 } else { high = mid }
        }
        var index = low
        while index < sortedNames.count, sortedNames[index].hasPrefix(prefix) {
            if let relocation = relocation(for: sortedNames[index], airflow: airflow) { result.append(relocation) }
            index += 1
        }
        return result
    }

    // MARK: - Chains

    private static func applies(_ hop: Relocation, on airflow: Version?) -> Bool {
        guard let airflow, let since = hop.since, let sinceVersion = Version(since) else { return true }
        return airflow >= sinceVersion
    }

    private static func merge(_ hops: [Relocation]) -> Relocation {
        guard hops.count > 1, let first = hops.first, let last = hops.last else { return hops[0] }
        var merged = first
        merged.newModule = last.newModule
        merged.newName = last.newName
        merged.help = last.help
        merged.since = last.since ?? first.since
        merged.source = hops.map(\.source).joined(separator: " → ")
        if let explicit = last.providerPackage {
            merged.providerPackage = explicit
            merged.minProviderVersion = last.minProviderVersion
        } else {
            merged.providerPackage = last.newModule.flatMap(providerPackage(forModule:))
            merged.minProviderVersion = nil
        }
        if merged.newQualifiedName == nil {
            merged.kind = .removed
        } else if merged.newModule?.hasPrefix("airflow.providers.") == true {
            merged.kind = .movedToProvider
        } else {
            merged.kind = .movedInCore
        }
        return merged
    }

    // MARK: - Providers

    /// Provider families whose distribution name takes two module segments (`airflow.providers.apache.hive` →
    /// `apache-airflow-providers-apache-hive`); every other provider takes one (`amazon`, `google`, `ssh`).
    static let twoSegmentProviderFamilies: Set<String> = ["apache", "cncf", "common", "microsoft", "dbt", "atlassian"]

    /// The distribution that provides `module`, e.g. `airflow.providers.cncf.kubernetes.operators.pod` →
    /// `apache-airflow-providers-cncf-kubernetes`; nil outside `airflow.providers`.
    public static func providerPackage(forModule module: String) -> String? {
        let parts = module.split(separator: ".")
        guard parts.count >= 3, parts[0] == "airflow", parts[1] == "providers" else { return nil }
        var segments = [parts[2]]
        if twoSegmentProviderFamilies.contains(String(parts[2])), parts.count >= 4 { segments.append(parts[3]) }
        return "apache-airflow-providers-" + segments.joined(separator: "-").replacingUnderscores()
    }

    // MARK: - Parsing the bundled tables

    /// `rule,kind,since,old_name,symbol_type,new_module,new_name,provider_package,min_provider_version,message,help,source_snapshot`;
    /// keeps the `qualified_name` rows (arguments and context keys are not import paths).
    static func parseRuffRules(_ text: String) -> [Relocation] {
        var result: [Relocation] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where index > 0 {
            let f = CSV.fields(String(line))
            guard f.count >= 11, f[4] == "qualified_name", !f[3].isEmpty else { continue }
            let kind: Relocation.Kind
            switch f[1] {
            case "removed": kind = .removed
            case "moved_to_provider": kind = .movedToProvider
            case "deprecated_moved_still_works", "deprecated_moved_to_provider_still_works", "moved_in_3_1": kind = .deprecated
            default: continue
            }
            result.append(Relocation(oldName: f[3], kind: kind, newModule: f[5].nilIfEmpty, newName: f[6].nilIfEmpty,
                                     providerPackage: f[7].nilIfEmpty, minProviderVersion: f[8].nilIfEmpty,
                                     help: f[10].nilIfEmpty, source: "ruff \(f[0])", since: f[2].nilIfEmpty))
        }
        return result
    }

    /// `airflow_version,old_module,old_name,new_qualified_name`. Wildcard (`*`) module redirects are skipped, and the
    /// doubled module `airflow.decorators.airflow.decorators` that Airflow 3.1's table reports reads as `airflow.decorators`.
    static func parseShims(_ text: String, since: String?) -> [Relocation] {
        var result: [Relocation] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where index > 0 {
            let f = CSV.fields(String(line))
            guard f.count >= 4, !f[1].isEmpty, !f[2].isEmpty, f[2] != "*", let dot = f[3].lastIndex(of: ".") else { continue }
            let parts = f[1].split(separator: ".")
            let start = parts.lastIndex(of: "airflow") ?? 0
            let module = parts[start...].joined(separator: ".")
            let newModule = String(f[3][..<dot]), newName = String(f[3][f[3].index(after: dot)...])
            let provider = providerPackage(forModule: newModule)
            result.append(Relocation(oldName: module + "." + f[2], kind: provider == nil ? .movedInCore : .movedToProvider,
                                     newModule: newModule, newName: newName, providerPackage: provider,
                                     source: "Airflow \(f[0]) deprecation table", since: since))
        }
        return result
    }

    /// `group,new_qualified_name_2x,old_qualified_name_1_10`.
    static func parseUpgradeCheckRenames(_ text: String) -> [Relocation] {
        var result: [Relocation] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where index > 0 {
            let f = CSV.fields(String(line))
            guard f.count >= 3, !f[2].isEmpty, let dot = f[1].lastIndex(of: ".") else { continue }
            let newModule = String(f[1][..<dot]), newName = String(f[1][f[1].index(after: dot)...])
            let provider = providerPackage(forModule: newModule)
            result.append(Relocation(oldName: f[2], kind: provider == nil ? .movedInCore : .movedToProvider,
                                     newModule: newModule, newName: newName, providerPackage: provider,
                                     source: "upgrade-check 1.10"))
        }
        return result
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }

    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? "-" : $0 })
    }
}

/// What the target environment's own Airflow says about moved names (`dag_parse_harness.py relocations`):
/// its deprecated-import maps, and which modules import there.
public struct EnvironmentRelocations: Hashable, Sendable, Codable {
    public struct Entry: Hashable, Sendable, Codable {
        /// The old module, e.g. `airflow.operators.bash`.
        public var module: String
        /// The old name in it; `*` redirects the whole module.
        public var name: String
        /// Where it lives now: `module.name`, or a module for `*`.
        public var target: String
        /// `add_deprecated_classes` or `__getattr__`.
        public var source: String?

        public init(module: String, name: String, target: String, source: String? = nil) {
            self.module = module
            self.name = name
            self.target = target
            self.source = source
        }
    }

    public var ok: Bool?
    public var error: String?
    public var airflowVersion: String?
    public var entries: [Entry]?
    /// Module → whether `importlib.util.find_spec` finds it in the target environment.
    public var importable: [String: Bool]?

    public init(ok: Bool? = true, airflowVersion: String?, entries: [Entry], importable: [String: Bool]) {
        self.ok = ok
        self.airflowVersion = airflowVersion
        self.entries = entries
        self.importable = importable
    }
}

extension RelocationTable {
    /// The modules the bundled tables send names to, to check in a target environment.
    public static let bundledTargetModules: [String] = {
        var modules: Set<String> = []
        for relocation in bundledRelocations { if let module = relocation.newModule, !module.isEmpty { modules.insert(module) } }
        return modules.sorted()
    }()

    /// The target environment's own relocations first (they know releases newer than the bundled tables), then the
    /// bundled ones; an entry whose new module does not import in the target is left out — unless it lives in a
    /// provider the target does not have, where the fix is to add that provider.
    public static func merged(with environment: EnvironmentRelocations, hasProvider: (String) -> Bool) -> RelocationTable {
        let importable = environment.importable ?? [:]
        let version = environment.airflowVersion ?? "target"
        func exists(_ relocation: Relocation) -> Bool {
            guard let module = relocation.newModule, relocation.newName != nil, let known = importable[module] else { return true }
            if known { return true }
            guard let provider = providerPackage(forModule: module) else { return false }
            return !hasProvider(provider)
        }
        var relocations: [Relocation] = []
        for entry in environment.entries ?? [] where entry.name != "*" {
            guard let dot = entry.target.lastIndex(of: ".") else { continue }
            let newModule = String(entry.target[..<dot]), newName = String(entry.target[entry.target.index(after: dot)...])
            let provider = providerPackage(forModule: newModule)
            relocations.append(Relocation(oldName: "\(entry.module).\(entry.name)", kind: .deprecated, newModule: newModule, newName: newName,
                                          providerPackage: provider, source: "Airflow \(version) (target environment)"))
        }
        relocations += bundledRelocations
        return RelocationTable(relocations.filter(exists))
    }
}
