/// A PEP 508 dependency specifier (`name[extras] specifiers ; marker` or `name @ url ; marker`),
/// parsed with the grammar of `packaging.requirements.Requirement`, so Airlock reads
/// requirement lines exactly as pip does — and refuses, like uv, three things packaging lets
/// through and uv rejects: a name or extra ending in `_` (PEP 508 names end with a letter or
/// digit), a version number too large for a 64-bit integer, and `===` without an operand.
public struct Requirement: Hashable, Sendable, CustomStringConvertible {
    public var name: PackageName
    /// Extra names, PEP 685-normalised, sorted and de-duplicated.
    public var extras: [String]
    public var specifier: SpecifierSet
    /// The URL of a `name @ url` requirement.
    public var url: String?
    public var marker: Marker?

    public init(name: PackageName, extras: [String] = [], specifier: SpecifierSet = SpecifierSet(), url: String? = nil, marker: Marker? = nil) {
        self.name = name
        self.extras = extras.isEmpty ? [] : Array(Set(extras.map(normalizePackageName))).sorted()
        self.specifier = specifier
        self.url = url
        self.marker = marker
    }

    /// Parses a PEP 508 requirement. Errors say what was expected and at which (1-based) column.
    public init(parsing text: String) throws(PackagingError) {
        var parser = PEP508Parser(text)
        self = try parser.parseRequirement()
    }

    /// Like `str(packaging.requirements.Requirement(...))`: `name[extras]specifiers`,
    /// `name @ url ; marker` or `name>=1; marker` (extras normalised, specifiers sorted).
    public var description: String {
        var out = name.raw
        if !extras.isEmpty { out += "[" + extras.joined(separator: ",") + "]" }
        if !specifier.isEmpty { out += specifier.description }
        if let url {
            out += " @ " + url
            if marker != nil { out += " " }
        }
        if let marker { out += "; " + marker.description }
        return out
    }

    /// True when the marker (if any) holds in `environment`.
    public func applies(in environment: MarkerEnvironment) -> Bool {
        marker?.evaluate(environment) ?? true
    }
}

// MARK: - PEP 508 parser (mirrors packaging._parser / packaging._tokenizer)

struct PEP508Parser {
    let s: [Unicode.Scalar]
    var pos = 0

    init(_ text: String) {
        s = Array(text.unicodeScalars)
    }

    // MARK: Tokens

    func error(_ message: String, at position: Int? = nil) -> PackagingError {
        let p = position ?? pos
        return PackagingError(message: "\(message) at column \(p + 1)", column: p + 1)
    }

    func text(_ range: Range<Int>) -> String { makeString(s[range]) }

    mutating func consumeWhitespace() {
        while pos < s.count && (s[pos] == " " || s[pos] == "\t") { pos += 1 }
    }

    /// The tokenizer's `END` (`$`: the end, or a final newline).
    func isEnd(_ p: Int) -> Bool { p == s.count || (p == s.count - 1 && s[p] == "\n") }

    func peek(_ c: Unicode.Scalar) -> Bool { pos < s.count && s[pos] == c }

    func isWordBoundaryBefore(_ p: Int) -> Bool {
        p == 0 || !s[p - 1].isPythonWordCharacter
    }

    func isWordBoundaryAfter(_ p: Int) -> Bool {
        p == s.count || !s[p].isPythonWordCharacter
    }

    /// `IDENTIFIER`: `\b[a-zA-Z0-9][a-zA-Z0-9._-]*\b`.
    func identifierEnd(at p: Int) -> Int? {
        guard p < s.count, s[p].isASCIIAlphanumeric, isWordBoundaryBefore(p) else { return nil }
        var run = p + 1
        while run < s.count && (s[run].isASCIIAlphanumeric || s[run] == "." || s[run] == "_" || s[run] == "-") { run += 1 }
        var end = run
        while end > p {
            if s[end - 1].isPythonWordCharacter && isWordBoundaryAfter(end) { return end }
            end -= 1
        }
        return nil
    }

    /// A keyword such as `and`, `or`, `in`, `not` with word boundaries on both sides.
    func keyword(_ word: StaticString, at p: Int) -> Bool {
        s.hasASCIIPrefix(word, at: p, caseInsensitive: false)
            && isWordBoundaryBefore(p) && isWordBoundaryAfter(p + word.utf8CodeUnitCount)
    }

    static let variableNames: [(spelling: String, name: String)] = {
        var out: [(String, String)] = []
        let plain = ["python_version", "python_full_version", "platform_release", "platform_system",
                     "implementation_name", "implementation_version", "extras", "extra", "dependency_groups"]
        for p in plain { out.append((p, p)) }
        for (a, b) in [("os", "name"), ("sys", "platform"), ("platform", "version"), ("platform", "machine"),
                       ("platform", "python_implementation")] {
            out.append(("\(a)_\(b)", "\(a)_\(b)"))
            out.append(("\(a).\(b)", "\(a)_\(b)"))
        }
        out.append(("python_implementation", "platform_python_implementation"))
        return out
    }()

    /// `VARIABLE`: a known marker variable with word boundaries.
    func variable(at p: Int) -> (name: String, end: Int)? {
        guard p < s.count, isWordBoundaryBefore(p) else { return nil }
        for (spelling, name) in PEP508Parser.variableNames {
            let scalars = Array(spelling.unicodeScalars)
            guard p + scalars.count <= s.count else { continue }
            var ok = true
            for i in 0..<scalars.count where s[p + i] != scalars[i] { ok = false; break }
            if ok && isWordBoundaryAfter(p + scalars.count) { return (name, p + scalars.count) }
        }
        return nil
    }

    /// `OP`: `===|==|~=|!=|<=|>=|<|>`.
    func markerOperator(at p: Int) -> (MarkerOperator, Int)? {
        guard let op = SpecifierScanner.scanOperator(s, p, s.count) else { return nil }
        let length = op.rawValue.unicodeScalars.count
        let mapped = MarkerOperator(rawValue: op.rawValue) ?? .equal
        return (mapped, p + length)
    }

    // MARK: Requirement

    mutating func parseRequirement() throws(PackagingError) -> Requirement {
        consumeWhitespace()
        guard let nameEnd = identifierEnd(at: pos) else {
            throw error("Expected package name at the start of dependency specifier")
        }
        try requireAlphanumericEnd(pos..<nameEnd, what: "Package name")
        let name = text(pos..<nameEnd)
        pos = nameEnd
        consumeWhitespace()
        let extras = try parseExtras()
        consumeWhitespace()

        var url: String?
        var specifierText = ""
        var specifiers: [Specifier]? = []
        var marker: Marker?
        if peek("@") {
            pos += 1
            consumeWhitespace()
            let urlStart = pos
            while pos < s.count && s[pos] != " " && s[pos] != "\t" { pos += 1 }
            if pos == urlStart { throw error("Expected URL after @") }
            url = text(urlStart..<pos)
            if !isEnd(pos) {
                consumeWhitespace()
                if !isEnd(pos) {
                    guard peek(";") else {
                        throw error("Expected semicolon (after URL and whitespace) or end, found \(found())")
                    }
                    pos += 1
                    marker = try parseMarker()
                    consumeWhitespace()
                }
            }
        } else {
            (specifierText, specifiers) = try parseSpecifier()
            consumeWhitespace()
            if !isEnd(pos) {
                guard peek(";") else { throw afterSpecifierError(hasSpecifier: !specifierText.isEmpty) }
                pos += 1
                marker = try parseMarker()
                consumeWhitespace()
            }
        }
        guard isEnd(pos) else { throw error("Expected end of dependency specifier, found \(found())") }
        // Like packaging, the specifier text is split on commas and validated again, unless
        // the scanned tokens already are the specifiers (no `===`, whose operand may hold commas).
        let specifier: SpecifierSet
        if let specifiers {
            specifier = SpecifierSet(specifiers)
        } else {
            specifier = try SpecifierSet(parsing: specifierText)
            // Split at commas, a `===` operand can yield an empty `===` (`===,`) or specifiers the scan
            // above never saw (`===x,==1`): hold them to the same rules.
            for item in specifier.specifiers {
                if item.op == .arbitrary {
                    guard !item.version.isEmpty else { throw error("Expected a version after `===`", at: nameEnd) }
                } else {
                    let version = item.version.hasSuffix(".*") ? String(item.version.dropLast(2)) : item.version
                    guard Version(version) != nil else {
                        throw error("A number in version `\(DisplayText.escaped(item.version))` is too large (at most \(Int.max))", at: nameEnd)
                    }
                }
            }
        }
        return Requirement(name: PackageName(name), extras: extras, specifier: specifier, url: url, marker: marker)
    }

    /// A short quote of the text at the current position for error messages.
    func found() -> String {
        if isEnd(pos) { return "end of text" }
        let end = Swift.min(s.count, pos + 24)
        let quoted = DisplayText.escaped(text(pos..<end), limit: nil)
        return "`\(quoted)\(end < s.count ? "…" : "")`"
    }

    func afterSpecifierError(hasSpecifier: Bool) -> PackagingError {
        if SpecifierScanner.scan(s, from: pos, to: s.count) != nil && hasSpecifier {
            return error("Expected a comma between version specifiers, found \(found())")
        }
        if let (op, end) = markerOperator(at: pos) {
            var q = end
            while q < s.count && (s[q] == " " || s[q] == "\t") { q += 1 }
            if isEnd(q) || s[q] == ";" || s[q] == "," || s[q] == ")" {
                return error("Expected a version after `\(op.rawValue)`")
            }
            return error("Expected a valid version after `\(op.rawValue)`, found \(found())")
        }
        if peek("=") {
            return error("Invalid operator `=`, use `==` for an exact version")
        }
        if hasSpecifier {
            return error("Expected comma (within version specifier), semicolon (after version specifier) or end, found \(found())")
        }
        return error("Expected semicolon (after name with no version specifier) or end, found \(found())")
    }

    /// PEP 508's `identifier` ends with a letter or digit; packaging's regex also takes a final `_`
    /// (a word character), which uv and PyPI refuse.
    func requireAlphanumericEnd(_ range: Range<Int>, what: String) throws(PackagingError) {
        let last = s[range.upperBound - 1]
        guard last.isASCIIAlphanumeric else {
            throw error("\(what) `\(DisplayText.escaped(text(range)))` must end with a letter or digit, not `\(last)`", at: range.upperBound - 1)
        }
    }

    mutating func parseExtras() throws(PackagingError) -> [String] {
        guard peek("[") else { return [] }
        let open = pos
        pos += 1
        consumeWhitespace()
        var extras: [String] = []
        if let end = identifierEnd(at: pos) {
            try requireAlphanumericEnd(pos..<end, what: "Extra name")
            extras.append(text(pos..<end))
            pos = end
            while true {
                consumeWhitespace()
                if identifierEnd(at: pos) != nil {
                    throw error("Expected comma between extra names")
                }
                guard peek(",") else { break }
                pos += 1
                consumeWhitespace()
                guard let next = identifierEnd(at: pos) else {
                    throw error("Expected extra name after comma")
                }
                try requireAlphanumericEnd(pos..<next, what: "Extra name")
                extras.append(text(pos..<next))
                pos = next
            }
        }
        consumeWhitespace()
        guard peek("]") else {
            throw error("Expected matching `]` for `[` (opened at column \(open + 1)), after extras, found \(found())")
        }
        pos += 1
        return extras
    }

    /// The specifier text as packaging collects it, and the specifiers when they could be built
    /// directly from the tokens (nil when a `===` token is present).
    mutating func parseSpecifier() throws(PackagingError) -> (String, [Specifier]?) {
        var open: Int?
        if peek("(") {
            open = pos
            pos += 1
        }
        consumeWhitespace()
        var out = ""
        var specifiers: [Specifier]? = []
        while let match = SpecifierScanner.scan(s, from: pos, to: s.count) {
            let start = pos
            out += text(pos..<match.end)
            var lo = start + match.op.rawValue.unicodeScalars.count
            var hi = match.end
            while lo < hi && s[lo].isPythonWhitespace { lo += 1 }
            while hi > lo && s[hi - 1].isPythonWhitespace { hi -= 1 }
            if match.op == .arbitrary {
                guard lo < hi else { throw error("Expected a version after `===`", at: start) }
                specifiers = nil
            } else {
                // The grammar matched, so only a number too large for Version can make it fail.
                let versionEnd = hi - 1 > lo && s[hi - 1] == "*" ? hi - 2 : hi
                guard VersionScanner.parse(s, lo..<versionEnd) != nil else {
                    throw error("A number in version `\(DisplayText.escaped(text(lo..<hi)))` is too large (at most \(Int.max))", at: lo)
                }
                specifiers?.append(Specifier(op: match.op, version: text(lo..<hi)))
            }
            pos = match.end
            if pos + 1 < s.count && s[pos] == "." && s[pos + 1] == "*" {
                if match.op == .equal || match.op == .notEqual {
                    throw error("`.*` suffix can only follow a release segment (as in `\(match.op.rawValue)1.2.*`)", at: start)
                }
                throw error(".* suffix can only be used with `==` or `!=` operators", at: start)
            }
            if pos + 1 < s.count && s[pos] == "+" && (s[pos + 1].isASCIIDigit || (s[pos + 1].value >= 0x61 && s[pos + 1].value <= 0x7A)) {
                throw error("Local version label can only be used with `==` or `!=` operators", at: start)
            }
            consumeWhitespace()
            guard peek(",") else { break }
            out += ","
            pos += 1
            consumeWhitespace()
        }
        consumeWhitespace()
        if let open {
            guard peek(")") else {
                if !isEnd(pos) && !peek(";") {
                    let e = afterSpecifierError(hasSpecifier: !out.isEmpty)
                    throw PackagingError(message: e.message, column: e.column)
                }
                throw error("Expected matching `)` for `(` (opened at column \(open + 1)), after version specifier")
            }
            pos += 1
        }
        return (out, specifiers)
    }

    // MARK: Markers

    mutating func parseFullMarker() throws(PackagingError) -> Marker {
        let marker = try parseMarker()
        guard isEnd(pos) else { throw error("Expected end of marker expression, found \(found())") }
        return marker
    }

    /// `marker = marker_atom (BOOLOP marker_atom)*`, with `and` binding tighter than `or`.
    /// Chains become flat arrays; `depth` counts the enclosing parentheses.
    mutating func parseMarker(depth: Int = 0) throws(PackagingError) -> Marker {
        func chain(_ terms: [Marker], _ make: ([Marker]) -> Marker) -> Marker {
            terms.count == 1 ? terms[0] : make(terms)
        }
        var orTerms: [Marker] = []
        var andTerms = [try parseMarkerAtom(depth: depth)]
        while true {
            if keyword("and", at: pos) {
                pos += 3
                andTerms.append(try parseMarkerAtom(depth: depth))
            } else if keyword("or", at: pos) {
                pos += 2
                orTerms.append(chain(andTerms, Marker.and))
                andTerms = [try parseMarkerAtom(depth: depth)]
            } else {
                break
            }
        }
        orTerms.append(chain(andTerms, Marker.and))
        return chain(orTerms, Marker.or)
    }

    mutating func parseMarkerAtom(depth: Int) throws(PackagingError) -> Marker {
        consumeWhitespace()
        let marker: Marker
        if peek("(") {
            let open = pos
            guard depth < Marker.maximumNesting else {
                throw error("Marker parentheses nest more than \(Marker.maximumNesting) deep")
            }
            pos += 1
            consumeWhitespace()
            let inner = try parseMarker(depth: depth + 1)
            consumeWhitespace()
            guard peek(")") else {
                throw error("Expected matching `)` for `(` (opened at column \(open + 1)), after marker expression, found \(found())")
            }
            pos += 1
            marker = .group(inner)
        } else {
            marker = try parseMarkerItem()
        }
        consumeWhitespace()
        return marker
    }

    mutating func parseMarkerItem() throws(PackagingError) -> Marker {
        consumeWhitespace()
        var lhs = try parseMarkerVar()
        consumeWhitespace()
        let op = try parseMarkerOp()
        consumeWhitespace()
        var rhs = try parseMarkerVar()
        consumeWhitespace()
        if case .variable("extra") = lhs {
            rhs = .value(normalizePackageName(rhs.text))
        } else if case .variable("extra") = rhs {
            lhs = .value(normalizePackageName(lhs.text))
        }
        return .compare(lhs, op, rhs)
    }

    mutating func parseMarkerVar() throws(PackagingError) -> MarkerOperand {
        if let (name, end) = variable(at: pos) {
            pos = end
            return .variable(name)
        }
        if pos < s.count && (s[pos] == "'" || s[pos] == "\"") {
            let quote = s[pos]
            var q = pos + 1
            while q < s.count && s[q] != quote { q += 1 }
            if q < s.count {
                let value = PEP508Parser.unescape(Array(s[(pos + 1)..<q]))
                pos = q + 1
                return .value(value)
            }
            throw error("Unterminated quoted string")
        }
        if let end = identifierEnd(at: pos) {
            throw error("Unknown marker variable `\(DisplayText.escaped(text(pos..<end), limit: 40))` (expected a marker variable such as python_version, or a quoted string)")
        }
        throw error("Expected a marker variable or quoted string, found \(found())")
    }

    mutating func parseMarkerOp() throws(PackagingError) -> MarkerOperator {
        if keyword("in", at: pos) {
            pos += 2
            return .in
        }
        if keyword("not", at: pos) {
            pos += 3
            guard peek(" ") || peek("\t") else { throw error("Expected whitespace after 'not'") }
            consumeWhitespace()
            guard keyword("in", at: pos) else { throw error("Expected 'in' after 'not'") }
            pos += 2
            return .notIn
        }
        if let (op, end) = markerOperator(at: pos) {
            pos = end
            return op
        }
        throw error("Expected marker operator, one of <=, <, !=, ==, >=, >, ~=, ===, in, not in, found \(found())")
    }

    /// The common escapes of Python string literals (`ast.literal_eval` of a quoted string).
    static func unescape(_ scalars: [Unicode.Scalar]) -> String {
        guard scalars.contains("\\") else { return makeString(scalars) }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            guard c == "\\", i + 1 < scalars.count else {
                out.append(c)
                i += 1
                continue
            }
            let n = scalars[i + 1]
            i += 2
            switch n {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "0": out.append("\0")
            case "\\", "'", "\"": out.append(n)
            default:
                out.append("\\")
                out.append(n)
            }
        }
        return String(out)
    }
}
