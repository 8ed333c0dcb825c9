import Foundation
import Testing
@testable import PythonPackaging

@Suite struct VersionTests {
    @Test(arguments: [
        ("1.0.0-alpha.1", "1.0.0a1"),
        ("v1.0", "1.0"),
        ("V1.0", "1.0"),
        ("1.0-1", "1.0.post1"),
        ("1!2.0.post3.dev4+Ubuntu-1", "1!2.0.post3.dev4+ubuntu.1"),
        ("1.0c1", "1.0rc1"),
        ("1.0a", "1.0a0"),
        ("1.0.dev", "1.0.dev0"),
        ("1.0-r", "1.0.post0"),
        ("1.0.preview2", "1.0rc2"),
        ("1.0pre2", "1.0rc2"),
        ("  1.0RC1 \n", "1.0rc1"),
        ("1.0_post_2", "1.0.post2"),
        ("1.0+AbC_01", "1.0+abc.1"),
        ("1.0.0-beta-2", "1.0.0b2"),
        ("2.0.REV3", "2.0.post3"),
        ("1.0alpha-1.DEV", "1.0a1.dev0"),
        ("1.0-dev1", "1.0.dev1"),
        ("0!1.0", "1.0"),
        ("01.002.0003", "1.2.3"),
        ("2024.10.1", "2024.10.1"),
    ])
    func normalisation(input: String, expected: String) throws {
        let version = try Version(parsing: input)
        #expect(version.description == expected)
        // The normalised form parses back to an equal version with the same text.
        #expect(Version(expected) == version)
        #expect(Version(expected)?.description == expected)
    }

    @Test(arguments: ["", " ", "1.", ".1", "1..0", "1.0-", "1.0+", "1.0+a..b", "1.0+a-", "a1", "1.0foo", "1.0a1b2",
                      "1.0 1", "vv1.0", "1!", "!1.0", "1.0.*", "1.0+é", "1.0prevıew", "99999999999999999999999"])
    func invalid(input: String) {
        #expect(Version(input) == nil)
        #expect(throws: PackagingError.self) { try Version(parsing: input) }
    }

    @Test func invalidVersionErrorNamesTheInput() {
        do {
            _ = try Version(parsing: "1.0foo")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("1.0foo"))
        }
    }

    @Test func orderingChain() throws {
        let chain = ["1.0.dev0", "1.0a1.dev0", "1.0a1", "1.0a2.dev1", "1.0a2", "1.0b1", "1.0rc1", "1.0",
                     "1.0+abc", "1.0+abc.1", "1.0+1", "1.0+1.0", "1.0.post1.dev0", "1.0.post1", "1.0.post2",
                     "1.0.1", "1.1.dev0", "1.1", "2", "1!0.1"]
        let versions = try chain.map { try Version(parsing: $0) }
        for (a, b) in zip(versions, versions.dropFirst()) {
            #expect(a < b, "\(a) < \(b)")
            #expect(!(b < a))
            #expect(Version.compare(a, b) == -1)
        }
        #expect(versions.shuffled().sorted() == versions)
    }

    @Test func equalityIgnoresTrailingZerosAndHashMatches() throws {
        let a = try Version(parsing: "1.0")
        let b = try Version(parsing: "1.0.0")
        let c = try Version(parsing: "1")
        #expect(a == b && b == c)
        #expect(a.hashValue == b.hashValue && b.hashValue == c.hashValue)
        #expect(Set([a, b, c]).count == 1)
        #expect(a.description == "1.0" && b.description == "1.0.0")
        #expect(try Version(parsing: "1.0+abc") != a)
        #expect(try Version(parsing: "1.0a0") == Version(parsing: "1.0a"))
        #expect(try Version(parsing: "1.0.post0") != a)
    }

    @Test func properties() throws {
        let v = try Version(parsing: "1!2.3.4rc5.post6.dev7+local.8")
        #expect(v.epoch == 1)
        #expect(v.release == [2, 3, 4])
        #expect(v.pre == Version.PreRelease(kind: .rc, number: 5))
        #expect(v.post == 6)
        #expect(v.dev == 7)
        #expect(v.local == [.string("local"), .number(8)])
        #expect(v.isPrerelease && v.isPostRelease && v.isDevRelease)
        #expect(v.publicVersion.description == "1!2.3.4rc5.post6.dev7")
        #expect(v.baseVersion.description == "1!2.3.4")
        #expect((v.major, v.minor, v.micro) == (2, 3, 4))
        let short = try Version(parsing: "5")
        #expect((short.major, short.minor, short.micro) == (5, 0, 0))
        #expect(!short.isPrerelease && !short.isPostRelease && !short.isDevRelease)
        #expect(try Version(parsing: "1.0.dev1").isPrerelease)
        #expect(try !Version(parsing: "1.0.post1").isPrerelease)
    }

    @Test func codableRoundTrip() throws {
        let versions = try ["1.0", "1!2.0rc1+x.1"].map { try Version(parsing: $0) }
        let data = try JSONEncoder().encode(versions)
        #expect(String(decoding: data, as: UTF8.self) == #"["1.0","1!2.0rc1+x.1"]"#)
        #expect(try JSONDecoder().decode([Version].self, from: data) == versions)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Version].self, from: Data(#"["x"]"#.utf8)) }
    }

    @Test func parsingEightHundredPinsIsFast() throws {
        let pins = (0..<800).map { "package-\($0)==\($0 % 7).\($0 % 13).\($0 % 5)" }
        let clock = ContinuousClock()
        var parsed: [Requirement] = []
        let elapsed = try clock.measure {
            parsed = try pins.map { try Requirement(parsing: $0) }
            let target = try Version(parsing: "3.5.2")
            var matches = 0
            for requirement in parsed where requirement.specifier.contains(target) { matches += 1 }
            #expect(matches >= 0)
        }
        #expect(parsed.count == 800)
        // Generous bound: debug builds are much slower than release builds.
        print("800 pins parsed and matched in \(elapsed)")
        #expect(elapsed < .seconds(2), "took \(elapsed)")
    }
}
