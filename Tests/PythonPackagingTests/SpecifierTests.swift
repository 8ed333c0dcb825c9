import Testing
@testable import PythonPackaging

private func v(_ text: String) -> Version {
    guard let version = Version(text) else {
        Issue.record("test version \(text) does not parse")
        return Version(release: [0])
    }
    return version
}

@Suite struct SpecifierTests {
    @Test(arguments: [
        ("==1.*", "==1.*"), ("== 1.0", "==1.0"), (">=  v1.0 ", ">=v1.0"), ("=== anything", "===anything"),
        ("==1.0+local", "==1.0+local"), ("<=1.0.post1.dev2", "<=1.0.post1.dev2"), ("~=1.4", "~=1.4"),
        ("!=2.0.*", "!=2.0.*"), ("<3", "<3"), (">0.9b1", ">0.9b1"), ("===", "==="),
    ])
    func validSpecifiers(text: String, description: String) throws {
        let spec = try Specifier(parsing: text)
        #expect(spec.description == description)
    }

    @Test(arguments: ["~=1", ">=1.*", ">=1.0+local", "!=1.0+l.*", "~=1.0.*", "==1.0a1.*", "", "1.0", "=1.0", "==", ">= 1.0 2", "=>1.0", "~=1.0+x"])
    func invalidSpecifiers(text: String) {
        #expect(throws: PackagingError.self) { try Specifier(parsing: text) }
    }

    /// A comma after a Prepend character (U+06DD) still separates specifiers, as Python's `split(",")` does
    /// (the libFuzzer finding: the sorted set's text parsed back as one `===` specifier).
    @Test func commasSplitByCodePointAfterAPrependCharacter() throws {
        let set = try SpecifierSet(parsing: "===Kl,===>=>dev\u{06DD}")
        #expect(set.specifiers.count == 2)
        let again = try SpecifierSet(parsing: set.description)
        #expect(again == set && again.description == set.description && again.specifiers.count == 2, "\(set.description.debugDescription)")
    }

    @Test func operatorIsParsed() throws {
        for op in Specifier.Operator.allCases where op != .arbitrary {
            let text = op == .compatible ? "\(op.rawValue)1.2" : "\(op.rawValue)1.2"
            let spec = try Specifier(parsing: text)
            #expect(spec.op == op)
            #expect(spec.version == "1.2")
        }
    }

    /// (specifier, version, expected contains with prereleases: nil)
    @Test(arguments: [
        ("~=2.2", "2.3", true), ("~=2.2", "3.0", false), ("~=2.2", "2.2", true), ("~=2.2", "2.1", false),
        ("~=1.4.5", "1.4.9", true), ("~=1.4.5", "1.5.0", false), ("~=1.4.5a4", "1.4.5", true), ("~=2.2.post3", "2.3", true),
        ("~=2.2.post3", "2.2.post2", false),
        ("==1.1.*", "1.1.0a1", true), ("==1.1.*", "1.1", true), ("==1.1.*", "1.10", false), ("==1.1.*", "1.1.5+local", true),
        ("==1.*", "1", true), ("==1.0.*", "1", true), ("==1!1.*", "1.0", false),
        ("!=1.1.*", "1.1.5", false), ("!=1.1.*", "1.2", true),
        ("===1.0", "1.0", true), ("===1.0", "1.0.0", false), ("===1.0+Local", "1.0+local", true),
        ("==1.0", "1.0+local", true), ("==1.0", "1.0.0", true), ("==1.0+local", "1.0", false), ("==1.0+local", "1.0+local", true),
        ("!=1.0", "1.0+local", false), ("!=1.0+local", "1.0", true),
        ("<=1.0", "1.0+x", true), (">=1.0", "1.0+x", true),
        (">1.0", "1.0.post1", false), (">1.0", "1.0+x", false), (">1.0", "1.0.1", true), (">1.0.post1", "1.0.post2", true),
        (">1.0a1", "1.0a1.post1", false), (">1.0.dev1", "1.0.dev2", true),
        ("<1.0", "1.0a1", false), ("<1.0", "0.9", true), ("<1.0rc1", "1.0a1", true), ("<1.0", "1.0+local", false),
        ("<1.0.post1", "1.0.post1.dev0", false), ("<1.0", "0.9.dev1", true),
        (">=1.0", "2.0a1", true), ("<2", "1.9", true),
    ])
    func contains(spec: String, version: String, expected: Bool) throws {
        let specifier = try Specifier(parsing: spec)
        #expect(specifier.contains(v(version)) == expected, "\(spec) contains \(version)")
        #expect(specifier.contains(v(version), prereleases: true) == expected)
        #expect(specifier.contains(v(version), prereleases: false) == (expected && !v(version).isPrerelease))
    }

    @Test func canonicalEquality() throws {
        #expect(try Specifier(parsing: "==1.0") == Specifier(parsing: "==1.0.0"))
        #expect(try Specifier(parsing: "~=1.0") != Specifier(parsing: "~=1.0.0"))
        #expect(try Specifier(parsing: ">=1.0").hashValue == Specifier(parsing: ">= 1.0.0").hashValue)
        #expect(try Specifier(parsing: "==1.0") != Specifier(parsing: "!=1.0"))
    }

    @Test func mutatingTheVersionRecomputesMatching() throws {
        var spec = try Specifier(parsing: ">=2.0")
        #expect(!spec.contains(v("1.5")))
        spec.version = "1.0"
        #expect(spec.contains(v("1.5")))
        spec.op = .lessThan
        #expect(!spec.contains(v("1.5")))
    }

    @Test func invalidSpecifierErrorExplains() {
        do {
            _ = try Specifier(parsing: ">=1.*")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains(">=1.*"))
            #expect(error.message.contains("=="))
        }
    }
}

@Suite struct SpecifierSetTests {
    @Test func parsingAndDescription() throws {
        #expect(try SpecifierSet(parsing: "").isEmpty)
        #expect(try SpecifierSet(parsing: " , ").isEmpty)
        #expect(SpecifierSet().isEmpty)
        let set = try SpecifierSet(parsing: "<2,>=1.0,  !=1.5 , >=1.0.0")
        #expect(set.specifiers.map(\.description) == ["<2", ">=1.0", "!=1.5", ">=1.0.0"])
        #expect(set.description == "!=1.5,<2,>=1.0")
        #expect(try SpecifierSet(parsing: ">=1.0,,<2").specifiers.count == 2)
        #expect(try SpecifierSet(parsing: "<2,>=1") == SpecifierSet(parsing: ">=1.0, <2"))
        #expect(throws: PackagingError.self) { try SpecifierSet(parsing: ">=1.0,foo") }
    }

    @Test func containsWithPrereleases() throws {
        let set = try SpecifierSet(parsing: ">=1.0,<3")
        #expect(set.contains(v("2.0")))
        #expect(!set.contains(v("3.0")))
        // packaging 26: a single pre-release that matches is contained unless prereleases=false.
        #expect(set.contains(v("2.0a1")))
        #expect(set.contains(v("2.0a1"), prereleases: true))
        #expect(!set.contains(v("2.0a1"), prereleases: false))
        #expect(SpecifierSet().contains(v("1.0a1")))
        #expect(!SpecifierSet().contains(v("1.0a1"), prereleases: false))
        #expect(try !SpecifierSet(parsing: "<3").contains(v("3.0a1")))
        #expect(try SpecifierSet(parsing: ">=1.0a1").contains(v("2.0a1")))
    }

    @Test func filterFollowsPEP440() throws {
        let versions = ["1.0", "2.0a1", "1.5"].map(v)
        #expect(try SpecifierSet(parsing: ">=1.0").filter(versions).map(\.description) == ["1.0", "1.5"])
        #expect(try SpecifierSet(parsing: ">=1.0").filter([v("2.0a1")]).map(\.description) == ["2.0a1"])
        #expect(try SpecifierSet(parsing: ">=1.0a1").filter(versions).map(\.description) == ["1.0", "2.0a1", "1.5"])
        #expect(try SpecifierSet(parsing: ">=1.0").filter(versions, prereleases: true).count == 3)
    }
}
