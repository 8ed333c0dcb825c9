import AirlockCore
import Testing

@Suite struct RuntimeVersionTests {
    @Test(arguments: [
        ("9.9.0", "9.10.0"),
        ("9.10.0", "11.6.0"),
        ("13.5.0", "3.0-1"),
        ("3.0-1", "3.0-2"),
        ("3.0-9", "3.1-1"),
        ("9.0.0-rc1", "9.0.0"),
        ("3.1-1-rc1", "3.1-1"),
        ("3.1-1-rc1", "3.1-1-rc2"),
        ("3.1-12", "3.2-6"),
    ])
    func ordering(lower: String, higher: String) throws {
        let a = try #require(RuntimeVersion(lower)), b = try #require(RuntimeVersion(higher))
        #expect(a < b)
        #expect(!(b < a))
    }

    @Test(arguments: ["1.2", "x.y.z", "3.1-", "3.1-x", "1.2.3.4", "", "-1.0.0"])
    func rejectsInvalid(text: String) {
        #expect(RuntimeVersion(text) == nil)
    }

    @Test func schemeFacts() throws {
        let old = try #require(RuntimeVersion("12.0.0"))
        let new = try #require(RuntimeVersion("3.1-12"))
        #expect(old.airflowMajor == 2)
        #expect(new.airflowMajor == 3)
        #expect(new.series == "3.1")
        #expect(new.description == "3.1-12")
    }
}
