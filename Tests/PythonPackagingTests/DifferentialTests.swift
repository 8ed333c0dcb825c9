import Foundation
import Testing
@testable import PythonPackaging

/// Compares PythonPackaging with Python's `packaging` library on a deterministic random corpus.
/// Fails (never skips) when python3 or packaging is missing, and on any disagreement.
@Suite struct DifferentialTests {
    @Test func agreesWithPythonPackaging() throws {
        var generator = CorpusGenerator(seed: 0x5EED_2026_A1F1)
        let corpus = generator.makeCorpus()
        let oracle = try #require(try runOracle(corpus: corpus))
        var comparison = Comparison()
        comparison.compare(corpus: corpus, oracle: oracle)
        #expect(comparison.cases >= 10_000, "only \(comparison.cases) differential cases were compared")
        let report = """
            \(comparison.mismatchCount) disagreement(s) with Python packaging \(oracle.packagingVersion) \
            out of \(comparison.cases) cases; first ones:
            \(comparison.mismatches.prefix(20).joined(separator: "\n"))
            """
        #expect(comparison.mismatchCount == 0, "\(report)")
        print("Differential test: \(comparison.cases) cases compared with packaging \(oracle.packagingVersion) (Python \(oracle.pythonVersion)); meaningful answers: \(comparison.meaningful.sorted { $0.key < $1.key })")
    }
}

// MARK: - Corpus

struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ upperBound: Int) -> Int { Int(next() % UInt64(upperBound)) }
    mutating func chance(_ percent: Int) -> Bool { int(100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[int(items.count)] }
}

struct Corpus: Codable {
    var versions: [String] = []
    var pairs: [[String]] = []
    var specs: [String] = []
    var specChecks: [[String]] = []
    var sets: [String] = []
    var setChecks: [[String]] = []
    var names: [String] = []
    var requirements: [String] = []
    /// [marker, python, extra]
    var markers: [[String]] = []
}

struct CorpusGenerator {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(state: seed) }

    mutating func separator() -> String { rng.pick(["", "", "", ".", "-", "_"]) }

    mutating func number(_ empty: Bool = true) -> String {
        rng.pick(empty ? ["", "0", "1", "1", "2", "3", "10", "01"] : ["0", "1", "1", "2", "3", "10", "01"])
    }

    /// A version string; mostly valid, in every spelling PEP 440 normalises.
    mutating func version(invalidPercent: Int = 8) -> String {
        var s = ""
        if rng.chance(4) { s += rng.pick(["v", "V"]) }
        if rng.chance(8) { s += rng.pick(["0", "1", "2", "01"]) + "!" }
        let count = 1 + rng.int(4)
        s += (0..<count).map { _ in rng.pick(["0", "0", "1", "1", "1", "2", "2", "3", "10", "00", "01"]) }.joined(separator: ".")
        if rng.chance(30) {
            s += separator() + rng.pick(["a", "a", "b", "b", "rc", "rc", "c", "alpha", "beta", "pre", "preview", "A", "RC", "Beta", "Preview"])
            s += separator() + number()
        }
        if rng.chance(22) {
            if rng.chance(25) {
                s += "-" + number(false)
            } else {
                s += separator() + rng.pick(["post", "post", "rev", "r", "POST", "Rev"]) + separator() + number()
            }
        }
        if rng.chance(20) {
            s += separator() + rng.pick(["dev", "dev", "DEV", "Dev"]) + separator() + number()
        }
        if rng.chance(12) {
            let segments = (0..<(1 + rng.int(3))).map { _ in rng.pick(["ubuntu", "1", "abc", "0", "Ubuntu", "01", "x2", "2", "10", "deb11"]) }
            var local = segments[0]
            for segment in segments.dropFirst() { local += rng.pick([".", "-", "_"]) + segment }
            s += "+" + local
        }
        if rng.chance(3) { s = rng.pick([" ", "\t", "\n", "  "]) + s }
        if rng.chance(3) { s += rng.pick([" ", "\t", "\n", "  "]) }
        if rng.chance(invalidPercent) { s = mutate(s) }
        return s
    }

    mutating func mutate(_ text: String) -> String {
        var chars = Array(text)
        switch rng.int(6) {
        case 0:
            return ""
        case 1:
            let junk = rng.pick(["*", "+", "..", "-", "!", "x", " ", "a.", "__", "+-", "1!", "é", "ı", "dev-", "_post", ".*"])
            chars.insert(contentsOf: Array(junk), at: rng.int(chars.count + 1))
        case 2:
            if !chars.isEmpty { chars.remove(at: rng.int(chars.count)) }
        case 3:
            chars.append(contentsOf: Array(rng.pick([".", "-", "+", "!", "_", "a", "post", "-1", ".dev", "c", ".*"])))
        case 4:
            chars.insert(contentsOf: Array(rng.pick(["v", "V", "vv", "1!", "!", "+", "."])), at: 0)
        default:
            if chars.count > 2 { chars.removeSubrange(0..<rng.int(chars.count / 2 + 1)) }
        }
        return String(chars)
    }

    /// Another spelling of `text` (when it is valid): normalised, zero-padded, upper-cased or re-separated.
    mutating func respell(_ text: String) -> String {
        guard let version = Version(text) else { return text }
        var copy = version
        switch rng.int(5) {
        case 0:
            return version.description
        case 1:
            copy.release += Array(repeating: 0, count: 1 + rng.int(2))
            return copy.description
        case 2:
            return version.description.uppercased()
        case 3:
            return "v" + version.description.replacingOccurrences(of: ".post", with: "-post").replacingOccurrences(of: ".dev", with: "_dev")
        default:
            if copy.release.count > 1 && copy.release.last == 0 { copy.release.removeLast() }
            return copy.description
        }
    }

    mutating func specifier() -> String {
        let op = rng.pick(["~=", "==", "!=", "<=", ">=", "<", ">", "===", "==", ">=", "<", "~="])
        var version: String
        if op == "===" {
            version = rng.chance(70) ? self.version(invalidPercent: 0) : rng.pick(["foobar", "1.0.FOO", "", "1.0 2", "1.0;x", "1.0)"])
            version = version.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            version = self.version(invalidPercent: 6).trimmingCharacters(in: .whitespacesAndNewlines)
            if rng.chance(20) {
                // Wildcards: valid only as ==X.* / !=X.* on a plain release.
                let release = (0..<(1 + rng.int(3))).map { _ in rng.pick(["0", "1", "2", "3", "10"]) }.joined(separator: ".")
                version = (rng.chance(85) ? release : version) + ".*"
            }
            if op == "~=" && rng.chance(25) { version = rng.pick(["1", "2", "0", "1a1", "2.post1"]) }
        }
        let space1 = rng.chance(15) ? rng.pick([" ", "  ", "\t"]) : ""
        let space2 = rng.chance(10) ? rng.pick([" ", "\t"]) : ""
        let space3 = rng.chance(10) ? rng.pick([" ", "\n"]) : ""
        return space1 + op + space2 + version + space3
    }

    mutating func name() -> String {
        let length = 1 + rng.int(12)
        let alphabet = Array("abcXYZ019-_..--__ Aé")
        var s = ""
        for _ in 0..<length { s.append(rng.pick(alphabet)) }
        return s
    }

    mutating func markerAtom() -> String {
        let quote = rng.pick(["\"", "'"])
        func q(_ s: String) -> String { quote + s + quote }
        let ws = rng.chance(20) ? "" : " "
        switch rng.int(9) {
        case 0, 1:
            let v = rng.pick(["3.8", "3.9", "3.10", "3.11", "3.12", "3", "3.11.*", "3.10.0", "2.7", "3.11a1", "3.1x"])
            let op = rng.pick(["<", "<=", "==", "!=", ">=", ">", "~=", "===", "in", "not in"])
            return "python_version" + ws + op + ws + q(v)
        case 2:
            let v = rng.pick(["3.11.0", "3.11.4", "3.12.1", "3.8", "3.11.*", "3.11.0rc1"])
            let op = rng.pick(["<", "<=", "==", "!=", ">=", ">", "~="])
            return rng.chance(80) ? "python_full_version" + ws + op + ws + q(v) : q(v) + ws + op + ws + "python_full_version"
        case 3:
            let v = rng.pick(["linux", "win32", "darwin", "lin", "Linux"])
            let op = rng.pick(["==", "!=", "in", "not in", "<", ">=", "<="])
            return rng.chance(70) ? rng.pick(["sys_platform", "sys.platform"]) + ws + op + ws + q(v) : q(v) + ws + op + ws + "sys_platform"
        case 4:
            let v = rng.pick(["test", "dev", "foo-bar", "docs"])
            return rng.chance(70) ? "extra" + ws + rng.pick(["==", "!="]) + ws + q(v) : q(v) + ws + "==" + ws + "extra"
        case 5:
            return rng.pick(["os_name", "os.name"]) + ws + rng.pick(["==", "!="]) + ws + q(rng.pick(["posix", "nt"]))
        case 6:
            return rng.pick(["platform_machine", "platform.machine"]) + ws + rng.pick(["==", "!=", "in"]) + ws + q(rng.pick(["x86_64", "aarch64", "x86", "AMD64"]))
        case 7:
            return rng.pick(["platform_python_implementation", "python_implementation", "implementation_name"]) + ws
                + rng.pick(["==", "!="]) + ws + q(rng.pick(["CPython", "cpython", "PyPy"]))
        default:
            return rng.pick(["python_version >", "python_version <", "foo == \"x\"", "python_version ~ \"3\"", "(python_version > \"3\"",
                             "python_version > \"3\")", "python_version >= 3.8", "extra == \"a\" and", "not python_version", "python_version not \"3\"",
                             "implementation_version >= \"3.11\"", "platform_release < \"6\""])
        }
    }

    mutating func marker(depth: Int = 0) -> String {
        var parts = [markerAtom()]
        for _ in 0..<rng.int(depth == 0 ? 4 : 2) {
            parts.append(rng.pick([" and ", " or ", " and ", "and", " or"]))
            if depth < 2 && rng.chance(20) {
                parts.append("(" + marker(depth: depth + 1) + ")")
            } else {
                parts.append(markerAtom())
            }
        }
        return parts.joined()
    }

    mutating func requirement() -> String {
        var s = rng.chance(5) ? " " : ""
        s += rng.pick(["requests", "Django", "apache-airflow", "foo_bar", "Foo.Bar", "a", "x1", "pkg-", "-pkg", "1abc", "py.test"])
        if rng.chance(20) {
            let extras = (0..<rng.int(3)).map { _ in rng.pick(["security", "Socks", "a_b", "c.d", "dev"]) }
            s += rng.pick(["", " "]) + "[" + rng.pick(["", " "]) + extras.joined(separator: rng.pick([",", ", ", " ,"])) + "]"
        }
        if rng.chance(15) {
            s += rng.pick([" @ ", "@", " @"]) + rng.pick(["https://example.com/pkg-1.0.tar.gz", "git+https://github.com/x/y.git@v1#egg=y", "file:///tmp/x.whl", ""])
            if rng.chance(40) { s += rng.pick([" ; ", " ;", ";", "  ; "]) + marker() }
            return s
        }
        if rng.chance(80) {
            let count = 1 + rng.int(3)
            var specs = (0..<count).map { _ in specifier().trimmingCharacters(in: .whitespacesAndNewlines) }
            if rng.chance(10) { specs.append("") }
            let body = specs.joined(separator: rng.pick([",", ", ", " , "]))
            s += rng.chance(8) ? "(" + body + ")" : rng.pick(["", " "]) + body
        }
        if rng.chance(35) { s += rng.pick([" ; ", ";", "; ", " ;"]) + marker() }
        if rng.chance(5) { s = mutate(s) }
        return s
    }

    mutating func makeCorpus() -> Corpus {
        var corpus = Corpus()
        for _ in 0..<3_000 { corpus.versions.append(version()) }
        // A pool of mostly valid, closely related versions for comparisons and matching.
        var pool: [String] = []
        for _ in 0..<600 { pool.append(version(invalidPercent: 2)) }
        for _ in 0..<4_000 { corpus.pairs.append([rng.pick(pool), rng.pick(pool)]) }
        // Respellings of the same version (trailing zeros, case, separators) and local-label
        // neighbours, so equality and local ordering are well covered.
        for _ in 0..<1_500 {
            let base = rng.pick(pool)
            corpus.pairs.append([base, respell(base)])
        }
        let locals = ["", "+1", "+abc", "+abc.1", "+1.abc", "+ubuntu.2", "+ubuntu-10", "+0", "+00", "+a", "+a.a", "+1.0", "+1_0_0", "+B"]
        for _ in 0..<1_000 {
            let release = rng.pick(["1.0", "1", "1.0.0", "2.0rc1", "1.0.post1", "1.0.dev2"])
            corpus.pairs.append([release + rng.pick(locals), rng.pick(["1.0", "1", "2.0rc1", "1.0.post1", "1.0.dev2"]) + rng.pick(locals)])
        }
        for _ in 0..<900 { corpus.specs.append(specifier()) }
        for spec in corpus.specs {
            for _ in 0..<5 { corpus.specChecks.append([spec, rng.pick(pool)]) }
            // Boundary neighbours of the specifier's own version.
            let core = spec.trimmingCharacters(in: .whitespacesAndNewlines).drop { "~=!<>".contains($0) }
                .trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ".*", with: "")
            for suffix in ["", ".0", ".1", "a1", ".dev0", ".post1", "+local", ".post1.dev0", "rc1", ".0.1"] {
                if rng.chance(45) { corpus.specChecks.append([spec, core + suffix]) }
            }
        }
        corpus.sets.append(contentsOf: ["", " ", ",", ">=1.0,", " >=1.0 , <2 ", ">=1.0,,<2"])
        for _ in 0..<500 {
            let count = 1 + rng.int(3)
            corpus.sets.append((0..<count).map { _ in rng.pick(corpus.specs) }.joined(separator: rng.pick([",", ", ", " ,"])))
        }
        for set in corpus.sets {
            for _ in 0..<6 { corpus.setChecks.append([set, rng.pick(pool)]) }
        }
        for _ in 0..<1_000 { corpus.names.append(name()) }
        for _ in 0..<1_200 { corpus.requirements.append(requirement()) }
        for _ in 0..<1_200 {
            corpus.markers.append([marker(), rng.pick(["3.8", "3.9", "3.10", "3.11", "3.12", "3.11.4"]), rng.pick(["", "test", "Foo_Bar", "dev", "TEST"])])
        }
        return corpus
    }
}

// MARK: - Oracle

struct OracleOutput {
    var packagingVersion = "?"
    var pythonVersion = "?"
    var records: [String: [Int: [String: Any]]] = [:]

    func record(_ kind: String, _ index: Int) -> [String: Any]? { records[kind]?[index] }
}

func oracleScriptURL() -> URL {
    if let url = Bundle.module.url(forResource: "packaging_oracle", withExtension: "py", subdirectory: "Fixtures") {
        return url
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/packaging_oracle.py")
}

func runOracle(corpus: Corpus) throws -> OracleOutput? {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("airlock-pp-differential-\(ProcessInfo.processInfo.processIdentifier)-\(UInt64.random(in: 0...UInt64.max))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let corpusURL = directory.appendingPathComponent("corpus.json")
    let outputURL = directory.appendingPathComponent("oracle.jsonl")
    let errorURL = directory.appendingPathComponent("oracle.stderr")
    try JSONEncoder().encode(corpus).write(to: corpusURL)
    _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)

    let python = ProcessInfo.processInfo.environment["AIRLOCK_TEST_PYTHON"] ?? "python3"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python, oracleScriptURL().path, corpusURL.path]
    let outputHandle = try FileHandle(forWritingTo: outputURL)
    let errorHandle = try FileHandle(forWritingTo: errorURL)
    process.standardOutput = outputHandle
    process.standardError = errorHandle
    do {
        try process.run()
    } catch {
        Issue.record("Could not start the Python oracle `\(python)` (set AIRLOCK_TEST_PYTHON to a python3 with `packaging` installed): \(error)")
        return nil
    }
    process.waitUntilExit()
    try outputHandle.close()
    try errorHandle.close()
    let stdout = try String(contentsOf: outputURL, encoding: .utf8)
    let stderr = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
    guard process.terminationStatus == 0 else {
        Issue.record("""
            The Python oracle failed (exit \(process.terminationStatus)). It needs `\(python)` with the `packaging` \
            library (pip install packaging), or set AIRLOCK_TEST_PYTHON.
            stdout: \(stdout.prefix(2_000))
            stderr: \(stderr.prefix(2_000))
            """)
        return nil
    }
    var output = OracleOutput()
    for line in stdout.split(separator: "\n") {
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let kind = object["t"] as? String
        else {
            Issue.record("Unreadable oracle line: \(line.prefix(200))")
            return nil
        }
        if kind == "info" {
            output.packagingVersion = object["packaging"] as? String ?? "?"
            output.pythonVersion = object["python"] as? String ?? "?"
            continue
        }
        guard let index = object["i"] as? Int else { continue }
        output.records[kind, default: [:]][index] = object
    }
    return output
}

// MARK: - Comparison

struct Comparison {
    var cases = 0
    var mismatchCount = 0
    var mismatches: [String] = []
    /// How many cases of each kind had a meaningful (valid / non-nil) oracle answer.
    var meaningful: [String: Int] = [:]

    mutating func check(_ agree: Bool, _ describe: @autoclosure () -> String) {
        cases += 1
        if !agree {
            mismatchCount += 1
            if mismatches.count < 20 { mismatches.append(describe()) }
        }
    }

    static func show(_ value: Any?) -> String {
        guard let value, !(value is NSNull) else { return "nil" }
        if let string = value as? String { return string.debugDescription }
        return "\(value)"
    }

    static func bools(_ value: Any?) -> [Bool]? {
        guard let array = value as? [Any] else { return nil }
        return array.compactMap { ($0 as? NSNumber)?.boolValue }
    }

    /// The refusals where PythonPackaging is deliberately stricter than packaging (as uv is).
    static let stricterThanPackaging = ["must end with a letter or digit", "is too large (at most", "Expected a version after `===`"]

    mutating func missing(_ kind: String, _ index: Int) {
        check(false, "oracle gave no answer for \(kind)#\(index)")
    }

    mutating func compare(corpus: Corpus, oracle: OracleOutput) {
        // Versions: validity and normalised form.
        for (i, text) in corpus.versions.enumerated() {
            guard let record = oracle.record("v", i) else { missing("v", i); continue }
            let ok = record["ok"] as? Bool ?? false
            let swift = Version(text)
            check(ok == (swift != nil), "Version(\(text.debugDescription)) valid: python \(ok), swift \(swift != nil)")
            if ok { meaningful["valid versions", default: 0] += 1 }
            if ok, let swift {
                let expected = record["s"] as? String
                check(swift.description == expected, "str(Version(\(text.debugDescription))): python \(Self.show(expected)), swift \(swift.description.debugDescription)")
            }
        }
        // Ordering (and hash consistency with ==).
        for (i, pair) in corpus.pairs.enumerated() {
            guard let record = oracle.record("c", i) else { missing("c", i); continue }
            let a = Version(pair[0])
            let b = Version(pair[1])
            let expected = record["r"] as? Int
            if expected != nil { meaningful["comparisons (\(expected!))", default: 0] += 1 }
            if let a, let b {
                let actual = Version.compare(a, b)
                check(actual == expected, "compare(\(pair[0].debugDescription), \(pair[1].debugDescription)): python \(Self.show(expected)), swift \(actual)")
                if actual == 0 {
                    check(a.hashValue == b.hashValue && a == b, "hash/== inconsistent for \(pair[0].debugDescription) and \(pair[1].debugDescription)")
                }
                check((a < b) == (actual < 0) && (a > b) == (actual > 0), "operators inconsistent for \(pair)")
            } else {
                check(expected == nil, "compare(\(pair)): python \(Self.show(expected)), swift found an invalid version")
            }
        }
        // Specifier validity and str().
        for (i, text) in corpus.specs.enumerated() {
            guard let record = oracle.record("s", i) else { missing("s", i); continue }
            let ok = record["ok"] as? Bool ?? false
            if ok { meaningful["valid specifiers", default: 0] += 1 }
            let swift = try? Specifier(parsing: text)
            check(ok == (swift != nil), "Specifier(\(text.debugDescription)) valid: python \(ok), swift \(swift != nil)")
            if ok, let swift {
                let expected = record["str"] as? String
                check(swift.description == expected, "str(Specifier(\(text.debugDescription))): python \(Self.show(expected)), swift \(swift.description.debugDescription)")
            }
        }
        for (i, check) in corpus.specChecks.enumerated() {
            guard let record = oracle.record("sc", i) else { missing("sc", i); continue }
            let spec = try? Specifier(parsing: check[0])
            let version = Version(check[1])
            let expected = Self.bools(record["r"])
            guard let spec, let version else {
                self.check(expected == nil, "Specifier(\(check[0].debugDescription)).contains(\(check[1].debugDescription)): python \(Self.show(record["r"])), swift could not parse")
                continue
            }
            let actual = [spec.contains(version), spec.contains(version, prereleases: true), spec.contains(version, prereleases: false)]
            meaningful["specifier checks \(expected ?? [])", default: 0] += 1
            self.check(actual == expected, "Specifier(\(check[0].debugDescription)).contains(\(check[1].debugDescription)) [None, True, False]: python \(Self.show(expected)), swift \(actual)")
        }
        // SpecifierSet validity, str() and contains().
        for (i, text) in corpus.sets.enumerated() {
            guard let record = oracle.record("S", i) else { missing("S", i); continue }
            let ok = record["ok"] as? Bool ?? false
            let swift = try? SpecifierSet(parsing: text)
            check(ok == (swift != nil), "SpecifierSet(\(text.debugDescription)) valid: python \(ok), swift \(swift != nil)")
            if ok, let swift {
                let expected = record["str"] as? String
                check(swift.description == expected, "str(SpecifierSet(\(text.debugDescription))): python \(Self.show(expected)), swift \(swift.description.debugDescription)")
            }
        }
        for (i, check) in corpus.setChecks.enumerated() {
            guard let record = oracle.record("Sc", i) else { missing("Sc", i); continue }
            let set = try? SpecifierSet(parsing: check[0])
            let version = Version(check[1])
            let expected = Self.bools(record["r"])
            guard let set, let version else {
                self.check(expected == nil, "SpecifierSet(\(check[0].debugDescription)).contains(\(check[1].debugDescription)): python \(Self.show(record["r"])), swift could not parse")
                continue
            }
            let actual = [set.contains(version), set.contains(version, prereleases: true), set.contains(version, prereleases: false)]
            meaningful["set checks \(expected ?? [])", default: 0] += 1
            self.check(actual == expected, "SpecifierSet(\(check[0].debugDescription)).contains(\(check[1].debugDescription)) [None, True, False]: python \(Self.show(expected)), swift \(actual)")
        }
        // PEP 503 names.
        for (i, name) in corpus.names.enumerated() {
            guard let record = oracle.record("n", i) else { missing("n", i); continue }
            let expected = record["s"] as? String
            check(normalizePackageName(name) == expected, "canonicalize_name(\(name.debugDescription)): python \(Self.show(expected)), swift \(normalizePackageName(name).debugDescription)")
        }
        // PEP 508 requirements.
        for (i, text) in corpus.requirements.enumerated() {
            guard let record = oracle.record("r", i) else { missing("r", i); continue }
            let ok = record["ok"] as? Bool ?? false
            let swift: Requirement?
            var refusal = ""
            do { swift = try Requirement(parsing: text) } catch { swift = nil; refusal = error.message }
            // Where packaging is laxer than PEP 508 and uv, Airlock refuses like uv (see `Requirement`).
            let refusedLikeUV = ok && swift == nil && Self.stricterThanPackaging.contains { refusal.contains($0) }
            if refusedLikeUV { meaningful["requirements refused like uv", default: 0] += 1 }
            check(ok == (swift != nil) || refusedLikeUV, "Requirement(\(text.debugDescription)) valid: python \(ok), swift \(swift != nil) \(refusal)")
            guard ok, let swift else { continue }
            meaningful["valid requirements", default: 0] += 1
            let name = record["name"] as? String
            let extras = record["extras"] as? [String]
            let spec = record["spec"] as? String
            let url = record["url"] as? String
            let marker = record["marker"] as? String
            check(swift.name.raw == name && swift.extras == extras && swift.specifier.description == spec
                    && swift.url == url && swift.marker?.description == marker,
                  "Requirement(\(text.debugDescription)): python \(Self.show(name)) \(Self.show(extras)) \(Self.show(spec)) \(Self.show(url)) \(Self.show(marker)); swift \(swift.name.raw.debugDescription) \(swift.extras) \(swift.specifier.description.debugDescription) \(Self.show(swift.url)) \(Self.show(swift.marker?.description))")
        }
        // Marker parsing and evaluation.
        for (i, item) in corpus.markers.enumerated() {
            guard let record = oracle.record("m", i) else { missing("m", i); continue }
            let ok = record["ok"] as? Bool ?? false
            let swift = try? Marker(parsing: item[0])
            check(ok == (swift != nil), "Marker(\(item[0].debugDescription)) valid: python \(ok), swift \(swift != nil)")
            guard ok, let swift, let expected = record["r"] as? Bool else { continue }
            meaningful["marker evaluations \(expected)", default: 0] += 1
            let environment = MarkerEnvironment.linux(python: item[1]).with(extra: item[2])
            let actual = swift.evaluate(environment)
            check(actual == expected, "Marker(\(item[0].debugDescription)).evaluate(python \(item[1]), extra \(item[2].debugDescription)): python \(expected), swift \(actual)")
        }
    }
}
