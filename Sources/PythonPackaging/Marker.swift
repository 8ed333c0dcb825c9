/// A PEP 508 environment marker (`python_version < "3.12" and sys_platform != "win32"`),
/// so Airlock can tell which requirement lines apply to a target runtime.
///
/// Parsing and evaluation follow `packaging.markers.Marker` (packaging 26): only
/// `python_version`, `python_full_version`, `implementation_version` and `platform_release`
/// are compared as PEP 440 versions (when the right-hand side forms a valid specifier);
/// everything else is compared as strings, where `<` and `>` are always false and
/// `<=` / `>=` mean equality. Two deliberate differences from packaging: `extra` values are
/// PEP 685-normalised inside parentheses too, and comparisons packaging raises on
/// (an unknown variable, `~=` on non-versions) evaluate to false instead of throwing.
///
/// The tree is shallow by construction: an `and` / `or` chain is one flat array (a 100,000-term
/// chain is one level, not 100,000 nested values whose destruction would recurse), and only
/// parentheses add a level, at most `Marker.maximumNesting` of them.
public indirect enum Marker: Hashable, Sendable, CustomStringConvertible {
    /// `lhs op rhs`, e.g. `.compare(.variable("python_version"), .lessThan, .value("3.12"))`.
    case compare(MarkerOperand, MarkerOperator, MarkerOperand)
    /// Two or more terms joined by `and` (each a comparison or a group).
    case and([Marker])
    /// Two or more terms joined by `or` (each a comparison, a group or an `and` chain).
    case or([Marker])
    /// A parenthesised sub-expression, kept so `description` preserves the written grouping.
    case group(Marker)

    /// How deep parentheses may nest in a marker. packaging manages a few hundred levels before
    /// Python's recursion limit; no real marker needs more than a handful.
    public static let maximumNesting = 100

    /// Parses a marker expression (the part after `;` in a requirement).
    public init(parsing text: String) throws(PackagingError) {
        var parser = PEP508Parser(text)
        self = try parser.parseFullMarker()
    }

    /// Evaluates the marker in `environment`. Missing keys count as "".
    public func evaluate(_ environment: MarkerEnvironment) -> Bool {
        switch self {
        case .compare(let lhs, let op, let rhs):
            return MarkerEvaluator.compare(lhs, op, rhs, environment)
        case .and(let terms):
            return terms.allSatisfy { $0.evaluate(environment) }
        case .or(let terms):
            return terms.contains { $0.evaluate(environment) }
        case .group(let inner):
            return inner.evaluate(environment)
        }
    }

    /// The same text as `str(packaging.markers.Marker(...))`, e.g. `python_version < "3.12"`.
    public var description: String {
        MarkerFormatter.formatList(MarkerFormatter.flatten(self), first: true)
    }

    /// Every variable name used in the marker (normalised, e.g. `os.name` → `os_name`).
    public var variables: Set<String> {
        switch self {
        case .compare(let lhs, _, let rhs):
            var out = Set<String>()
            if case .variable(let name) = lhs { out.insert(name) }
            if case .variable(let name) = rhs { out.insert(name) }
            return out
        case .and(let terms), .or(let terms):
            var out = Set<String>()
            for term in terms { out.formUnion(term.variables) }
            return out
        case .group(let inner):
            return inner.variables
        }
    }

    public static func == (lhs: Marker, rhs: Marker) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// One side of a marker comparison.
public enum MarkerOperand: Hashable, Sendable, CustomStringConvertible {
    /// An environment variable such as `python_version` (already normalised: `os.name` → `os_name`).
    case variable(String)
    /// A quoted string literal (without quotes).
    case value(String)

    /// The variable name or the literal text.
    public var text: String {
        switch self {
        case .variable(let name): return name
        case .value(let value): return value
        }
    }

    /// Variables bare, values in double quotes (as packaging serialises them). Unlike packaging,
    /// the text always parses back to the same value: a value holding `"` is put in single quotes,
    /// and backslashes and control characters are written as the escapes the parser reads.
    public var description: String {
        switch self {
        case .variable(let name): return name
        case .value(let value): return MarkerOperand.quoted(value)
        }
    }

    static func quoted(_ value: String) -> String {
        let quote: Unicode.Scalar = value.unicodeScalars.contains("\"") ? "'" : "\""
        var out = String.UnicodeScalarView()
        out.append(quote)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case "\0": out.append(contentsOf: "\\0".unicodeScalars)
            default: out.append(scalar)
            }
        }
        out.append(quote)
        return String(out)
    }
}

/// The operators allowed in markers.
public enum MarkerOperator: String, Sendable, CaseIterable {
    case equal = "==", notEqual = "!=", lessThan = "<", lessThanOrEqual = "<=",
         greaterThan = ">", greaterThanOrEqual = ">=", compatible = "~=", arbitrary = "===",
         `in` = "in", notIn = "not in"
}

/// The values markers are evaluated against (`python_version`, `sys_platform`, `extra`, ...).
public struct MarkerEnvironment: Hashable, Sendable {
    /// Keys: os_name, sys_platform, platform_machine, platform_python_implementation,
    /// platform_release, platform_system, platform_version, python_version,
    /// python_full_version, implementation_name, implementation_version, extra.
    public var values: [String: String]

    public init(values: [String: String] = [:]) {
        self.values = values
    }

    public subscript(key: String) -> String? {
        get { values[key] }
        set { values[key] = newValue }
    }

    /// A copy with `extra` set (as when pip evaluates the dependencies of `pkg[extra]`).
    public func with(extra: String) -> MarkerEnvironment {
        var copy = self
        copy.values["extra"] = extra
        return copy
    }

    /// CPython on x86_64 Linux: `python` "3.11" gives python_version "3.11" and
    /// python_full_version "3.11.0"; "3.11.4" keeps the micro version.
    public static func linux(python: String) -> MarkerEnvironment {
        let parts = python.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let short = parts.prefix(2).joined(separator: ".")
        var full = parts
        while full.count < 3 { full.append("0") }
        let fullVersion = parts.count >= 3 ? python : full.joined(separator: ".")
        return MarkerEnvironment(values: [
            "implementation_name": "cpython",
            "implementation_version": fullVersion,
            "os_name": "posix",
            "platform_machine": "x86_64",
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": fullVersion,
            "python_version": short,
            "sys_platform": "linux",
            "extra": "",
        ])
    }
}

// MARK: - Evaluation

enum MarkerEvaluator {
    static let versionKeys: Set<String> = ["implementation_version", "platform_release", "python_full_version", "python_version"]
    static let setKeys: Set<String> = ["extras", "dependency_groups"]

    static func environmentValue(_ key: String, _ environment: MarkerEnvironment) -> String {
        var value = environment.values[key] ?? ""
        if key == "extra" && !value.isEmpty { value = normalizePackageName(value) }
        if key == "python_full_version" && value.hasSuffix("+") { value += "local" }
        return value
    }

    static func compare(_ lhs: MarkerOperand, _ op: MarkerOperator, _ rhs: MarkerOperand, _ environment: MarkerEnvironment) -> Bool {
        let key: String
        var left: String
        var right: String
        switch lhs {
        case .variable(let name):
            key = name
            left = environmentValue(name, environment)
            right = rhs.text
        case .value(let value):
            key = rhs.text
            left = value
            right = environmentValue(key, environment)
        }
        if setKeys.contains(key) {
            left = normalizePackageName(left)
            // Split by code point, as Python does (see `SpecifierSet.init(parsing:)`).
            let members = Set(right.unicodeScalars.split(separator: ",").map { normalizePackageName(pythonStrip(String(String.UnicodeScalarView($0)))) })
            switch op {
            case .in: return members.contains(left)
            case .notIn: return !members.contains(left)
            case .notEqual: return true
            default: return false
            }
        }
        if versionKeys.contains(key), let spec = try? Specifier(parsing: op.rawValue + right) {
            if spec.op == .arbitrary {
                return left.lowercased() == spec.version.lowercased()
            }
            guard let version = Version(left) else { return false }
            return spec.matches(version)
        }
        switch op {
        case .in: return containsSubstring(right, left)
        case .notIn: return !containsSubstring(right, left)
        case .lessThan, .greaterThan: return false
        case .lessThanOrEqual, .greaterThanOrEqual, .equal: return left.unicodeScalars.elementsEqual(right.unicodeScalars)
        case .notEqual: return !left.unicodeScalars.elementsEqual(right.unicodeScalars)
        case .compatible, .arbitrary: return false
        }
    }

    /// Python's `needle in haystack` for strings (code-point based).
    static func containsSubstring(_ haystack: String, _ needle: String) -> Bool {
        let h = Array(haystack.unicodeScalars)
        let n = Array(needle.unicodeScalars)
        if n.isEmpty { return true }
        if n.count > h.count { return false }
        var i = 0
        while i + n.count <= h.count {
            if h[i] == n[0] {
                var j = 1
                while j < n.count && h[i + j] == n[j] { j += 1 }
                if j == n.count { return true }
            }
            i += 1
        }
        return false
    }
}

// MARK: - Formatting (packaging's _format_marker)

enum MarkerFormatter {
    enum Element {
        case item(String)
        case list([Element])
        case boolean(String)
    }

    static func flatten(_ marker: Marker) -> [Element] {
        var out: [Element] = []
        append(marker, to: &out)
        return out
    }

    /// Appends the elements of `marker`: chains inline, joined by their operator; groups as lists.
    static func append(_ marker: Marker, to out: inout [Element]) {
        switch marker {
        case .compare(let lhs, let op, let rhs):
            out.append(.item("\(lhs) \(op.rawValue) \(rhs)"))
        case .and(let terms), .or(let terms):
            let word: String
            if case .and = marker { word = "and" } else { word = "or" }
            for (index, term) in terms.enumerated() {
                if index > 0 { out.append(.boolean(word)) }
                append(term, to: &out)
            }
        case .group(let inner):
            out.append(.list(flatten(inner)))
        }
    }

    /// packaging drops the parentheses of a doubly parenthesised group (`x and ((a or b))`
    /// prints as `x and a or b`, which changes its meaning); we keep them.
    static func formatList(_ elements: [Element], first: Bool) -> String {
        if elements.count == 1 {
            switch elements[0] {
            case .item(let text): return text
            case .list(let inner): return formatList(inner, first: first)
            case .boolean(let text): return text
            }
        }
        let inner = elements.map { element -> String in
            switch element {
            case .item(let text), .boolean(let text): return text
            case .list(let list): return formatList(list, first: false)
            }
        }.joined(separator: " ")
        return first ? inner : "(" + inner + ")"
    }
}
