import AirlockTestSupport
import AirlockToolchain
import Testing

/// The data and Python files compiled into the binary must match their sources in the repository.
@Suite struct EmbeddedFilesTests {
    @Test func generatedSwiftMatchesItsSources() async throws {
        let output = try await ProcessRunner.run("/usr/bin/env", ["python3", "scripts/embed-data.py", "--check"],
                                                 workingDirectory: TestSupport.repositoryRoot.path)
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
    }
}
