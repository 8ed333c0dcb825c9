import Testing
@testable import PythonPackaging

/// Hostile and careless input (issue 9): every case ends in a clear error naming the file and line,
/// never in a crash of the process running the tests.
@Suite struct HardeningTests {
    private func parse(_ files: [String: String]) throws(RequirementsFileError) -> RequirementsFile {
        try RequirementsFileParser { path in
            guard let text = files[path] else { throw HardeningMissingFile(path: path) }
            return text
        }.parse(path: "requirements.txt")
    }

    private func error(_ files: [String: String]) -> RequirementsFileError? {
        do {
            _ = try parse(files)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Bounded parsers

    @Test func markerNested40000ParenthesesDeepIsRefused() {
        let marker = String(repeating: "(", count: 40_000) + "python_version > '3'" + String(repeating: ")", count: 40_000)
        #expect(throws: PackagingError.self) { try Marker(parsing: marker) }
        do {
            _ = try Requirement(parsing: "foo; " + marker)
            Issue.record("a 40,000-deep marker parsed")
        } catch {
            #expect(error.message.contains("nest more than \(Marker.maximumNesting) deep"), "\(error)")
            #expect(error.message.count < 300)
        }
        // As a requirements line it is also longer than a line may be; either bound names the line.
        let failure = error(["requirements.txt": "a==1\nfoo; \(marker)\n"])
        #expect(failure?.file == "requirements.txt")
        #expect(failure?.line == 2)
        #expect((failure?.description.count ?? 0) < 400, "\(failure.map(\.description) ?? "")")
    }

    @Test func nestingUpToTheLimitStillParses() throws {
        let depth = Marker.maximumNesting
        let marker = String(repeating: "(", count: depth) + "python_version > '3'" + String(repeating: ")", count: depth)
        #expect(try Marker(parsing: marker).evaluate(.linux(python: "3.11")))
        #expect(throws: PackagingError.self) { try Marker(parsing: "(" + marker + ")") }
        // Deep but inside a line that fits: the depth error names the line.
        let failure = error(["requirements.txt": "foo; (" + marker + ")\n"])
        #expect(failure?.line == 1)
        #expect(failure?.message.contains("nest more than") == true, "\(failure.map(\.description) ?? "")")
    }

    @Test func hundredThousandTermAndChainParsesEvaluatesAndIsFreed() throws {
        let chain = Array(repeating: "python_version > '3'", count: 100_000).joined(separator: " and ")
        do {
            let marker = try Marker(parsing: chain)
            guard case .and(let terms) = marker else {
                Issue.record("an and chain is not one flat .and")
                return
            }
            #expect(terms.count == 100_000)
            #expect(marker.evaluate(.linux(python: "3.11")))
            #expect(try Marker(parsing: marker.description) == marker)
        }  // the marker is destroyed here: one level deep, no recursion
        let mixed = Array(repeating: "os_name == 'nt' and python_version > '3'", count: 50_000).joined(separator: " or ")
        do {
            let requirement = try Requirement(parsing: "foo; " + mixed)
            #expect(!requirement.applies(in: .linux(python: "3.11")))
        }
    }

    @Test func hugeLineNamesFileAndLine() {
        let failure = error(["requirements.txt": "a==1\n\nfoo==1.0" + String(repeating: "0", count: 200_000) + "\n"])
        #expect(failure?.file == "requirements.txt")
        #expect(failure?.line == 3)
        #expect(failure?.message.contains("longer than") == true, "\(failure.map(\.description) ?? "")")
        #expect((failure?.description.count ?? 0) < 300)
    }

    @Test func hugeLineJoinedFromContinuationsNamesItsFirstLine() {
        let piece = String(repeating: "x", count: 10_000) + " \\\n"
        let failure = error(["requirements.txt": "a==1\n" + String(repeating: piece, count: 10) + "end\n"])
        #expect(failure?.line == 2)
        #expect(failure?.message.contains("longer than") == true)
    }

    @Test func oversizedFileIsRefused() {
        let line = "foo==1.0  # " + String(repeating: "c", count: 1_000) + "\n"
        let big = String(repeating: line, count: RequirementsFileParser.maximumFileBytes / line.utf8.count + 1)
        let failure = error(["requirements.txt": "-r big.txt\n", "big.txt": big])
        #expect(failure?.file == "big.txt")
        #expect(failure?.line == nil)
        #expect(failure?.message.contains("MiB") == true, "\(failure.map(\.description) ?? "")")
    }

    @Test func deepIncludeChainIsRefusedAtTheIncludingLine() {
        var files: [String: String] = ["requirements.txt": "-r f1.txt\n"]
        for i in 1...50 { files["f\(i).txt"] = "pkg\(i)==1\n-r f\(i + 1).txt\n" }
        files["f51.txt"] = "last==1\n"
        let failure = error(files)
        #expect(failure?.line == 2)
        #expect(failure?.message.contains("nest more than \(RequirementsFileParser.maximumIncludeDepth) deep") == true,
                "\(failure.map(\.description) ?? "")")
    }

    @Test func exponentialIncludeFanOutIsRefused() {
        // Each file includes the next twice: 2^20 reads without a bound.
        var files: [String: String] = ["requirements.txt": "-r f1.txt\n"]
        for i in 1...20 { files["f\(i).txt"] = "-r f\(i + 1).txt\n-c f\(i + 1).txt\n" }
        files["f21.txt"] = "x==1\n"
        let failure = error(files)
        #expect(failure?.message.contains("More than \(RequirementsFileParser.maximumFilesRead) requirements files") == true,
                "\(failure.map(\.description) ?? "")")
    }

    // MARK: Text as people write it

    @Test func crlfLoneCRAndBOMReadLikeLF() throws {
        let lf = try parse(["requirements.txt": "a==1\nb==2 \\\n  ; python_version > '3'\nc==3\n"])
        for text in ["\u{FEFF}a==1\r\nb==2 \\\r\n  ; python_version > '3'\r\nc==3\r\n",
                     "a==1\rb==2 \\\r  ; python_version > '3'\rc==3\r",
                     "\u{FEFF}a==1\nb==2 \\\r\n  ; python_version > '3'\rc==3"] {
            let other = try parse(["requirements.txt": text])
            #expect(other.entries.map(\.text) == lf.entries.map(\.text), "\(text.debugDescription)")
            #expect(other.entries.map(\.line) == lf.entries.map(\.line), "\(text.debugDescription)")
        }
    }

    @Test func controlCharactersInInputAreEscapedInMessages() {
        let failure = error(["requirements.txt": "ok==1\nfoo\u{1B}[2J\u{0}bar==1\n"])
        let text = failure?.description ?? ""
        #expect(failure?.line == 2)
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(text.debugDescription)")
        #expect(text.contains("\\x1B[2J\\0"), "\(text.debugDescription)")
        let include = error(["requirements.txt": "-r \"evil\u{1B}]0;title\u{7}.txt\"\n"])?.description ?? ""
        #expect(!include.unicodeScalars.contains { $0.value < 0x20 }, "\(include.debugDescription)")
        #expect(include.contains("\\x1B]0;title\\x07"), "\(include.debugDescription)")
    }

    @Test func displayTextEscapes() {
        #expect(DisplayText.escaped("plain text, ünïcode ✓") == "plain text, ünïcode ✓")
        #expect(DisplayText.escaped("a\u{1B}[31mb\tc\nd\r\u{0}\u{7F}\u{85}") == "a\\x1B[31mb\\tc\\nd\\r\\0\\x7F\\x85")
        #expect(DisplayText.escaped("x\u{202E}y\u{2028}z") == "x\\u{202E}y\\u{2028}z")
        #expect(DisplayText.escaped(String(repeating: "a", count: 500)) == String(repeating: "a", count: DisplayText.defaultLimit) + "…")
        #expect(DisplayText.escaped(String(repeating: "a", count: 500), limit: nil).count == 500)
    }

    // MARK: As strict as uv

    @Test(arguments: [
        ("foo==111111111111111111111111111111", "is too large"),
        ("foo>=1.0a99999999999999999999", "is too large"),
        ("foo===", "Expected a version after `===`"),
        ("foo===,", "Expected a version after `===`"),
        ("foo===a,==99999999999999999999", "is too large"),  // found by the Requirement fuzz target
        ("foo=== ; python_version > '3'", "Expected a version after `===`"),
        ("pkg[x_]", "must end with a letter or digit"),
        ("pkg[a, b_]", "must end with a letter or digit"),
        ("foo_", "must end with a letter or digit"),
        ("foo_>=1", "must end with a letter or digit"),
    ])
    func refusedLikeUV(line: String, fragment: String) {
        do {
            let requirement = try Requirement(parsing: line)
            Issue.record("\(line) parsed as \(requirement)")
        } catch {
            #expect(error.message.contains(fragment), "\(line): \(error)")
        }
        let failure = error(["requirements.txt": "ok==1\n\(line)\n"])
        #expect(failure?.file == "requirements.txt" && failure?.line == 2, "\(failure.map(\.description) ?? "accepted")")
    }

    @Test(arguments: ["foo==9223372036854775807", "foo===1.0", "foo_bar[x_y]>=1", "a-b.c_d==1.*", "x[a1]"])
    func stillAccepted(line: String) throws {
        _ = try Requirement(parsing: line)
    }

    // MARK: Round trip

    @Test(arguments: [
        "foo; os_name == 'a\"b'",
        "foo; os_name == \"a\\\\nb\"",
        "foo; os_name == 'tab\\there'",
        "foo; os_name == 'back\\\\slash'",
        "foo[B_a,a.b]>=1,<2,!=1.5.*; (python_version > '3' or os_name == 'nt') and extra == 'X_Y'",
        "foo @ https://x.org/a;b.whl ; python_version > '3'",
        "foo (===a.b)",
        "foo==1.0-1",
        "Foo.Bar_baz~=1.4",
    ])
    func normalisedTextParsesBackToTheSameValue(line: String) throws {
        let requirement = try Requirement(parsing: line)
        let again = try Requirement(parsing: requirement.description)
        #expect(again == requirement, "\(line) → \(requirement.description)")
        #expect(again.description == requirement.description)
        if let marker = requirement.marker {
            #expect(try Marker(parsing: marker.description) == marker)
            for python in ["3.9", "3.12"] {
                let environment = MarkerEnvironment.linux(python: python).with(extra: "x-y")
                #expect(again.marker?.evaluate(environment) == marker.evaluate(environment))
            }
        }
    }
}

private struct HardeningMissingFile: Error, CustomStringConvertible {
    var path: String
    var description: String { "no such file: \(path)" }
}
