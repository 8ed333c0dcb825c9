/// One PEP 440 version specifier such as `>=1.0` or `==2.*`, validated and matched exactly like
/// Python's `packaging.specifiers.Specifier` (packaging 26.x semantics).
///
/// Equality and hashing use packaging's canonical form (`==1.0` equals `==1.0.0`).
public struct Specifier: Hashable, Sendable, CustomStringConvertible {
    /// The eight PEP 440 comparison operators.
    public enum Operator: String, Sendable, CaseIterable {
        case compatible = "~=", equal = "==", notEqual = "!=", lessThanOrEqual = "<=",
             greaterThanOrEqual = ">=", lessThan = "<", greaterThan = ">", arbitrary = "==="
    }

    public var op: Operator { didSet { analysis = Analysis(op: op, version: version) } }
    /// The version as written (whitespace removed); may end with `.*` for `==` / `!=`.
    public var version: String { didSet { analysis = Analysis(op: op, version: version) } }

    /// Derived data, recomputed whenever `op` or `version` change.
    private var analysis: Analysis

    /// Builds a specifier without validating it (use `init(parsing:)` for user input).
    public init(op: Operator, version: String) {
        self.op = op
        self.version = version
        self.analysis = Analysis(op: op, version: version)
    }

    /// Parses a single specifier such as `">= 1.0"`, validating it like `packaging` does:
    /// `~=1` is invalid, `==1.*` is fine, `>=1.*` is not, local labels only with `==` / `!=`.
    public init(parsing text: String) throws(PackagingError) {
        let s = Array(text.unicodeScalars)
        let range = pythonStrippedRange(s)
        guard let match = SpecifierScanner.scan(s, from: range.lowerBound, to: range.upperBound),
              match.end == range.upperBound
        else {
            throw PackagingError(message: "Invalid specifier: '\(DisplayText.escaped(text))'\(SpecifierScanner.hint(s, range))")
        }
        // Version: the remainder after the operator, stripped.
        let versionScalars = s[(range.lowerBound + match.op.rawValue.unicodeScalars.count)..<range.upperBound]
        let version = pythonStrip(makeString(versionScalars))
        self.init(op: match.op, version: version)
    }

    public var description: String { op.rawValue + version }

    /// True when the specifier's own version is a pre-release (packaging's `Specifier.prereleases`
    /// when not overridden); `!=` and `==X.*` never imply pre-releases.
    public var impliesPrereleases: Bool? {
        if op == .notEqual { return false }
        if op == .equal && version.hasSuffix(".*") { return false }
        guard let v = analysis.specVersion else { return nil }
        return v.isPrerelease
    }

    /// `packaging.specifiers.Specifier.contains(version, prereleases)`:
    /// with `prereleases` nil or true a matching version is contained; with false a
    /// matching pre-release is not.
    public func contains(_ version: Version, prereleases: Bool? = nil) -> Bool {
        guard matches(version) else { return false }
        if prereleases == false && version.isPrerelease { return false }
        return true
    }

    /// The bare operator comparison, ignoring pre-release policy.
    func matches(_ prospective: Version) -> Bool {
        let a = analysis
        if op == .arbitrary {
            return prospective.description.lowercased() == version.lowercased()
        }
        guard let spec = a.specVersion else { return false }
        switch op {
        case .equal:
            return equal(prospective, spec)
        case .notEqual:
            return !equal(prospective, spec)
        case .lessThanOrEqual:
            return prospective.publicVersion <= spec
        case .greaterThanOrEqual:
            return prospective.publicVersion >= spec
        case .lessThan:
            guard prospective < spec else { return false }
            if !spec.isPrerelease && prospective.isPrerelease {
                var earliest = spec
                earliest.dev = 0
                earliest.local = []
                if prospective >= earliest { return false }
            }
            return true
        case .greaterThan:
            guard prospective > spec else { return false }
            if !spec.isPostRelease && prospective.isPostRelease {
                var base = prospective
                base.post = nil
                base.dev = nil
                base.local = []
                if base == spec { return false }
            }
            if !prospective.local.isEmpty && prospective.publicVersion == spec { return false }
            return true
        case .compatible:
            guard prospective.publicVersion >= spec, let prefix = a.wildcard else { return false }
            return prefix.matches(prospective)
        case .arbitrary:
            return false
        }
    }

    private func equal(_ prospective: Version, _ spec: Version) -> Bool {
        if let wildcard = analysis.wildcard {
            return wildcard.matches(prospective)
        }
        if spec.local.isEmpty {
            return prospective.publicVersion == spec
        }
        return prospective == spec
    }

    // MARK: Equality (canonical, as packaging)

    public static func == (lhs: Specifier, rhs: Specifier) -> Bool {
        lhs.op == rhs.op && lhs.canonicalVersion == rhs.canonicalVersion
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(op)
        hasher.combine(canonicalVersion)
    }

    /// packaging's canonical version text used for equality (`_canonical_spec`): trailing zeros
    /// stripped except for `~=`; `===` and wildcards as written.
    var canonicalVersion: String {
        if op == .arbitrary || version.hasSuffix(".*") { return version }
        guard let v = analysis.specVersion else { return version }
        return canonicalize(v, stripTrailingZero: op != .compatible)
    }

    // MARK: Derived data

    private struct Analysis: Sendable {
        /// The spec version (the base for `==X.*`), nil for `===` or when unparsable.
        var specVersion: Version?
        /// The wildcard prefix for `==X.*`, `!=X.*` and (implicitly) `~=`.
        var wildcard: WildcardPrefix?

        init(op: Operator, version: String) {
            specVersion = nil
            wildcard = nil
            if op == .arbitrary {
                // packaging parses the === operand only to decide `prereleases`.
                specVersion = Version(version)
                return
            }
            if version.hasSuffix(".*") {
                let base = String(version.dropLast(2))
                specVersion = Version(base)
                if op == .equal || op == .notEqual {
                    wildcard = WildcardPrefix(rawPrefix: base)
                }
                return
            }
            guard let v = Version(version) else { return }
            specVersion = v
            if op == .compatible {
                wildcard = WildcardPrefix(rawPrefix: compatiblePrefix(version))
            }
        }
    }
}

/// The set of specifiers of a requirement (`>=1.0,!=1.3.*,<2`), with the semantics of
/// `packaging.specifiers.SpecifierSet`. An empty set matches every version.
public struct SpecifierSet: Hashable, Sendable, CustomStringConvertible {
    /// The specifiers in the order they were written.
    public var specifiers: [Specifier]

    /// The empty set: matches everything.
    public init() { specifiers = [] }

    public init(_ specifiers: [Specifier]) { self.specifiers = specifiers }

    /// Parses a comma-separated list; whitespace around items and empty items are ignored,
    /// so `""` gives the empty set.
    public init(parsing text: String) throws(PackagingError) {
        var result: [Specifier] = []
        // By code points, as Python splits: a `,` after a Prepend character (U+06DD …) is part of that
        // character's grapheme, so splitting Characters missed it (a fuzz finding: the round trip merged two
        // `===` specifiers once sorting put U+06DD before a comma).
        for part in text.unicodeScalars.split(separator: ",", omittingEmptySubsequences: false) {
            let item = pythonStrip(String(String.UnicodeScalarView(part)))
            if item.isEmpty { continue }
            result.append(try Specifier(parsing: item))
        }
        specifiers = result
    }

    public var isEmpty: Bool { specifiers.isEmpty }

    /// `packaging.specifiers.SpecifierSet.contains(version, prereleases)`. In packaging 26 a
    /// single version is contained when every specifier matches it; only an explicit
    /// `prereleases: false` rejects pre-releases.
    public func contains(_ version: Version, prereleases: Bool? = nil) -> Bool {
        for spec in specifiers where !spec.matches(version) { return false }
        if prereleases == false && version.isPrerelease { return false }
        return true
    }

    /// `packaging`'s `SpecifierSet.filter`: the matching versions, in order. With
    /// `prereleases` nil, pre-releases are kept only when a specifier names a pre-release
    /// or when no final release matches (PEP 440).
    public func filter(_ versions: [Version], prereleases: Bool? = nil) -> [Version] {
        var effective = prereleases
        if effective == nil, specifiers.contains(where: { $0.impliesPrereleases == true }) {
            effective = true
        }
        let matching = versions.filter { v in
            if effective == false && v.isPrerelease { return false }
            return specifiers.allSatisfy { $0.matches(v) }
        }
        if effective != nil { return matching }
        let finals = matching.filter { !$0.isPrerelease }
        return finals.isEmpty ? matching : finals
    }

    /// packaging's canonical order: sorted by text, duplicates (canonically equal) removed.
    var canonicalSpecifiers: [Specifier] {
        if specifiers.count <= 1 { return specifiers }
        let sorted = specifiers.sorted { $0.description.unicodeScalars.lexicographicallyPrecedes($1.description.unicodeScalars) }
        var seen = Set<Specifier>()
        var out: [Specifier] = []
        for spec in sorted where seen.insert(spec).inserted { out.append(spec) }
        return out
    }

    /// The specifiers joined with ",", sorted and de-duplicated like `str(SpecifierSet)`.
    public var description: String {
        canonicalSpecifiers.map(\.description).joined(separator: ",")
    }

    public static func == (lhs: SpecifierSet, rhs: SpecifierSet) -> Bool {
        lhs.canonicalSpecifiers == rhs.canonicalSpecifiers
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(canonicalSpecifiers)
    }
}

// MARK: - packaging's string helpers (_version_split, canonicalize_version, ...)

/// `canonicalize_version(version, strip_trailing_zero=...)` for a parsed version.
func canonicalize(_ v: Version, stripTrailingZero: Bool) -> String {
    guard stripTrailingZero else { return v.description }
    var trimmed = v
    var end = trimmed.release.count
    while end > 1 && trimmed.release[end - 1] == 0 { end -= 1 }
    if end != trimmed.release.count { trimmed.release = Array(trimmed.release[0..<end]) }
    return trimmed.description
}

/// `_version_split`: `"1!2.0rc1.post3"` → `["1", "2", "0", "rc1", "post3"]`.
func versionSplit(_ version: String) -> [String] {
    var result: [String] = []
    let epoch: Substring
    let rest: Substring
    if let bang = version.lastIndex(of: "!") {
        epoch = version[version.startIndex..<bang]
        rest = version[version.index(after: bang)...]
    } else {
        epoch = ""
        rest = version[...]
    }
    result.append(epoch.isEmpty ? "0" : String(epoch))
    for item in rest.split(separator: ".", omittingEmptySubsequences: false) {
        if let (number, suffix) = splitPrefixRegex(item) {
            result.append(number)
            result.append(suffix)
        } else {
            result.append(String(item))
        }
    }
    return result
}

/// `re.fullmatch(r"([0-9]+)((?:a|b|c|rc)[0-9]+)", item)`.
private func splitPrefixRegex(_ item: Substring) -> (String, String)? {
    let s = Array(item.unicodeScalars)
    var i = 0
    while i < s.count && s[i].isASCIIDigit { i += 1 }
    guard i > 0 else { return nil }
    var j = i
    if j < s.count && (s[j] == "a" || s[j] == "b" || s[j] == "c") {
        j += 1
    } else if j + 1 < s.count && s[j] == "r" && s[j + 1] == "c" {
        j += 2
    } else {
        return nil
    }
    let digitsStart = j
    while j < s.count && s[j].isASCIIDigit { j += 1 }
    guard j > digitsStart, j == s.count else { return nil }
    return (makeString(s[0..<i]), makeString(s[i..<s.count]))
}

/// `_is_not_suffix`.
private func isNotSuffix(_ segment: String) -> Bool {
    !(segment.hasPrefix("dev") || segment.hasPrefix("a") || segment.hasPrefix("b")
        || segment.hasPrefix("rc") || segment.hasPrefix("post"))
}

/// The wildcard prefix `packaging` builds for `~=` (without the trailing `.*`):
/// `_version_join(list(takewhile(_is_not_suffix, _version_split(spec)))[:-1])`.
private func compatiblePrefix(_ spec: String) -> String {
    var parts: [String] = []
    for part in versionSplit(spec) {
        if !isNotSuffix(part) { break }
        parts.append(part)
    }
    if !parts.isEmpty { parts.removeLast() }
    guard let epoch = parts.first else { return "!" }
    return epoch + "!" + parts.dropFirst().joined(separator: ".")
}

/// The `==X.*` comparison of packaging's `_compare_equal`, on `_version_split` components.
struct WildcardPrefix: Sendable {
    var split: [String]
    var numericLength: Int

    init(rawPrefix: String) {
        let normalized = Version(rawPrefix).map { canonicalize($0, stripTrailingZero: false) } ?? rawPrefix
        split = versionSplit(normalized)
        numericLength = WildcardPrefix.numericPrefixLength(split)
    }

    static func numericPrefixLength(_ split: [String]) -> Int {
        var count = 0
        for segment in split {
            guard !segment.isEmpty, segment.unicodeScalars.allSatisfy({ $0.isASCIIDigit }) else { break }
            count += 1
        }
        return count
    }

    /// `_version_split(canonicalize_version(public(v), strip_trailing_zero=False))`, built directly.
    static func components(of v: Version) -> [String] {
        var out: [String] = [String(v.epoch)]
        out.reserveCapacity(v.release.count + 4)
        for part in v.release { out.append(String(part)) }
        if let pre = v.pre { out.append(pre.kind.rawValue + String(pre.number)) }
        if let post = v.post { out.append("post" + String(post)) }
        if let dev = v.dev { out.append("dev" + String(dev)) }
        return out
    }

    func matches(_ prospective: Version) -> Bool {
        var parts = WildcardPrefix.components(of: prospective)
        // _left_pad: the numeric prefix of `parts` is epoch + release.
        let numeric = 1 + prospective.release.count
        if numericLength > numeric {
            parts.insert(contentsOf: Array(repeating: "0", count: numericLength - numeric), at: numeric)
        }
        guard parts.count >= split.count else { return false }
        for i in 0..<split.count where parts[i] != split[i] { return false }
        return true
    }
}

// MARK: - Specifier grammar scanner

/// Hand-written equivalent of packaging's `Specifier._specifier_regex_str`, used both for
/// validation (full match) and by the PEP 508 tokenizer (prefix match). The regex has no
/// ambiguity that backtracking could resolve differently, so a greedy scan gives the same result.
enum SpecifierScanner {
    struct Match {
        var op: Specifier.Operator
        var end: Int
    }

    static func scanOperator(_ s: [Unicode.Scalar], _ p: Int, _ hi: Int) -> Specifier.Operator? {
        func at(_ i: Int) -> Unicode.Scalar? { i < hi ? s[i] : nil }
        switch at(p) {
        case "=":
            if at(p + 1) == "=" { return at(p + 2) == "=" ? .arbitrary : .equal }
            return nil
        case "~": return at(p + 1) == "=" ? .compatible : nil
        case "!": return at(p + 1) == "=" ? .notEqual : nil
        case "<": return at(p + 1) == "=" ? .lessThanOrEqual : .lessThan
        case ">": return at(p + 1) == "=" ? .greaterThanOrEqual : .greaterThan
        default: return nil
        }
    }

    /// Matches the specifier grammar starting at `start`; returns the end of the match.
    static func scan(_ s: [Unicode.Scalar], from start: Int, to hi: Int) -> Match? {
        guard let op = scanOperator(s, start, hi) else { return nil }
        var p = start + op.rawValue.unicodeScalars.count
        if op == .arbitrary {
            while p < hi && s[p].isPythonWhitespace { p += 1 }
            while p < hi && !s[p].isPythonWhitespace && s[p] != ";" && s[p] != ")" { p += 1 }
            return Match(op: op, end: p)
        }
        while p < hi && s[p].isPythonWhitespace { p += 1 }
        if p < hi && (s[p] == "v" || s[p] == "V") { p += 1 }
        func digitRun(_ i: Int) -> Int {
            var j = i
            while j < hi && s[j].isASCIIDigit { j += 1 }
            return j
        }
        func isSep(_ i: Int) -> Bool {
            guard i < hi else { return false }
            return s[i] == "-" || s[i] == "_" || s[i] == "."
        }
        func word(_ w: StaticString, _ i: Int) -> Bool {
            guard i + w.utf8CodeUnitCount <= hi else { return false }
            return s.hasASCIIPrefix(w, at: i, caseInsensitive: true)
        }
        // epoch
        do {
            let e = digitRun(p)
            if e > p && e < hi && s[e] == "!" { p = e + 1 }
        }
        // release
        let r = digitRun(p)
        guard r > p else { return nil }
        p = r
        var segments = 1
        while p + 1 < hi && s[p] == "." && s[p + 1].isASCIIDigit {
            p = digitRun(p + 1)
            segments += 1
        }
        if op == .compatible && segments < 2 { return nil }
        if op == .equal || op == .notEqual {
            if p + 1 < hi && s[p] == "." && s[p + 1] == "*" {
                return Match(op: op, end: p + 2)
            }
        }
        // pre: [-_.]?(alpha|beta|preview|pre|a|b|c|rc)[-_.]?[0-9]*
        do {
            var q = p
            if isSep(q) { q += 1 }
            var length = 0
            if word("alpha", q) { length = 5 }
            else if word("beta", q) { length = 4 }
            else if word("preview", q) { length = 7 }
            else if word("pre", q) { length = 3 }
            else if word("a", q) || word("b", q) || word("c", q) { length = 1 }
            else if word("rc", q) { length = 2 }
            if length > 0 {
                q += length
                if isSep(q) { q += 1 }
                p = digitRun(q)
            }
        }
        // post: (-[0-9]+) | ([-_.]?(post|rev|r)[-_.]?[0-9]*)
        do {
            if p + 1 < hi && s[p] == "-" && s[p + 1].isASCIIDigit {
                p = digitRun(p + 1)
            } else {
                var q = p
                if isSep(q) { q += 1 }
                var length = 0
                if word("post", q) { length = 4 }
                else if word("rev", q) { length = 3 }
                else if word("r", q) { length = 1 }
                if length > 0 {
                    q += length
                    if isSep(q) { q += 1 }
                    p = digitRun(q)
                }
            }
        }
        // dev: [-_.]?dev[-_.]?[0-9]*
        do {
            var q = p
            if isSep(q) { q += 1 }
            if word("dev", q) {
                q += 3
                if isSep(q) { q += 1 }
                p = digitRun(q)
            }
        }
        // local (only == and !=): \+[a-z0-9]+(?:[-_.][a-z0-9]+)*
        if (op == .equal || op == .notEqual) && p + 1 < hi && s[p] == "+" && s[p + 1].isASCIIAlphanumeric {
            p += 1
            while p < hi && s[p].isASCIIAlphanumeric { p += 1 }
            while isSep(p) && p + 1 < hi && s[p + 1].isASCIIAlphanumeric {
                p += 1
                while p < hi && s[p].isASCIIAlphanumeric { p += 1 }
            }
        }
        return Match(op: op, end: p)
    }

    /// A short explanation appended to "Invalid specifier" errors.
    static func hint(_ s: [Unicode.Scalar], _ range: Range<Int>) -> String {
        guard let op = scanOperator(s, range.lowerBound, range.upperBound) else {
            return " (expected an operator: ~=, ==, !=, <=, >=, <, >, ===)"
        }
        let rest = pythonStrip(makeString(s[(range.lowerBound + op.rawValue.unicodeScalars.count)..<range.upperBound]))
        if rest.isEmpty { return " (expected a version after `\(op.rawValue)`)" }
        if rest.hasSuffix(".*") && op != .equal && op != .notEqual {
            return " (`.*` can only be used with `==` or `!=`)"
        }
        if rest.contains("+") && op != .equal && op != .notEqual && op != .arbitrary {
            return " (a local version label can only be used with `==` or `!=`)"
        }
        if op == .compatible && !rest.contains(".") {
            return " (`~=` needs at least two release segments, e.g. `~=1.4`)"
        }
        return " (`\(DisplayText.escaped(rest))` is not a valid PEP 440 version for `\(op.rawValue)`)"
    }
}
