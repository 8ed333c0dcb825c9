/// A distribution name compared the PEP 503 way, so `Foo.Bar`, `foo_bar` and `FOO-bar`
/// are the same package everywhere in Airlock. The raw spelling is kept for display.
public struct PackageName: Hashable, Sendable, CustomStringConvertible, Comparable, Codable {
    /// The name as written.
    public let raw: String
    /// `re.sub(r"[-_.]+", "-", name).lower()`.
    public let normalized: String

    public init(_ raw: String) {
        self.raw = raw
        self.normalized = normalizePackageName(raw)
    }

    public var description: String { normalized }

    public static func == (lhs: PackageName, rhs: PackageName) -> Bool { lhs.normalized == rhs.normalized }
    public func hash(into hasher: inout Hasher) { hasher.combine(normalized) }
    public static func < (lhs: PackageName, rhs: PackageName) -> Bool {
        lhs.normalized.unicodeScalars.lexicographicallyPrecedes(rhs.normalized.unicodeScalars)
    }

    /// Encoded as the raw string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self.init(try container.decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(raw)
    }
}

/// PEP 503 normalisation, identical to `packaging.utils.canonicalize_name`:
/// lower-case, and every run of `-`, `_` and `.` becomes a single `-`.
public func normalizePackageName(_ name: String) -> String {
    var ascii = true
    for byte in name.utf8 where byte >= 0x80 { ascii = false; break }
    if ascii {
        var out: [UInt8] = []
        out.reserveCapacity(name.utf8.count)
        var lastWasSeparator = false
        for byte in name.utf8 {
            if byte == 0x2D || byte == 0x5F || byte == 0x2E {
                if !lastWasSeparator { out.append(0x2D) }
                lastWasSeparator = true
            } else {
                out.append(byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte)
                lastWasSeparator = false
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
    var out = String.UnicodeScalarView()
    var lastWasSeparator = false
    for scalar in name.lowercased().unicodeScalars {
        if scalar == "-" || scalar == "_" || scalar == "." {
            if !lastWasSeparator { out.append("-") }
            lastWasSeparator = true
        } else {
            out.append(scalar)
            lastWasSeparator = false
        }
    }
    return String(out)
}
