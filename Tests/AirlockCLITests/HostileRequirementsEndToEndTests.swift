import AirlockTestSupport
import Foundation
import Testing

/// Issue 9 through the real CLI: requirement lines that crashed Airlock or ended in exit 3 are exit 2
/// with the file and line, the message short and free of raw control characters.
@Suite struct HostileRequirementsEndToEndTests {
    func expectRefused(_ requirements: String, line: Int, contains fragment: String = "",
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (result, _) = try await BadInputTests().run(["Dockerfile": "FROM apache/airflow:2.10.5\n", "requirements.txt": requirements])
        #expect(result.status == 2, "exit \(result.status); stderr: \(result.stderr.prefix(500))", sourceLocation: sourceLocation)
        #expect(result.stderr.contains("requirements.txt:\(line):"), "stderr: \(result.stderr.prefix(500))", sourceLocation: sourceLocation)
        #expect(fragment.isEmpty || result.stderr.contains(fragment), "stderr: \(result.stderr.prefix(500))", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("Fatal error") && result.stderr.count < 2_000, "stderr: \(result.stderr.prefix(500))", sourceLocation: sourceLocation)
        #expect(!result.stderr.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "raw control characters in stderr", sourceLocation: sourceLocation)
    }

    @Test func markerNested40000Deep() async throws {
        let parens = String(repeating: "(", count: 40_000) + "python_version > '3'" + String(repeating: ")", count: 40_000)
        try await expectRefused("requests\nfoo; \(parens)\n", line: 2)
        try await expectRefused("requests\nfoo; " + String(repeating: "(", count: 150) + "python_version > '3'" + String(repeating: ")", count: 150) + "\n",
                                line: 2, contains: "nest more than")
    }

    @Test func hundredThousandTermAndChain() async throws {
        let chain = Array(repeating: "python_version > '3'", count: 100_000).joined(separator: " and ")
        try await expectRefused("foo; \(chain)\n", line: 1, contains: "longer than")
    }

    @Test func inputUVRejects() async throws {
        try await expectRefused("requests\nfoo==111111111111111111111111111111\n", line: 2, contains: "too large")
        try await expectRefused("requests\nfoo===\n", line: 2, contains: "===")
        try await expectRefused("requests\npkg[x_]\n", line: 2, contains: "must end with a letter or digit")
        // Accepted by Airlock's PEP 440 grammar, refused by uv: mapped back from uv's message.
        try await expectRefused("requests\n\nfoo===abc\n", line: 3, contains: "uv refuses the requirement `foo===abc`")
    }

    @Test func controlCharactersAreEscaped() async throws {
        try await expectRefused("requests\nfoo\u{1B}[2J\u{7}>=1\n", line: 2, contains: "\\x1B[2J\\x07")
    }
}
