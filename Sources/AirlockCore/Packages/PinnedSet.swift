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
    ///
    /// A byte scanner rather than string searching: constraints files have ~800 lines and the
    /// comparison of two of them should take well under a millisecond.
    public init(freezeText text: String) {
        var utf8 = text
        utf8.withUTF8 { bytes in
            var lineStart = 0
            let count = bytes.count
            while lineStart < count {
                var lineEnd = lineStart
                while lineEnd < count, bytes[lineEnd] != 0x0A { lineEnd += 1 }
                parseLine(bytes, lineStart, lineEnd)
                lineStart = lineEnd + 1
            }
        }
    }

    private mutating func parseLine(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) {
        // Cut at a comment or a marker, then trim.
        var stop = start
        while stop < end, bytes[stop] != 0x23 /* # */, bytes[stop] != 0x3B /* ; */ { stop += 1 }
        var lower = start, upper = stop
        while lower < upper, Self.isSpace(bytes[lower]) { lower += 1 }
        while upper > lower, Self.isSpace(bytes[upper - 1]) { upper -= 1 }
        guard lower < upper, bytes[lower] != 0x2D /* - */ else { return }
        // `name[extras]==version` (also `===`), or `name @ url`.
        var index = lower
        while index + 1 < upper, !(bytes[index] == 0x3D && bytes[index + 1] == 0x3D), bytes[index] != 0x40 /* @ */ { index += 1 }
        guard index + 1 < upper else { return }
        var nameEnd = index
        while nameEnd > lower, Self.isSpace(bytes[nameEnd - 1]) { nameEnd -= 1 }
        if let bracket = (lower..<nameEnd).first(where: { bytes[$0] == 0x5B /* [ */ }) { nameEnd = bracket }
        guard nameEnd > lower else { return }
        let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[lower..<nameEnd]), as: UTF8.self)
        if bytes[index] == 0x40 {
            var urlStart = index + 1
            while urlStart < upper, Self.isSpace(bytes[urlStart]) { urlStart += 1 }
            guard urlStart < upper, !name.contains(" ") else { return }
            insert(PinnedPackage(name: PackageName(name), version: nil,
                                 url: String(decoding: UnsafeBufferPointer(rebasing: bytes[urlStart..<upper]), as: UTF8.self)))
            return
        }
        var versionStart = index + 2
        if versionStart < upper, bytes[versionStart] == 0x3D { versionStart += 1 }  // `===`
        while versionStart < upper, Self.isSpace(bytes[versionStart]) { versionStart += 1 }
        guard versionStart < upper else { return }
        insert(PinnedPackage(name: PackageName(name),
                             version: String(decoding: UnsafeBufferPointer(rebasing: bytes[versionStart..<upper]), as: UTF8.self)))
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0D
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
