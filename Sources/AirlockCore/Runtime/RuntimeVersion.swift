import Foundation

/// An Astro Runtime version in either tag scheme, ordered the way Astronomer orders them.
///
/// Old scheme `MAJOR.MINOR.PATCH` (4.0.0 … 13.x, Airflow 2); new scheme `X.Y-N` (Airflow X.Y, build N).
/// Every new-scheme version sorts above every old-scheme one, so `3.0-1 > 13.5.0`.
public struct RuntimeVersion: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public enum Scheme: String, Sendable, Hashable, Codable {
        /// `MAJOR.MINOR.PATCH`, Airflow 2 runtimes.
        case semantic
        /// `X.Y-N`: Airflow X.Y, Astronomer build N.
        case airflowBuild
    }

    public var scheme: Scheme
    /// For `.semantic` major/minor/patch; for `.airflowBuild` Airflow major, Airflow minor and the build number.
    public var numbers: [Int]
    /// A pre-release label such as `rc1` (`9.0.0-rc1`, `3.1-1-beta2`); sorts below the release.
    public var prerelease: String?

    public init(scheme: Scheme, numbers: [Int], prerelease: String? = nil) {
        self.scheme = scheme
        self.numbers = numbers
        self.prerelease = prerelease
    }

    /// Parses `9.10.0`, `9.10.0-rc1`, `3.1-12`, `3.1-12-rc1`. Suffixes such as `-slim` belong to `RuntimeTag`.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let head = parts.first else { return nil }
        let dotted = head.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard dotted.allSatisfy({ $0 != nil && $0! >= 0 }), !head.isEmpty else { return nil }
        let numbers = dotted.compactMap { $0 }
        let rest = parts.count > 1 ? parts[1] : nil
        if numbers.count == 3 {
            if let rest, !Self.isPrereleaseLabel(rest) { return nil }
            self.init(scheme: .semantic, numbers: numbers, prerelease: rest)
        } else if numbers.count == 2, let rest {
            let buildParts = rest.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let build = Int(buildParts[0]), build >= 0, !buildParts[0].isEmpty else { return nil }
            let pre = buildParts.count > 1 ? buildParts[1] : nil
            if let pre, !Self.isPrereleaseLabel(pre) { return nil }
            self.init(scheme: .airflowBuild, numbers: numbers + [build], prerelease: pre)
        } else {
            return nil
        }
    }

    private static func isPrereleaseLabel(_ text: String) -> Bool {
        guard let first = text.first, first.isLetter else { return false }
        return text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." }
            && !["slim", "base", "python"].contains(where: { text.hasPrefix($0) })
    }

    /// The Airflow major version this runtime line ships: the first number of a new-scheme tag, else 2.
    public var airflowMajor: Int {
        scheme == .airflowBuild ? numbers[0] : 2
    }

    /// The runtime's own major series, e.g. `9` for 9.10.0 or `3.1` for 3.1-12.
    public var series: String {
        scheme == .airflowBuild ? "\(numbers[0]).\(numbers[1])" : "\(numbers[0])"
    }

    public var description: String {
        let base: String
        switch scheme {
        case .semantic: base = numbers.map(String.init).joined(separator: ".")
        case .airflowBuild: base = "\(numbers[0]).\(numbers[1])-\(numbers[2])"
        }
        if let prerelease { return "\(base)-\(prerelease)" }
        return base
    }

    public static func < (lhs: RuntimeVersion, rhs: RuntimeVersion) -> Bool {
        if lhs.scheme != rhs.scheme { return lhs.scheme == .semantic }
        if lhs.numbers != rhs.numbers { return lhs.numbers.lexicographicallyPrecedes(rhs.numbers) }
        switch (lhs.prerelease, rhs.prerelease) {
        case (nil, nil), (nil, _?): return false
        case (_?, nil): return true
        case let (l?, r?): return comparePrerelease(l, r) < 0
        }
    }

    /// SemVer-style comparison of dot-separated pre-release identifiers; numeric runs compare as numbers.
    private static func comparePrerelease(_ lhs: String, _ rhs: String) -> Int {
        let l = splitAlphaNumeric(lhs), r = splitAlphaNumeric(rhs)
        for (a, b) in zip(l, r) where a != b {
            switch (Int(a), Int(b)) {
            case let (x?, y?): return x < y ? -1 : 1
            case (_?, nil): return -1
            case (nil, _?): return 1
            default: return a < b ? -1 : 1
            }
        }
        return l.count == r.count ? 0 : (l.count < r.count ? -1 : 1)
    }

    private static func splitAlphaNumeric(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var currentIsDigit: Bool?
        for character in text {
            if character == "." || character == "-" {
                if !current.isEmpty { parts.append(current) }
                current = ""; currentIsDigit = nil
                continue
            }
            let isDigit = character.isNumber
            if let currentIsDigit, currentIsDigit != isDigit {
                parts.append(current); current = ""
            }
            current.append(character); currentIsDigit = isDigit
        }
        if !current.isEmpty { parts.append(current) }
        return parts
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let version = RuntimeVersion(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "Invalid runtime version `\(text)`"))
        }
        self = version
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A runtime image tag as written in a Dockerfile: a version (or a floating `X.Y` series) plus
/// the image variant suffixes `-slim`, `-base` and `-python-X.Y`.
public struct RuntimeTag: Hashable, Sendable, CustomStringConvertible {
    /// The exact version, when the tag pins one.
    public var version: RuntimeVersion?
    /// A floating new-scheme series such as `3.1`, resolved to its newest build by the catalog.
    public var floatingSeries: String?
    public var slim: Bool
    public var base: Bool
    public var python: String?
    public var raw: String

    public init?(_ raw: String) {
        self.raw = raw
        var text = raw
        var slim = false, base = false
        var python: String?
        // Peel suffixes from the right, in any order: -base, -slim, -python-X.Y
        var changed = true
        while changed {
            changed = false
            if text.hasSuffix("-base") { text.removeLast(5); base = true; changed = true }
            if text.hasSuffix("-slim") { text.removeLast(5); slim = true; changed = true }
            if let range = text.range(of: "-python-", options: .backwards) {
                let candidate = String(text[range.upperBound...])
                let pieces = candidate.split(separator: ".")
                if pieces.count == 2, pieces.allSatisfy({ Int($0) != nil }) {
                    python = candidate
                    text = String(text[..<range.lowerBound])
                    changed = true
                }
            }
        }
        self.slim = slim
        self.base = base
        self.python = python
        if let version = RuntimeVersion(text) {
            self.version = version
            self.floatingSeries = nil
        } else {
            let pieces = text.split(separator: ".", omittingEmptySubsequences: false)
            guard pieces.count == 2, pieces.allSatisfy({ !$0.isEmpty && Int($0) != nil }), let major = Int(pieces[0]), major >= 3 else {
                return nil
            }
            self.version = nil
            self.floatingSeries = text
        }
    }

    public var description: String { raw }
}
