/// Reads pip `requirements.txt` files (comments, `\` continuations, `-r` / `-c` includes,
/// global options, editables, direct references, `--hash` options) into entries that keep
/// their file and line, so every Airlock finding can point at `file:line`.
///
/// Differences from pip, on purpose: requirement lines inside a `-c` file *and in the files it
/// includes* are constraints; include cycles are an error; `${VAR}` is left as written; an option
/// that pip would silently ignore (a global option or `-r` on a requirement line, a stray argument
/// after options) is an error.
///
/// Reading is bounded, so no file can exhaust memory, the stack or time: each file at most
/// `maximumFileBytes`, each logical line at most `maximumLineLength` characters, includes nested at
/// most `maximumIncludeDepth` deep and at most `maximumFilesRead` file reads in all (a file included
/// twice counts twice). Past a bound, parsing stops with an error naming the file and line.
public struct RequirementsFileParser: Sendable {
    private let readFile: @Sendable (String) throws -> String

    /// The largest requirements file read (a `--hash`-pinned file of a big project is about 1 MB).
    public static let maximumFileBytes = 8 << 20
    /// The longest logical line (continuations joined), in characters; a line with dozens of
    /// `--hash` options is a few kilobytes.
    public static let maximumLineLength = 64 << 10
    /// How deep `-r` / `-c` includes may nest.
    public static let maximumIncludeDepth = 32
    /// How many files one parse may read, counting repeated includes of the same file.
    public static let maximumFilesRead = 1_000

    /// What one parse has read so far, checked against the bounds.
    private struct Budget {
        var filesRead = 0
    }

    /// `readFile` returns the text of a path (as the parser built it), or throws if it cannot be read.
    public init(readFile: @escaping @Sendable (String) throws -> String) {
        self.readFile = readFile
    }

    /// Parses `path` and every file it includes.
    public func parse(path: String) throws(RequirementsFileError) -> RequirementsFile {
        var result = RequirementsFile(entries: [], options: [], files: [])
        var budget = Budget(filesRead: 1)
        let content: String
        do {
            content = try readFile(path)
        } catch {
            throw RequirementsFileError(file: path, line: nil, message: "Could not read requirements file: \(DisplayText.escaped(String(describing: error), limit: nil))")
        }
        result.files.append(path)
        try parseContent(content, path: path, constraint: false,
                         stack: [(RequirementsPath.normalize(path), path)], budget: &budget, into: &result)
        return result
    }

    /// Parses text that was not read from a file (e.g. stdin); includes resolve against `path`.
    public func parse(text: String, path: String) throws(RequirementsFileError) -> RequirementsFile {
        var result = RequirementsFile(entries: [], options: [], files: [path])
        var budget = Budget(filesRead: 1)
        try parseContent(text, path: path, constraint: false,
                         stack: [(RequirementsPath.normalize(path), path)], budget: &budget, into: &result)
        return result
    }

    private func parseContent(_ content: String, path: String, constraint: Bool,
                              stack: [(key: String, display: String)], budget: inout Budget,
                              into result: inout RequirementsFile) throws(RequirementsFileError) {
        let bytes = content.utf8.count
        guard bytes <= Self.maximumFileBytes else {
            throw RequirementsFileError(file: path, line: nil, message: "The file is \(bytes) bytes; Airlock reads requirements files of at most \(Self.maximumFileBytes >> 20) MiB")
        }
        let lines: [RequirementsLines.LogicalLine]
        do {
            lines = try RequirementsLines.logicalLines(content, maximumLength: Self.maximumLineLength)
        } catch {
            throw RequirementsFileError(file: path, line: error.line, message: "The line is longer than \(Self.maximumLineLength) characters; Airlock reads requirement lines of at most \(Self.maximumLineLength >> 10) K characters")
        }
        for line in lines {
            try parseLine(line.text, number: line.number, path: path, constraint: constraint, stack: stack, budget: &budget, into: &result)
        }
    }

    private func parseLine(_ line: String, number: Int, path: String, constraint: Bool,
                           stack: [(key: String, display: String)], budget: inout Budget,
                           into result: inout RequirementsFile) throws(RequirementsFileError) {
        func fail(_ message: String) -> RequirementsFileError {
            RequirementsFileError(file: path, line: number, message: message)
        }
        /// The line as messages quote it: control characters escaped, long lines cut.
        let quoted = DisplayText.escaped(line)
        let (args, optionText) = RequirementsLines.splitArgumentsAndOptions(line)
        let tokens: [String]
        do {
            tokens = try RequirementsLines.shellSplit(optionText)
        } catch {
            throw fail("\(error.message) in `\(quoted)`")
        }
        let options = try RequirementsLines.parseOptions(tokens, line: quoted, fail: fail)
        let kind: RequirementsEntry.Kind = constraint ? .constraint : .requirement

        if !args.isEmpty {
            var perLine: [String] = []
            for option in options {
                guard case .perLine = option.spec.kind else {
                    throw fail("Option `\(option.written)` is not allowed after a requirement (pip would ignore it); put it on its own line: `\(quoted)`")
                }
                perLine.append(option.spec.canonical + "=" + (option.value ?? ""))
            }
            var entry = try RequirementsLines.entry(forArguments: args, fail: fail)
            entry.kind = kind
            entry.perLineOptions = perLine
            entry.file = path
            entry.line = number
            result.entries.append(entry)
            return
        }

        for option in options {
            let value = option.value ?? ""
            switch option.spec.kind {
            case .include(let nestedConstraint):
                let target = RequirementsPath.resolve(value, relativeTo: path)
                let key = RequirementsPath.normalize(target)
                if let index = stack.firstIndex(where: { $0.key == key }) {
                    let cycle = (stack[index...].map(\.display) + [target]).map { DisplayText.escaped($0) }.joined(separator: " -> ")
                    throw fail("Include cycle: \(cycle)")
                }
                guard stack.count < Self.maximumIncludeDepth else {
                    throw fail("Includes nest more than \(Self.maximumIncludeDepth) deep at `\(option.written) \(DisplayText.escaped(value))`")
                }
                guard budget.filesRead < Self.maximumFilesRead else {
                    throw fail("More than \(Self.maximumFilesRead) requirements files read (counting repeated includes) at `\(option.written) \(DisplayText.escaped(value))`")
                }
                budget.filesRead += 1
                let content: String
                do {
                    content = try readFile(target)
                } catch {
                    throw fail("Could not open requirements file `\(DisplayText.escaped(target))` (from `\(option.written) \(DisplayText.escaped(value))`): \(DisplayText.escaped(String(describing: error), limit: nil))")
                }
                if !result.files.contains(target) { result.files.append(target) }
                try parseContent(content, path: target, constraint: constraint || nestedConstraint,
                                 stack: stack + [(key, target)], budget: &budget, into: &result)
            case .editable:
                guard !value.isEmpty else { throw fail("`\(option.written)` needs a path or URL") }
                let requirement = try RequirementsLines.eggRequirement(value, marker: nil, fail: fail)
                result.entries.append(RequirementsEntry(
                    kind: kind, requirement: requirement, editable: true, directReference: value,
                    text: line, perLineOptions: [], file: path, line: number))
            case .global:
                result.options.append(RequirementsOption(name: option.spec.canonical, value: option.value, file: path, line: number))
            case .perLine:
                throw fail("Option `\(option.written)` must follow a requirement on the same line")
            }
        }
    }
}

/// The result of parsing a requirements file and its includes.
public struct RequirementsFile: Sendable, Hashable {
    public var entries: [RequirementsEntry]
    /// Global options, in order, e.g. `--index-url`, `--extra-index-url`, `--find-links`, `--no-index`,
    /// `--pre`, `--trusted-host`, `--prefer-binary`, `--only-binary`, `--no-binary`, `--require-hashes`,
    /// `--use-feature`. Short spellings are stored under their long name (`-i` → `--index-url`).
    public var options: [RequirementsOption]
    /// Every file read: the top file first, then includes in the order met (each once).
    public var files: [String]

    public init(entries: [RequirementsEntry], options: [RequirementsOption], files: [String]) {
        self.entries = entries
        self.options = options
        self.files = files
    }

    /// Entries of kind `.requirement`.
    public var requirements: [RequirementsEntry] { entries.filter { $0.kind == .requirement } }
    /// Entries of kind `.constraint`.
    public var constraints: [RequirementsEntry] { entries.filter { $0.kind == .constraint } }
}

/// One requirement line of a requirements file, with where it came from.
public struct RequirementsEntry: Sendable, Hashable {
    public enum Kind: String, Sendable { case requirement, constraint }
    /// Lines from `-c` / `--constraint` files (and files they include) are `.constraint`.
    public var kind: Kind
    /// nil for editables and bare paths / URLs whose project name is unknown. For a direct
    /// reference with `#egg=name` or a wheel file name, this is `name @ <reference>`.
    public var requirement: Requirement?
    /// `-e` / `--editable`.
    public var editable: Bool
    /// The path or URL of an editable or a bare archive / directory line.
    public var directReference: String?
    /// The logical line as written: continuations joined, comment and per-line options removed, trimmed.
    public var text: String
    /// e.g. `["--hash=sha256:..."]` (always in `--name=value` form).
    public var perLineOptions: [String]
    /// The file this line is in (the path as built by the parser).
    public var file: String
    /// 1-based physical line where the logical line starts, in its own file.
    public var line: Int
    /// The environment marker of the line (also in `requirement?.marker` when there is a requirement).
    public var marker: Marker?

    public init(kind: Kind = .requirement, requirement: Requirement?, editable: Bool = false, directReference: String? = nil,
                text: String, perLineOptions: [String] = [], file: String, line: Int, marker: Marker? = nil) {
        self.kind = kind
        self.requirement = requirement
        self.editable = editable
        self.directReference = directReference
        self.text = text
        self.perLineOptions = perLineOptions
        self.file = file
        self.line = line
        self.marker = marker ?? requirement?.marker
    }
}

/// A global option line such as `--index-url https://...`.
public struct RequirementsOption: Sendable, Hashable {
    /// The long option name, e.g. `--index-url`.
    public var name: String
    /// nil for flags such as `--no-index`.
    public var value: String?
    public var file: String
    public var line: Int

    public init(name: String, value: String?, file: String, line: Int) {
        self.name = name
        self.value = value
        self.file = file
        self.line = line
    }
}

/// A requirements file problem, naming the file and (when known) the 1-based line.
public struct RequirementsFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `requirements.txt:7: Invalid requirement ...` or, without a line, `requirements.txt: ...`.
    public var description: String {
        let shown = DisplayText.escaped(file, limit: nil)
        if let line { return "\(shown):\(line): \(message)" }
        return "\(shown): \(message)"
    }
}

// MARK: - Line handling (pip's req_file.py)

enum RequirementsLines {
    struct LogicalLine {
        var number: Int
        var text: String
    }

    /// Python's `str.splitlines()`.
    static func physicalLines(_ content: String) -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        var iterator = content.unicodeScalars.makeIterator()
        var pendingCR = false
        var first = true
        while let c = iterator.next() {
            if first {
                first = false
                if c == "\u{FEFF}" { continue }
            }
            if pendingCR {
                pendingCR = false
                if c == "\n" { continue }
            }
            switch c.value {
            case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
                lines.append(String(current))
                current = String.UnicodeScalarView()
            case 0x0D:
                lines.append(String(current))
                current = String.UnicodeScalarView()
                pendingCR = true
            default:
                current.append(c)
            }
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }

    /// `COMMENT_RE.match(line)`: the line is a comment (optional whitespace, then `#`).
    static func isCommentLine(_ line: String) -> Bool {
        for c in line.unicodeScalars {
            if c == "#" { return true }
            if !c.isPythonWhitespace { return false }
        }
        return false
    }

    /// `COMMENT_RE.sub("", line).strip()`: `#` starts a comment at line start or after whitespace.
    static func removeComment(_ line: String) -> String {
        let s = Array(line.unicodeScalars)
        var cut = s.count
        for i in 0..<s.count where s[i] == "#" && (i == 0 || s[i - 1].isPythonWhitespace) {
            cut = i
            break
        }
        let kept = Array(s[0..<cut])
        return makeString(kept[pythonStrippedRange(kept)])
    }

    /// A line longer than the parser reads, at its 1-based (starting) line number.
    struct LineTooLong: Error {
        var line: Int
    }

    /// pip's `join_lines` followed by `ignore_comments`; refuses a physical or joined line longer
    /// than `maximumLength` characters.
    static func logicalLines(_ content: String, maximumLength: Int = .max) throws(LineTooLong) -> [LogicalLine] {
        var joined: [LogicalLine] = []
        var pending: [String] = []
        var pendingLength = 0
        var primary = 0
        for (index, line) in physicalLines(content).enumerated() {
            let number = index + 1
            let length = line.unicodeScalars.count
            pendingLength = pending.isEmpty ? length : pendingLength + length
            if pendingLength > maximumLength { throw LineTooLong(line: pending.isEmpty ? number : primary) }
            let comment = isCommentLine(line)
            if !line.hasSuffix("\\") || comment {
                let text = comment ? " " + line : line
                if !pending.isEmpty {
                    pending.append(text)
                    joined.append(LogicalLine(number: primary, text: pending.joined()))
                    pending = []
                } else {
                    joined.append(LogicalLine(number: number, text: text))
                }
            } else {
                if pending.isEmpty { primary = number }
                pending.append(stripBackslashes(line))
            }
        }
        if !pending.isEmpty { joined.append(LogicalLine(number: primary, text: pending.joined())) }
        return joined.compactMap { line in
            let text = removeComment(line.text)
            return text.isEmpty ? nil : LogicalLine(number: line.number, text: text)
        }
    }

    /// Python's `line.strip("\\")`.
    static func stripBackslashes(_ line: String) -> String {
        var s = Substring(line)
        while s.first == "\\" { s = s.dropFirst() }
        while s.last == "\\" { s = s.dropLast() }
        return String(s)
    }

    /// pip's `break_args_options`: everything before the first token starting with `-` is the
    /// requirement, the rest are options. Splits on spaces and tabs.
    static func splitArgumentsAndOptions(_ line: String) -> (String, String) {
        let s = Array(line.unicodeScalars)
        var i = 0
        while i < s.count {
            while i < s.count && (s[i] == " " || s[i] == "\t") { i += 1 }
            if i < s.count && s[i] == "-" {
                let args = Array(s[0..<i])
                return (makeString(args[pythonStrippedRange(args)]), makeString(s[i...]))
            }
            while i < s.count && s[i] != " " && s[i] != "\t" { i += 1 }
        }
        return (pythonStrip(line), "")
    }

    /// POSIX `shlex.split` (quotes and backslashes), enough for option values.
    static func shellSplit(_ text: String) throws(PackagingError) -> [String] {
        var tokens: [String] = []
        var current = ""
        var inToken = false
        var quote: Character?
        var escape = false
        for c in text {
            if escape {
                current.append(c)
                escape = false
                continue
            }
            if let q = quote {
                if c == q {
                    quote = nil
                } else if c == "\\" && q == "\"" {
                    escape = true
                } else {
                    current.append(c)
                }
                continue
            }
            if c == " " || c == "\t" {
                if inToken {
                    tokens.append(current)
                    current = ""
                    inToken = false
                }
            } else if c == "'" || c == "\"" {
                quote = c
                inToken = true
            } else if c == "\\" {
                escape = true
                inToken = true
            } else {
                current.append(c)
                inToken = true
            }
        }
        if quote != nil { throw PackagingError(message: "No closing quotation") }
        if escape { current.append("\\") }
        if inToken { tokens.append(current) }
        return tokens
    }

    // MARK: Options

    enum OptionKind {
        case include(constraint: Bool)
        case editable
        case global(takesValue: Bool)
        case perLine
    }

    struct OptionSpec {
        var canonical: String
        var kind: OptionKind
        var takesValue: Bool {
            switch kind {
            case .include, .editable, .perLine: return true
            case .global(let takesValue): return takesValue
            }
        }
    }

    struct ParsedOption {
        var spec: OptionSpec
        var written: String
        var value: String?
    }

    static let optionSpecs: [String: OptionSpec] = {
        var table: [String: OptionSpec] = [:]
        func add(_ names: [String], _ kind: OptionKind) {
            let canonical = names.first { $0.hasPrefix("--") } ?? names[0]
            for name in names { table[name] = OptionSpec(canonical: canonical, kind: kind) }
        }
        add(["-r", "--requirement"], .include(constraint: false))
        add(["-c", "--constraint"], .include(constraint: true))
        add(["-e", "--editable"], .editable)
        add(["-i", "--index-url"], .global(takesValue: true))
        add(["--extra-index-url"], .global(takesValue: true))
        add(["-f", "--find-links"], .global(takesValue: true))
        add(["--no-index"], .global(takesValue: false))
        add(["--pre"], .global(takesValue: false))
        add(["--prefer-binary"], .global(takesValue: false))
        add(["--require-hashes"], .global(takesValue: false))
        add(["--trusted-host"], .global(takesValue: true))
        add(["--only-binary"], .global(takesValue: true))
        add(["--no-binary"], .global(takesValue: true))
        add(["--use-feature"], .global(takesValue: true))
        add(["--hash"], .perLine)
        add(["--global-option"], .perLine)
        add(["-C", "--config-settings"], .perLine)
        return table
    }()

    static func parseOptions(_ tokens: [String], line: String,
                             fail: (String) -> RequirementsFileError) throws(RequirementsFileError) -> [ParsedOption] {
        var out: [ParsedOption] = []
        var i = 0
        while i < tokens.count {
            let token = tokens[i]
            i += 1
            guard token.hasPrefix("-"), token.count > 1 else {
                throw fail("Unexpected argument `\(DisplayText.escaped(token))` after options in `\(line)` (pip would ignore it)")
            }
            var name: String
            var inline: String?
            if token.hasPrefix("--") {
                if let eq = token.firstIndex(of: "=") {
                    name = String(token[..<eq])
                    inline = String(token[token.index(after: eq)...])
                } else {
                    name = token
                }
            } else {
                name = String(token.prefix(2))
                let rest = String(token.dropFirst(2))
                if !rest.isEmpty { inline = rest }
            }
            guard let spec = optionSpecs[name] else {
                throw fail("Unknown option `\(DisplayText.escaped(name))` in `\(line)`")
            }
            var value: String?
            if spec.takesValue {
                if let inline {
                    value = inline
                } else if i < tokens.count {
                    value = tokens[i]
                    i += 1
                } else {
                    throw fail("Option `\(DisplayText.escaped(name))` requires a value")
                }
            } else if inline != nil {
                throw fail("Option `\(DisplayText.escaped(name))` does not take a value")
            }
            out.append(ParsedOption(spec: spec, written: name, value: value))
        }
        return out
    }

    // MARK: Requirement lines

    static let archiveSuffixes = [".whl", ".tar.gz", ".zip", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar"]
    static let referencePrefixes = [".", "/", "~", "file:", "http://", "https://", "ftp://", "git+", "hg+", "svn+", "bzr+"]

    static func isURLLike(_ lower: String) -> Bool {
        lower.contains("://") || lower.hasPrefix("file:")
    }

    /// Paths and URLs to archives, wheels, directories or VCS checkouts.
    static func isDirectReference(_ args: String) -> Bool {
        let lower = args.lowercased()
        if referencePrefixes.contains(where: { lower.hasPrefix($0) }) { return true }
        var first = Substring(lower)
        if let end = first.firstIndex(where: { $0 == " " || $0 == "\t" || $0 == ";" }) { first = first[..<end] }
        if let hash = first.firstIndex(of: "#") { first = first[..<hash] }
        if let query = first.firstIndex(of: "?") { first = first[..<query] }
        return archiveSuffixes.contains { first.hasSuffix($0) }
    }

    static func entry(forArguments args: String, fail: (String) -> RequirementsFileError) throws(RequirementsFileError) -> RequirementsEntry {
        if isDirectReference(args) {
            let separator = isURLLike(args.lowercased()) ? "; " : ";"
            var reference = args
            var marker: Marker?
            if let range = args.firstRange(of: separator) {
                reference = pythonStrip(String(args[..<range.lowerBound]))
                let markerText = pythonStrip(String(args[range.upperBound...]))
                if !markerText.isEmpty {
                    do {
                        marker = try Marker(parsing: markerText)
                    } catch {
                        throw fail("Invalid marker `\(DisplayText.escaped(markerText))` in `\(DisplayText.escaped(args))`: \(error.message)")
                    }
                }
            }
            let requirement = try eggRequirement(reference, marker: marker, fail: fail)
            return RequirementsEntry(requirement: requirement, directReference: reference, text: args, file: "", line: 0, marker: marker)
        }
        do {
            let requirement = try Requirement(parsing: args)
            return RequirementsEntry(requirement: requirement, text: args, file: "", line: 0)
        } catch {
            throw fail("Invalid requirement `\(DisplayText.escaped(args))`: \(error.message)")
        }
    }

    /// The requirement named by `#egg=name` or by a wheel file name, as `name @ reference`.
    static func eggRequirement(_ reference: String, marker: Marker?, fail: (String) -> RequirementsFileError) throws(RequirementsFileError) -> Requirement? {
        if let hash = reference.firstIndex(of: "#") {
            let fragment = reference[reference.index(after: hash)...]
            for part in fragment.split(separator: "&") where part.hasPrefix("egg=") {
                let egg = String(part.dropFirst(4))
                guard var requirement = try? Requirement(parsing: egg), requirement.specifier.isEmpty, requirement.url == nil,
                      requirement.marker == nil
                else {
                    throw fail("Invalid `#egg=` fragment `\(DisplayText.escaped(egg))` in `\(DisplayText.escaped(reference))`")
                }
                requirement.url = reference
                requirement.marker = marker
                return requirement
            }
        }
        var path = Substring(reference)
        if let cut = path.firstIndex(where: { $0 == "#" || $0 == "?" }) { path = path[..<cut] }
        let base = path.split(separator: "/").last.map(String.init) ?? ""
        if base.lowercased().hasSuffix(".whl") {
            let parts = base.dropLast(4).split(separator: "-", omittingEmptySubsequences: false)
            if parts.count == 5 || parts.count == 6, let first = parts.first, !first.isEmpty,
               (try? Requirement(parsing: String(first)))?.name.raw == String(first) {
                return Requirement(name: PackageName(String(first)), url: reference, marker: marker)
            }
        }
        return nil
    }
}

// MARK: - Paths

enum RequirementsPath {
    /// pip's `SCHEME_RE`: `^(http|https|file):`.
    static func hasScheme(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasPrefix("http:") || lower.hasPrefix("https:") || lower.hasPrefix("file:")
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Resolves an include against the including file's directory (pure string operations).
    static func resolve(_ target: String, relativeTo file: String) -> String {
        if hasScheme(target) { return target }
        if hasScheme(file) {
            if let slash = file.lastIndex(of: "/") { return String(file[...slash]) + target }
            return target
        }
        if target.hasPrefix("/") { return normalize(target) }
        let dir = directory(of: file)
        if dir.isEmpty { return normalize(target) }
        return normalize(dir == "/" ? "/" + target : dir + "/" + target)
    }

    /// Removes `.` and `a/..` components and duplicate slashes; URLs are kept as they are.
    static func normalize(_ path: String) -> String {
        if hasScheme(path) { return path }
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for component in path.split(separator: "/") {
            if component == "." { continue }
            if component == ".." {
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !absolute {
                    parts.append(component)
                }
                continue
            }
            parts.append(component)
        }
        let joined = parts.joined(separator: "/")
        if absolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }
}
