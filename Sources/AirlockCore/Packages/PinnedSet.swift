import PythonPackaging

/// One package of a resolved environment: a version pin or a direct URL.
public struct PinnedPackage: Hashable, Sendable, Codable {
    public var name: PackageName
    /// The version as the resolver printed it; nil for a `name @ url` pin.
    public var version: String?
    public var url: String?

    public init(name: PackageName, version: String?, url: String? = nil) {
        self.name = name
        self.version = version
        self.url = url
    }

    public var parsedVersion: Version? { version.flatMap(Version.init) }

    /// How reports show what is installed: the version, or `@ url`.
    public var displayVersion: String {
        if let version { return version }
        return "@ \(url ?? "?")"
    }

    /// `name==version` or `name @ url`, as in a freeze file.
    public var freezeLine: String {
        if let version { return "\(name.normalized)==\(version)" }
        return "\(name.normalized) @ \(url ?? "")"
    }
}

/// The exact set of packages a side would install, keyed by PEP 503 name.
///
/// Built from `pip freeze`/`uv pip compile` output or a constraints file; comments, options and
/// blank lines are skipped, and `name @ url` lines are kept (the Astro CLI drops them).
public struct PinnedSet: Hashable, Sendable {
    public private(set) var packages: [String: PinnedPackage] = [:]

    public init() {}

    public init(_ packages: [PinnedPackage]) {
        for package in packages { insert(package) }
    }

    /// Parses freeze-style text. Lines that are neither `name==version` nor `name @ url` are ignored:
    /// resolver output carries comments and annotations that are not pins.
    public init(freezeText text: String) {
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            if let semicolon = line.firstIndex(of: ";") { line = line[..<semicolon] }
            line = line.trimmingWhitespace()
            guard !line.isEmpty, !line.hasPrefix("-") else { continue }
            if let range = line.range(of: "==") {
                let name = line[..<range.lowerBound].trimmingWhitespace()
                var version = line[range.upperBound...].trimmingWhitespace()
                if version.hasPrefix("=") { version = version.dropFirst().trimmingWhitespace() } // `===`
                let bareName = name.split(separator: "[").first.map(String.init) ?? String(name)
                guard !bareName.isEmpty, !version.isEmpty else { continue }
                insert(PinnedPackage(name: PackageName(bareName), version: String(version)))
            } else if let at = line.range(of: " @ ") ?? line.range(of: "@") {
                let name = line[..<at.lowerBound].trimmingWhitespace()
                let url = line[at.upperBound...].trimmingWhitespace()
                let bareName = name.split(separator: "[").first.map(String.init) ?? String(name)
                guard !bareName.isEmpty, !url.isEmpty, !bareName.contains(" ") else { continue }
                insert(PinnedPackage(name: PackageName(bareName), version: nil, url: String(url)))
            }
        }
    }

    public mutating func insert(_ package: PinnedPackage) {
        packages[package.name.normalized] = package
    }

    public subscript(name: PackageName) -> PinnedPackage? { packages[name.normalized] }
    public subscript(normalizedName: String) -> PinnedPackage? { packages[normalizedName] }

    public var count: Int { packages.count }

    /// Packages sorted by normalised name.
    public var sorted: [PinnedPackage] {
        packages.values.sorted { $0.name.normalized < $1.name.normalized }
    }

    /// Freeze text, one `name==version` (or `name @ url`) line per package, sorted by name.
    public var freezeText: String {
        sorted.map(\.freezeLine).joined(separator: "\n") + (packages.isEmpty ? "" : "\n")
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" || first == "\r" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return text
    }
}
