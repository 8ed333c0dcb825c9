import AirlockCore
import Testing

/// Project files as people save them: CRLF (Windows), lone CR (old Mac), a UTF-8 BOM first.
@Suite struct UserTextTests {
    @Test(arguments: [
        ("a\nb\n", "a\nb\n"),
        ("a\r\nb\r\n", "a\nb\n"),
        ("a\rb\r", "a\nb\n"),
        ("a\r\r\nb", "a\n\nb"),
        ("\u{FEFF}a\r\n", "a\n"),
        ("a\u{FEFF}b", "a\u{FEFF}b"),  // only a leading BOM is a BOM
        ("", ""),
    ])
    func normalisesLineEndingsAndDropsTheBOM(text: String, expected: String) {
        #expect(UserText.normalized(text) == expected)
        #expect(UserText.normalized(expected) == expected)
        #expect(UserText.decode(Array(text.utf8)) == expected)
    }

    @Test(arguments: ["\r\n", "\r"])
    func dockerfileWithWindowsOrMacLineEndings(ending: String) throws {
        let source = ["# syntax=docker/dockerfile:1", "ARG PY=3.11", "FROM apache/airflow:2.10.5-python${PY} AS base",
                      "RUN pip install x"].joined(separator: ending) + ending
        for text in [source, "\u{FEFF}" + source] {
            let base = try DockerfileBase.parse(text, file: "Dockerfile")
            #expect(base.image.description == "apache/airflow:2.10.5-python3.11")
            #expect(base.stage == "base")
            #expect(base.line == 3)
        }
        let continued = "FROM \\\(ending)  quay.io/astronomer/astro-runtime:12.1.0\(ending)RUN x\(ending)"
        #expect(try DockerfileBase.parse(continued, file: "Dockerfile").image.tag == "12.1.0")
    }

    @Test func dockerfileWithABOMBeforeFrom() throws {
        let base = try DockerfileBase.parse("\u{FEFF}FROM quay.io/astronomer/astro-runtime:12.1.0\n", file: "Dockerfile")
        #expect(base.image.tag == "12.1.0")
        #expect(base.line == 1)
    }

    @Test func dockerfileMessagesShowControlCharactersEscaped() {
        let error = #expect(throws: AirlockError.self) {
            try DockerfileBase.parse("FROM apache/airflow:${X\u{1B}[31m\n", file: "Dockerfile")
        }
        #expect(error?.message.contains("\u{1B}") == false)
        #expect(error?.message.contains("\\x1B[31m") == true, "\(error?.message ?? "")")
    }

    @Test func dotEnvAndExceptionsWithCRLFAndBOM() {
        #expect(DotEnv.parse("\u{FEFF}A=1\r\nB=\"x\r\ny\"\r\nexport C=3 # c\r\n") == ["A": "1", "B": "x\ny", "C": "3"])
        #expect(DotEnv.parse("A=1\rB=2\r") == ["A": "1", "B": "2"])
        #expect(DagIntegrityExceptions.parse("\u{FEFF}dags/a.py\r\n# note\r\n./dags/b.py\r") == ["dags/a.py", "dags/b.py"])
    }
}
