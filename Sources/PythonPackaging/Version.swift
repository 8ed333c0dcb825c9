/// A PEP 440 version, parsed, normalised, compared and printed exactly like Python's
/// `packaging.version.Version`, so Airlock orders and prints versions the way pip and uv do.
///
/// Equality and hashing follow PEP 440: trailing zeros in the release are ignored
/// (`1.0 == 1.0.0`), and `description` is the normalised form (`"1.0-1"` → `"1.0.post1"`).
/// Numbers that do not fit in an `Int` are rejected (Python accepts arbitrarily large ones).
public struct Version: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The kind of a pre-release: `a`, `b` or `rc` (`alpha`, `beta`, `c`, `pre`, `preview` normalise to these).
    public enum PreReleaseKind: String, Sendable, Comparable {
        case alpha = "a", beta = "b", rc = "rc"

        var rank: Int {
            switch self {
            case .alpha: return 0
            case .beta: return 1
            case .rc: return 2
            }
        }

        public static func < (lhs: PreReleaseKind, rhs: PreReleaseKind) -> Bool { lhs.rank < rhs.rank }
    }

    /// A pre-release segment such as `rc1`.
    public struct PreRelease: Hashable, Sendable {
        public var kind: PreReleaseKind
        public var number: Int
        public init(kind: PreReleaseKind, number: Int) {
            self.kind = kind
            self.number = number
        }
    }

    /// One dot-separated part of a local version label (`+ubuntu.1` → `.string("ubuntu"), .number(1)`).
    public enum LocalSegment: Hashable, Sendable {
        case number(Int), string(String)
    }

    public var epoch: Int
    public var release: [Int]
    public var pre: PreRelease?
    public var post: Int?
    public var dev: Int?
    public var local: [LocalSegment]

    /// Builds a version from its parts (no validation beyond what the types enforce).
    public init(epoch: Int = 0, release: [Int], pre: PreRelease? = nil, post: Int? = nil, dev: Int? = nil, local: [LocalSegment] = []) {
        self.epoch = epoch
        self.release = release
        self.pre = pre
        self.post = post
        self.dev = dev
        self.local = local
    }

    /// Parses and normalises `text` following PEP 440 (as `packaging.version.Version` does).
    public init(parsing text: String) throws(PackagingError) {
        guard let parsed = VersionScanner.parse(text) else {
            throw PackagingError(message: "Invalid version: '\(DisplayText.escaped(text))'")
        }
        self = parsed
    }

    /// Parses `text`, or returns nil when it is not a valid PEP 440 version.
    public init?(_ text: String) {
        guard let parsed = VersionScanner.parse(text) else { return nil }
        self = parsed
    }

    // MARK: Properties

    /// The normalised form, identical to Python packaging's `str(Version(x))`.
    public var description: String {
        var out = ""
        out.reserveCapacity(16)
        if epoch != 0 {
            out += String(epoch)
            out += "!"
        }
        for (index, part) in release.enumerated() {
            if index > 0 { out += "." }
            out += String(part)
        }
        if let pre {
            out += pre.kind.rawValue
            out += String(pre.number)
        }
        if let post {
            out += ".post"
            out += String(post)
        }
        if let dev {
            out += ".dev"
            out += String(dev)
        }
        if !local.isEmpty {
            out += "+"
            out += localLabel
        }
        return out
    }

    /// The local label joined with dots (`"ubuntu.1"`), or "" when there is none.
    public var localLabel: String {
        local.map { segment -> String in
            switch segment {
            case .number(let n): return String(n)
            case .string(let s): return s
            }
        }.joined(separator: ".")
    }

    /// True when the version has a pre-release or a dev segment (as `packaging`'s `is_prerelease`).
    public var isPrerelease: Bool { pre != nil || dev != nil }
    public var isPostRelease: Bool { post != nil }
    public var isDevRelease: Bool { dev != nil }

    /// The version without its local label.
    public var publicVersion: Version {
        if local.isEmpty { return self }
        var copy = self
        copy.local = []
        return copy
    }

    /// Epoch and release only.
    public var baseVersion: Version { Version(epoch: epoch, release: release) }

    public var major: Int { release.count >= 1 ? release[0] : 0 }
    public var minor: Int { release.count >= 2 ? release[1] : 0 }
    public var micro: Int { release.count >= 3 ? release[2] : 0 }

    // MARK: PEP 440 ordering

    /// The `(pre_rank, pre_n, post_rank, post_n, dev_rank, dev_n)` part of packaging's `_cmpkey`.
    @inline(__always)
    private var suffixKey: (Int, Int, Int, Int, Int, Int) {
        let preRank: Int
        let preNumber: Int
        if let pre {
            preRank = pre.kind.rank
            preNumber = pre.number
        } else if post == nil && dev != nil {
            preRank = -1
            preNumber = 0
        } else {
            preRank = 3
            preNumber = 0
        }
        return (preRank, preNumber, post == nil ? 0 : 1, post ?? 0, dev == nil ? 1 : 0, dev ?? 0)
    }

    /// Three-way comparison following `packaging`'s ordering: -1, 0 or 1.
    public static func compare(_ a: Version, _ b: Version) -> Int {
        if a.epoch != b.epoch { return a.epoch < b.epoch ? -1 : 1 }
        let count = Swift.max(a.release.count, b.release.count)
        var i = 0
        while i < count {
            let x = i < a.release.count ? a.release[i] : 0
            let y = i < b.release.count ? b.release[i] : 0
            if x != y { return x < y ? -1 : 1 }
            i += 1
        }
        let sa = a.suffixKey
        let sb = b.suffixKey
        if sa != sb { return sa < sb ? -1 : 1 }
        return compareLocal(a.local, b.local)
    }

    private static func compareLocal(_ a: [LocalSegment], _ b: [LocalSegment]) -> Int {
        if a.isEmpty && b.isEmpty { return 0 }
        if a.isEmpty { return -1 }
        if b.isEmpty { return 1 }
        var i = 0
        while i < a.count && i < b.count {
            switch (a[i], b[i]) {
            case (.number(let x), .number(let y)):
                if x != y { return x < y ? -1 : 1 }
            case (.string, .number):
                return -1
            case (.number, .string):
                return 1
            case (.string(let x), .string(let y)):
                if x != y {
                    return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1
                }
            }
            i += 1
        }
        if a.count == b.count { return 0 }
        return a.count < b.count ? -1 : 1
    }

    public static func == (lhs: Version, rhs: Version) -> Bool { compare(lhs, rhs) == 0 }
    public static func < (lhs: Version, rhs: Version) -> Bool { compare(lhs, rhs) < 0 }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(epoch)
        var end = release.count
        while end > 0 && release[end - 1] == 0 { end -= 1 }
        hasher.combine(end)
        for i in 0..<end { hasher.combine(release[i]) }
        let s = suffixKey
        hasher.combine(s.0)
        hasher.combine(s.1)
        hasher.combine(s.2)
        hasher.combine(s.3)
        hasher.combine(s.4)
        hasher.combine(s.5)
        hasher.combine(local)
    }

    // MARK: Codable (as the normalised string)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = VersionScanner.parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Invalid version: '\(text)'")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Hand-written equivalent of packaging's `VERSION_PATTERN` (possessive form, CPython ≥ 3.11.5),
/// matched with `fullmatch` after optional surrounding whitespace.
enum VersionScanner {
    static func parse(_ text: String) -> Version? {
        let scalars = Array(text.unicodeScalars)
        return parse(scalars, scalars.startIndex..<scalars.endIndex)
    }

    static func parse(_ s: [Unicode.Scalar], _ range: Range<Int>) -> Version? {
        var lo = range.lowerBound
        var hi = range.upperBound
        while lo < hi && s[lo].isPythonWhitespace { lo += 1 }
        while hi > lo && s[hi - 1].isPythonWhitespace { hi -= 1 }
        var p = lo

        func isSep(_ i: Int) -> Bool {
            guard i < hi else { return false }
            let c = s[i]
            return c == "." || c == "_" || c == "-"
        }
        func digits(_ i: inout Int) -> Int?? {
            // Returns nil when there are no digits, .some(nil) on overflow.
            guard i < hi, s[i].isASCIIDigit else { return nil }
            var value = 0
            var overflow = false
            while i < hi, s[i].isASCIIDigit {
                if !overflow {
                    let (m, o1) = value.multipliedReportingOverflow(by: 10)
                    let (a, o2) = m.addingReportingOverflow(Int(s[i].value - 0x30))
                    if o1 || o2 { overflow = true } else { value = a }
                }
                i += 1
            }
            return overflow ? .some(nil) : .some(value)
        }
        func word(_ w: StaticString, _ i: Int) -> Bool {
            guard i + w.utf8CodeUnitCount <= hi else { return false }
            return s.hasASCIIPrefix(w, at: i, caseInsensitive: true)
        }

        if p < hi && (s[p] == "v" || s[p] == "V") { p += 1 }

        // Epoch
        var epoch = 0
        do {
            var q = p
            if let n = digits(&q), q < hi, s[q] == "!" {
                guard let n else { return nil }
                epoch = n
                p = q + 1
            }
        }

        // Release
        var release: [Int] = []
        guard let first = digits(&p) else { return nil }
        guard let first else { return nil }
        release.append(first)
        while p + 1 < hi && s[p] == "." && s[p + 1].isASCIIDigit {
            p += 1
            guard let n = digits(&p), let n else { return nil }
            release.append(n)
        }

        // Pre-release
        var pre: Version.PreRelease?
        do {
            var q = p
            if isSep(q) { q += 1 }
            var kind: Version.PreReleaseKind?
            if word("alpha", q) { kind = .alpha; q += 5 }
            else if word("a", q) { kind = .alpha; q += 1 }
            else if word("beta", q) { kind = .beta; q += 4 }
            else if word("b", q) { kind = .beta; q += 1 }
            else if word("preview", q) { kind = .rc; q += 7 }
            else if word("pre", q) { kind = .rc; q += 3 }
            else if word("c", q) { kind = .rc; q += 1 }
            else if word("rc", q) { kind = .rc; q += 2 }
            if let kind {
                if isSep(q) { q += 1 }
                var number = 0
                if let n = digits(&q) {
                    guard let n else { return nil }
                    number = n
                }
                pre = Version.PreRelease(kind: kind, number: number)
                p = q
            }
        }

        // Post-release
        var post: Int?
        do {
            var q = p
            if q < hi && s[q] == "-", q + 1 < hi, s[q + 1].isASCIIDigit {
                q += 1
                guard let n = digits(&q), let n else { return nil }
                post = n
                p = q
            } else {
                if isSep(q) { q += 1 }
                var matched = false
                if word("post", q) { q += 4; matched = true }
                else if word("rev", q) { q += 3; matched = true }
                else if word("r", q) { q += 1; matched = true }
                if matched {
                    if isSep(q) { q += 1 }
                    var number = 0
                    if let n = digits(&q) {
                        guard let n else { return nil }
                        number = n
                    }
                    post = number
                    p = q
                }
            }
        }

        // Dev release
        var dev: Int?
        do {
            var q = p
            if isSep(q) { q += 1 }
            if word("dev", q) {
                q += 3
                if isSep(q) { q += 1 }
                var number = 0
                if let n = digits(&q) {
                    guard let n else { return nil }
                    number = n
                }
                dev = number
                p = q
            }
        }

        // Local label
        var local: [Version.LocalSegment] = []
        if p < hi && s[p] == "+" {
            p += 1
            while true {
                let start = p
                while p < hi && s[p].isASCIIAlphanumeric { p += 1 }
                if p == start { return nil }
                var allDigits = true
                for i in start..<p where !s[i].isASCIIDigit { allDigits = false; break }
                if allDigits {
                    var value = 0
                    for i in start..<p {
                        let (m, o1) = value.multipliedReportingOverflow(by: 10)
                        let (a, o2) = m.addingReportingOverflow(Int(s[i].value - 0x30))
                        if o1 || o2 { return nil }
                        value = a
                    }
                    local.append(.number(value))
                } else {
                    local.append(.string(makeString(s[start..<p].lazy.map { $0.asciiLowercased })))
                }
                // `(?:[._-][a-z0-9]+)*+`: a separator must be followed by an alphanumeric.
                if isSep(p), p + 1 < hi, s[p + 1].isASCIIAlphanumeric {
                    p += 1
                } else {
                    break
                }
            }
        }

        guard p == hi else { return nil }
        return Version(epoch: epoch, release: release, pre: pre, post: post, dev: dev, local: local)
    }
}
