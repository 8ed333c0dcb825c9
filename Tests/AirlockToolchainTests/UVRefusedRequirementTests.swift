import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import PythonPackaging
import Testing

/// Lines Airlock's PEP 508 parser accepts but the real uv refuses end in exit 2 naming the project's
/// file and line (issue 9), not in exit 3 "check access to the package index".
@Suite struct UVRefusedRequirementTests {
    func refusal(_ lines: [String], constraints: [String] = [], origins: [String: String]) async throws -> AirlockError? {
        let uv = try await UVTool.locate(paths: TestSupport.sharedCache)
        let resolver = UVResolver(uv: uv, paths: AirlockPaths(cacheRoot: try TestSupport.scratchFolder()), offline: true)
        var input = ResolutionInput(airflowVersion: try #require(Version("2.10.5")), python: "3.11", requirementLines: lines,
                                    userConstraintLines: constraints, constraintsText: nil, excludeNewer: nil)
        input.lineOrigins = origins
        do {
            _ = try await resolver.resolve(input)
            return nil
        } catch {
            return error
        }
    }

    @Test func refusedRequirementLineIsAUsageErrorWithItsFileAndLine() async throws {
        for line in ["foo===abc", "foo; os_name === 'posix'"] {
            #expect((try? Requirement(parsing: line)) != nil, "Airlock's parser accepts \(line)")
            let error = try await refusal(["--index-url https://pypi.org/simple", "requests>=2", line],
                                          origins: ["requests>=2": "requirements.txt:1", line: "requirements.txt:3"])
            #expect(error?.kind == .usage, "\(line): \(String(describing: error))")
            #expect(error?.message.hasPrefix("requirements.txt:3: uv refuses the requirement `\(line)`") == true, "\(String(describing: error))")
        }
    }

    @Test func refusedConstraintLineIsAUsageError() async throws {
        let error = try await refusal(["requests>=2"], constraints: ["pkg\u{1B}[31m===x"], origins: [:])
        #expect(error?.kind == .usage, "\(String(describing: error))")
        #expect(error?.message.contains("pkg\\x1B[31m===x") == true, "\(String(describing: error))")
        #expect(error?.message.contains("\u{1B}") == false)
    }
}
