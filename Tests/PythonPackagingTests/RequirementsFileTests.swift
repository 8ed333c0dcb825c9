import Testing
@testable import PythonPackaging

private struct MissingFile: Error, CustomStringConvertible {
    var path: String
    var description: String { "no such file: \(path)" }
}

private func parser(_ files: [String: String]) -> RequirementsFileParser {
    RequirementsFileParser { path in
        guard let text = files[path] else { throw MissingFile(path: path) }
        return text
    }
}

private func parse(_ files: [String: String], _ path: String = "requirements.txt") throws(RequirementsFileError) -> RequirementsFile {
    try parser(files).parse(path: path)
}

private func expectError(_ files: [String: String], _ path: String = "requirements.txt",
                         file: String, line: Int?, contains fragment: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let result = try parse(files, path)
        Issue.record("expected an error, got \(result.entries.map(\.text))", sourceLocation: sourceLocation)
    } catch {
        #expect(error.file == file, sourceLocation: sourceLocation)
        #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(fragment), "\(error)", sourceLocation: sourceLocation)
        let prefix = line.map { "\(file):\($0): " } ?? "\(file): "
        #expect(error.description.hasPrefix(prefix), "\(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct RequirementsFileTests {
    @Test func commentsBlankLinesAndInlineComments() throws {
        let result = try parse(["requirements.txt": """
            # a comment
               # indented comment

            pandas==2.1.4  # pinned for airflow
            requests>=2.31 # another
            foo @ https://example.com/foo-1.0.tar.gz#egg=foo
            """])
        #expect(result.entries.map(\.text) == ["pandas==2.1.4", "requests>=2.31",
                                               "foo @ https://example.com/foo-1.0.tar.gz#egg=foo"])
        #expect(result.entries.map(\.line) == [4, 5, 6])
        #expect(result.entries[2].requirement?.url == "https://example.com/foo-1.0.tar.gz#egg=foo")
        #expect(result.files == ["requirements.txt"])
        let allPlain = result.entries.allSatisfy { $0.kind == .requirement && $0.file == "requirements.txt" && !$0.editable }
        #expect(allPlain)
    }

    @Test func invalidTextAfterNameIsAnError() {
        expectError(["requirements.txt": "bar#not-a-comment\n"], file: "requirements.txt", line: 1, contains: "Invalid requirement `bar#not-a-comment`")
    }

    @Test func continuationsJoinAndKeepTheFirstLineNumber() throws {
        let result = try parse(["requirements.txt": """
            first==1.0
            apache-airflow[celery, \\
              postgres]==2.10.5 \\
              --hash=sha256:aaaa \\
              --hash sha256:bbbb
            tail>=1 \\
            # a comment ends the continuation
            last<2 \\
            """])
        #expect(result.entries.map(\.line) == [1, 2, 6, 8])
        let airflow = result.entries[1]
        #expect(airflow.text == "apache-airflow[celery,   postgres]==2.10.5")
        #expect(airflow.requirement?.extras == ["celery", "postgres"])
        #expect(airflow.perLineOptions == ["--hash=sha256:aaaa", "--hash=sha256:bbbb"])
        #expect(result.entries[2].text == "tail>=1")
        #expect(result.entries[3].text == "last<2")
    }

    @Test func includesResolveRelativeToTheIncludingFile() throws {
        let files = [
            "project/requirements.txt": "-r base/common.txt\n--constraint=constraints/c.txt\nlocal==1\n",
            "project/base/common.txt": "# common\nnumpy>=1.26\n-r ../extra/more.txt\n",
            "project/extra/more.txt": "\n\nscipy==1.11\n",
            "project/constraints/c.txt": "numpy==1.26.4\n-r ./nested/n.txt\n",
            "project/constraints/nested/n.txt": "scipy==1.11.4\n",
        ]
        let result = try parse(files, "project/requirements.txt")
        #expect(result.files == ["project/requirements.txt", "project/base/common.txt", "project/extra/more.txt",
                                 "project/constraints/c.txt", "project/constraints/nested/n.txt"])
        #expect(result.entries.map(\.text) == ["numpy>=1.26", "scipy==1.11", "numpy==1.26.4", "scipy==1.11.4", "local==1"])
        #expect(result.entries.map(\.kind) == [.requirement, .requirement, .constraint, .constraint, .requirement])
        #expect(result.entries.map(\.file) == ["project/base/common.txt", "project/extra/more.txt", "project/constraints/c.txt",
                                               "project/constraints/nested/n.txt", "project/requirements.txt"])
        #expect(result.entries.map(\.line) == [2, 3, 1, 1, 3])
        #expect(result.requirements.count == 3 && result.constraints.count == 2)
    }

    @Test func includeSpellings() throws {
        let files = ["dir/a.txt": "-rb.txt\n--requirement c.txt\n--requirement=d.txt\n-c /abs/e.txt\n",
                     "dir/b.txt": "b\n", "dir/c.txt": "c\n", "dir/d.txt": "d\n", "/abs/e.txt": "e\n"]
        let result = try parse(files, "dir/a.txt")
        #expect(result.entries.map(\.text) == ["b", "c", "d", "e"])
        #expect(result.files == ["dir/a.txt", "dir/b.txt", "dir/c.txt", "dir/d.txt", "/abs/e.txt"])
    }

    @Test func includeCycleIsAnError() {
        let files = ["requirements.txt": "a==1\n-r sub/other.txt\n", "sub/other.txt": "b==1\n\n-r ../requirements.txt\n"]
        expectError(files, file: "sub/other.txt", line: 3, contains: "Include cycle: requirements.txt -> sub/other.txt -> requirements.txt")
        expectError(["self.txt": "-r ./self.txt"], "self.txt", file: "self.txt", line: 1, contains: "cycle")
    }

    @Test func missingIncludeNamesTheIncludingLine() {
        expectError(["requirements.txt": "x==1\n\n-r missing.txt\n"], file: "requirements.txt", line: 3,
                    contains: "Could not open requirements file `missing.txt`")
        expectError([:], file: "requirements.txt", line: nil, contains: "Could not read requirements file")
    }

    @Test func errorsInIncludedFilesNameThatFileAndLine() {
        let files = ["requirements.txt": "ok==1\n-r lib/inner.txt\n", "lib/inner.txt": "fine==1\n# c\npandas==\n"]
        expectError(files, file: "lib/inner.txt", line: 3, contains: "Invalid requirement `pandas==`: Expected a version after `==`")
    }

    @Test func malformedLineErrorText() {
        let files = ["requirements.txt": "a==1\nb\n\n\n\n\nflask>=2.0,<\n"]
        do {
            _ = try parse(files)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("requirements.txt:7: Invalid requirement `flask>=2.0,<`: Expected a version after `<`"))
        }
    }

    @Test func globalOptionsAreKept() throws {
        let result = try parse(["requirements.txt": """
            --index-url https://pypi.example.com/simple
            -i https://second.example.com/simple
            --extra-index-url=https://extra.example.com/simple
            -f ./wheels
            --find-links=https://example.com/links
            --no-index
            --pre
            --trusted-host example.com
            --prefer-binary
            --only-binary :all:
            --no-binary=psycopg2
            --require-hashes
            --use-feature fast-deps
            requests
            """])
        #expect(result.options.map(\.name) == ["--index-url", "--index-url", "--extra-index-url", "--find-links", "--find-links", "--no-index",
                                               "--pre", "--trusted-host", "--prefer-binary", "--only-binary", "--no-binary", "--require-hashes", "--use-feature"])
        #expect(result.options.map(\.value) == ["https://pypi.example.com/simple", "https://second.example.com/simple", "https://extra.example.com/simple",
                                                "./wheels", "https://example.com/links", nil, nil, "example.com", nil, ":all:", "psycopg2", nil, "fast-deps"])
        #expect(result.options.map(\.line) == Array(1...13))
        #expect(result.entries.map(\.text) == ["requests"])
    }

    @Test func unknownAndMisplacedOptionsAreErrors() {
        expectError(["requirements.txt": "a\n--frobnicate\n"], file: "requirements.txt", line: 2, contains: "Unknown option `--frobnicate`")
        expectError(["requirements.txt": "--index-url\n"], file: "requirements.txt", line: 1, contains: "requires a value")
        expectError(["requirements.txt": "--pre=yes\n"], file: "requirements.txt", line: 1, contains: "does not take a value")
        expectError(["requirements.txt": "foo==1 --pre\n"], file: "requirements.txt", line: 1, contains: "not allowed after a requirement")
        expectError(["requirements.txt": "--hash=sha256:abc\n"], file: "requirements.txt", line: 1, contains: "must follow a requirement")
        expectError(["requirements.txt": "--pre foo==1\n"], file: "requirements.txt", line: 1, contains: "Unexpected argument `foo==1`")
    }

    @Test func editables() throws {
        let result = try parse(["requirements.txt": """
            -e ./plugins/my_plugin
            --editable=git+https://github.com/org/repo.git@main#egg=My_Pkg
            -e .
            """])
        #expect(result.entries.count == 3)
        let allEditable = result.entries.allSatisfy { $0.editable }
        #expect(allEditable)
        #expect(result.entries.map(\.directReference) == ["./plugins/my_plugin", "git+https://github.com/org/repo.git@main#egg=My_Pkg", "."])
        #expect(result.entries[0].requirement == nil)
        #expect(result.entries[1].requirement?.name.normalized == "my-pkg")
        #expect(result.entries[1].requirement?.url == "git+https://github.com/org/repo.git@main#egg=My_Pkg")
        #expect(result.entries[0].text == "-e ./plugins/my_plugin")
        #expect(result.entries.map(\.line) == [1, 2, 3])
    }

    @Test func directReferences() throws {
        let result = try parse(["requirements.txt": """
            ./pkgs/foo_bar-1.0-py3-none-any.whl
            https://x.example.com/y-2.0.tar.gz
            /abs/path/project
            git+https://github.com/org/tool.git#egg=tool
            dist/thing-1.0.zip ; sys_platform == 'linux'
            https://x.example.com/z.whl; python_version < '3.9'
            """])
        #expect(result.entries.map(\.directReference) == ["./pkgs/foo_bar-1.0-py3-none-any.whl", "https://x.example.com/y-2.0.tar.gz",
                                                          "/abs/path/project", "git+https://github.com/org/tool.git#egg=tool", "dist/thing-1.0.zip",
                                                          "https://x.example.com/z.whl"])
        #expect(result.entries.map { $0.requirement?.name.normalized } == ["foo-bar", nil, nil, "tool", nil, nil])
        #expect(result.entries[0].requirement?.url == "./pkgs/foo_bar-1.0-py3-none-any.whl")
        #expect(result.entries[4].marker?.description == "sys_platform == \"linux\"")
        #expect(result.entries[5].marker?.description == "python_version < \"3.9\"")
        let noneEditable = result.entries.allSatisfy { !$0.editable && $0.kind == .requirement }
        #expect(noneEditable)
    }

    @Test func urlRequirementsMarkersAndEnvironmentVariables() throws {
        let result = try parse(["requirements.txt": """
            my-pkg @ https://${TOKEN}@git.example.com/my-pkg-1.0.tar.gz ; python_version >= "3.10"
            tomli>=1.1; python_version < "3.11"
            """])
        let first = try #require(result.entries.first?.requirement)
        #expect(first.url == "https://${TOKEN}@git.example.com/my-pkg-1.0.tar.gz")
        #expect(first.marker?.description == "python_version >= \"3.10\"")
        #expect(result.entries[1].marker?.evaluate(.linux(python: "3.12")) == false)
    }

    @Test func windowsLineEndingsAndBOM() throws {
        let result = try parse(["requirements.txt": "\u{FEFF}a==1\r\nb==2 \\\r\n  ; python_version > '3'\r\nc==3\r"])
        #expect(result.entries.map(\.text) == ["a==1", "b==2   ; python_version > '3'", "c==3"])
        #expect(result.entries.map(\.line) == [1, 2, 4])
    }

    @Test func pathNormalisation() {
        #expect(RequirementsPath.resolve("../x.txt", relativeTo: "a/b/r.txt") == "a/x.txt")
        #expect(RequirementsPath.resolve("./x.txt", relativeTo: "r.txt") == "x.txt")
        #expect(RequirementsPath.resolve("../x.txt", relativeTo: "r.txt") == "../x.txt")
        #expect(RequirementsPath.resolve("x.txt", relativeTo: "/r.txt") == "/x.txt")
        #expect(RequirementsPath.resolve("/etc/x.txt", relativeTo: "a/r.txt") == "/etc/x.txt")
        #expect(RequirementsPath.resolve("c.txt", relativeTo: "https://h/p/r.txt") == "https://h/p/c.txt")
        #expect(RequirementsPath.normalize("a//b/./c/../d") == "a/b/d")
    }
}
