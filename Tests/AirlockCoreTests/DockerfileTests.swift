import AirlockCore
import Testing

@Suite struct DockerfileTests {
    @Test(arguments: [
        ("FROM quay.io/astronomer/astro-runtime:9.10.0\n", "quay.io/astronomer/astro-runtime", "9.10.0", 1),
        ("# comment\n\nFROM apache/airflow:2.10.5-python3.11\nRUN echo hi\n", "apache/airflow", "2.10.5-python3.11", 3),
        ("ARG RUNTIME=12.0.0\nFROM quay.io/astronomer/astro-runtime:${RUNTIME}\n", "quay.io/astronomer/astro-runtime", "12.0.0", 2),
        ("ARG TAG=\"3.0.6\"\nFROM apache/airflow:$TAG\n", "apache/airflow", "3.0.6", 2),
        ("FROM apache/airflow:${MISSING:-2.9.2}\n", "apache/airflow", "2.9.2", 1),
        ("FROM --platform=linux/amd64 quay.io/astronomer/astro-runtime:11.6.0 AS base\nFROM base\n", "quay.io/astronomer/astro-runtime", "11.6.0", 1),
        ("from apache/airflow:2.7.3 as build\nFROM python:3.12\n", "apache/airflow", "2.7.3", 1),
        ("FROM \\\n  apache/airflow:2.8.1\n", "apache/airflow", "2.8.1", 1),
        ("FROM registry.local:5000/team/airflow:1.2\n", "registry.local:5000/team/airflow", "1.2", 1),
    ])
    func parsesFirstFrom(source: String, repository: String, tag: String, line: Int) throws {
        let base = try DockerfileBase.parse(source, file: "Dockerfile")
        #expect(base.image.repository == repository)
        #expect(base.image.tag == tag)
        #expect(base.line == line)
    }

    @Test func keepsStageAndPlatform() throws {
        let base = try DockerfileBase.parse("FROM --platform=linux/arm64 apache/airflow:2.10.5 AS runtime\n", file: "Dockerfile")
        #expect(base.stage == "runtime")
        #expect(base.platform == "linux/arm64")
    }

    @Test func dockerfileWithoutFromNamesTheFile() {
        #expect {
            try DockerfileBase.parse("# nothing here\nRUN echo\n", file: "Dockerfile")
        } throws: { error in
            guard let error = error as? AirlockError else { return false }
            return error.kind == .usage && error.message.hasPrefix("Dockerfile:") && error.message.contains("FROM")
        }
    }

    @Test func argWithoutDefaultNamesTheLine() {
        #expect {
            try DockerfileBase.parse("ARG IMAGE\n\nFROM $IMAGE\n", file: "Dockerfile")
        } throws: { error in
            (error as? AirlockError)?.message.hasPrefix("Dockerfile:3:") == true
        }
    }

    @Test func fromWithoutImageIsAnError() {
        #expect(throws: AirlockError.self) { try DockerfileBase.parse("FROM --platform=linux/amd64\n", file: "Dockerfile") }
    }

    @Test func imageReferenceWithDigest() throws {
        let image = try #require(ImageReference("apache/airflow:2.10.5@sha256:abc"))
        #expect(image.tag == "2.10.5")
        #expect(image.digest == "sha256:abc")
        #expect(ImageReference("docker.io/library/python:3.12")?.canonicalRepository == "python")
        #expect(ImageReference("") == nil)
    }
}

@Suite struct BaseImageTests {
    @Test func classifiesAstroRuntimeTags() throws {
        for (text, version, python, slim) in [
            ("quay.io/astronomer/astro-runtime:9.10.0", "9.10.0", nil, false),
            ("quay.io/astronomer/astro-runtime:13.7.0-slim-python-3.12", "13.7.0", "3.12", true),
            ("astrocrpublic.azurecr.io/runtime:3.1-12-python-3.11-base", "3.1-12", "3.11", false),
        ] as [(String, String, String?, Bool)] {
            guard case .astroRuntime(let tag) = BaseImage(try #require(ImageReference(text))) else {
                Issue.record("\(text) is not an Astro runtime"); continue
            }
            #expect(tag.version?.description == version)
            #expect(tag.python == python)
            #expect(tag.slim == slim)
        }
    }

    @Test func classifiesApacheImages() throws {
        guard case .apacheAirflow(let version, let python) = BaseImage(try #require(ImageReference("apache/airflow:slim-2.10.5-python3.11"))) else {
            Issue.record("not apache"); return
        }
        #expect(version.description == "2.10.5")
        #expect(python == "3.11")
        guard case .other = BaseImage(try #require(ImageReference("apache/airflow:latest"))) else {
            Issue.record("`latest` has no version"); return
        }
    }

    @Test func floatingRuntimeSeries() throws {
        let tag = try #require(RuntimeTag("3.1"))
        #expect(tag.version == nil)
        #expect(tag.floatingSeries == "3.1")
        #expect(RuntimeTag("2.1") == nil)
        #expect(RuntimeTag("banana") == nil)
    }
}
