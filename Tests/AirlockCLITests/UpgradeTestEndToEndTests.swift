import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing

/// Runs the built `airlock` binary on real projects, with real uv resolutions under the bundled
/// constraints mirror, the way a user would.
@Suite struct UpgradeTestEndToEndTests {
    static let conflictingProject: [String: String] = [
        "Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n",
        "requirements.txt": """
        # data team requirements
        -r requirements/base.txt
        pandas==1.5.3
        requests>=2.31  # fine on both
        apache-airflow-providers-http>=4.0
        """,
        "requirements/base.txt": """
        SQLAlchemy>=2.0
        apache-airflow-providers-google==12.0.0
        """,
        "dags/example.py": "print('hi')\n",
        ".astro/config.yaml": "project:\n  name: demo\n",
    ]

    @Test func versionAndConflictTestAcrossAirflow2To3() async throws {
        let project = try TestSupport.scratchFolder("airlock-project")
        try TestSupport.writeTree(Self.conflictingProject, under: project)
        let output = try TestSupport.scratchFolder("airlock-output")
        let before = TestSupport.snapshot(project)

        let result = try await TestSupport.airlock([
            "upgrade-test", "--version-test", "--conflict-test", "-a", "3.0.6",
            "--constraints-source", TestSupport.constraintsMirror.path, "--project", project.path, "--output", output.path,
        ])
        #expect(result.status == 1, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("apache-airflow 2.10.5 >> 3.0.6"))
        // Every direct conflict, with the file:line of the file it is written in.
        #expect(result.stdout.contains("requirements.txt:3  pandas==1.5.3  (target pins pandas 2.1.4)"))
        #expect(result.stdout.contains("requirements/base.txt:1  SQLAlchemy>=2.0  (target pins sqlalchemy 1.4.54)"))
        #expect(result.stdout.contains("requirements/base.txt:2  apache-airflow-providers-google==12.0.0"))
        #expect(result.stdout.contains("FAILED"))
        #expect(TestSupport.snapshot(project) == before, "the project must be byte-identical")

        let folder = output.appendingPathComponent("upgrade-test-2.10.5--3.0.6")
        let compare = try String(contentsOf: folder.appendingPathComponent("dependency_compare.txt"), encoding: .utf8)
        #expect(compare.hasPrefix("Apache Airflow Update:\napache-airflow 2.10.5 >> 3.0.6\n"))
        #expect(compare.contains("Added Airflow Providers:\n"))
        let freeze = try String(contentsOf: folder.appendingPathComponent("pip_freeze_3.0.6.txt"), encoding: .utf8)
        #expect(freeze.contains("apache-airflow==3.0.6\n"))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("pip_freeze_2.10.5.txt").path))
        let conflicts = try String(contentsOf: folder.appendingPathComponent("conflicts.txt"), encoding: .utf8)
        #expect(conflicts.contains("Resolver check: the requirements cannot be installed together"))

        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("report.json"))) as? [String: Any]
        #expect(report?["schemaVersion"] as? Int == 1)
        let conflictTest = report?["conflictTest"] as? [String: Any]
        let list = conflictTest?["conflicts"] as? [[String: Any]] ?? []
        #expect(list.count == 3)
        #expect(list.contains { $0["file"] as? String == "requirements/base.txt" && $0["line"] as? Int == 2 && $0["pinned"] as? String == "17.1.0" })
        let changes = (report?["versionTest"] as? [String: Any])?["changes"] as? [[String: Any]] ?? []
        #expect(changes.contains { $0["name"] as? String == "apache-airflow" && $0["from"] as? String == "2.10.5" && $0["to"] as? String == "3.0.6" && $0["kind"] as? String == "major" })
    }

    @Test func noConflictsExitsZeroAndWritesOnlyTheReportFolder() async throws {
        let project = try TestSupport.scratchFolder("airlock-project")
        try TestSupport.writeTree([
            "Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n",
            "requirements.txt": "requests>=2.31\napache-airflow-providers-http\n",
        ], under: project)
        let before = TestSupport.snapshot(project)
        let result = try await TestSupport.airlock(["upgrade-test", "-a", "3.0.6", "--constraints-source", TestSupport.constraintsMirror.path], in: project)
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        var after = TestSupport.snapshot(project)
        let reportFiles = after.keys.filter { $0.hasPrefix("upgrade-test-2.10.5--3.0.6/") }
        #expect(Set(reportFiles.map { String($0.dropFirst("upgrade-test-2.10.5--3.0.6/".count)) })
                == ["pip_freeze_2.10.5.txt", "pip_freeze_3.0.6.txt", "dependency_compare.txt", "conflicts.txt", "report.json",
                    "dag-test-report.html", "junit.xml", "ruff-lint-results.txt"])
        for file in reportFiles { after.removeValue(forKey: file) }
        #expect(after == before)
    }

    @Test func astroRuntimeProjectResolvesTheRuntimeForAnAirflowVersion() async throws {
        let project = try TestSupport.scratchFolder("airlock-astro")
        try TestSupport.writeTree([
            "Dockerfile": "FROM quay.io/astronomer/astro-runtime:9.10.0\n",
            "requirements.txt": "",
            ".astro/config.yaml": "project:\n  name: astro\n",
        ], under: project)
        let result = try await TestSupport.airlock(["upgrade-test", "--version-test", "-a", "2.9.2",
                                                    "--constraints-source", TestSupport.constraintsMirror.path], in: project)
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("apache-airflow 2.7.3 >> 2.9.2"))
        #expect(result.stderr.contains("Runtime 11.6.0"))
        #expect(FileManager.default.fileExists(atPath: project.appendingPathComponent("upgrade-test-9.10.0--11.6.0/dependency_compare.txt").path))
    }

    @Test func jsonModePrintsOnlyTheReport() async throws {
        let project = try TestSupport.scratchFolder("airlock-json")
        try TestSupport.writeTree(["Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n", "requirements.txt": "pandas==1.5.3\n"], under: project)
        let result = try await TestSupport.airlock(["upgrade-test", "--conflict-test", "-a", "3.0.6", "--json",
                                                    "--constraints-source", TestSupport.constraintsMirror.path, "--project", project.path])
        #expect(result.status == 1)
        #expect(result.stderr.isEmpty, "stderr: \(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let conflicts = (report?["conflictTest"] as? [String: Any])?["conflicts"] as? [[String: Any]]
        #expect(conflicts?.first?["requirement"] as? String == "pandas==1.5.3")
        #expect(conflicts?.first?["line"] as? Int == 1)
        #expect(report?["versionTest"] == nil)
    }
}

/// Bad input: a clear message naming the file and line, exit 2, nothing written.
@Suite struct BadInputTests {
    func run(_ files: [String: String], _ arguments: [String] = ["-a", "3.0.6"]) async throws -> (ProcessOutput, URL) {
        let project = try TestSupport.scratchFolder("airlock-bad")
        try TestSupport.writeTree(files, under: project)
        let result = try await TestSupport.airlock(["upgrade-test", "--offline", "--constraints-source", TestSupport.constraintsMirror.path] + arguments, in: project)
        return (result, project)
    }

    @Test func malformedRequirementNamesFileAndLine() async throws {
        let (result, project) = try await run(["Dockerfile": "FROM apache/airflow:2.10.5\n", "requirements.txt": "requests\n\npandas>=>1.0\n"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("requirements.txt:3"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
        let entries = try FileManager.default.contentsOfDirectory(atPath: project.path)
        #expect(!entries.contains { $0.hasPrefix("upgrade-test-") })
    }

    @Test func malformedIncludedRequirementNamesTheIncludedFile() async throws {
        let (result, _) = try await run(["Dockerfile": "FROM apache/airflow:2.10.5\n", "requirements.txt": "-r extra/more.txt\n",
                                         "extra/more.txt": "ok-package\nbad package here\n"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("extra/more.txt:2"), "stderr: \(result.stderr)")
    }

    @Test func dockerfileWithoutFrom() async throws {
        let (result, _) = try await run(["Dockerfile": "RUN echo hello\n", "requirements.txt": ""])
        #expect(result.status == 2)
        #expect(result.stderr.contains("Dockerfile"))
        #expect(result.stderr.contains("FROM"))
    }

    @Test func unknownTargetVersion() async throws {
        let (result, _) = try await run(["Dockerfile": "FROM apache/airflow:2.10.5\n"], ["-a", "2.99.1"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("2.99.1"))
    }

    @Test func unknownRuntime() async throws {
        let (result, _) = try await run(["Dockerfile": "FROM quay.io/astronomer/astro-runtime:99.1.0\n"], ["-a", "2.9.2"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("Dockerfile:1"), "stderr: \(result.stderr)")
    }

    @Test func conflictingFlagsAreUsageErrors() async throws {
        let (result, _) = try await run(["Dockerfile": "FROM apache/airflow:2.10.5\n"], ["-a", "3.0.6", "-v", "12.0.0"])
        #expect(result.status == 2)
    }

    @Test func missingProjectFolder() async throws {
        let result = try await TestSupport.airlock(["upgrade-test", "--project", "/no/such/project", "--offline"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("/no/such/project"))
    }
}

@Suite struct RuntimesCommandTests {
    @Test func listsTheBundledCatalogOffline() async throws {
        let cache = try TestSupport.scratchFolder("airlock-cache")
        let result = try await TestSupport.airlock(["runtimes", "--offline", "--json"], environment: ["AIRLOCK_CACHE_DIR": cache.path])
        #expect(result.status == 0)
        let list = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        #expect(list?.count == 120)
        let latest = try await TestSupport.airlock(["runtimes", "--offline", "--latest"], environment: ["AIRLOCK_CACHE_DIR": cache.path])
        #expect(latest.stdout.contains("12.0.0"))
        #expect(latest.stdout.contains("2.10.0"))
    }

    @Test func unreachableFeedIsAWarningNotACrash() async throws {
        let cache = try TestSupport.scratchFolder("airlock-cache")
        let result = try await TestSupport.airlock(["runtimes", "--runtime-feed", "http://127.0.0.1:9/feed.json", "--latest"],
                                                   environment: ["AIRLOCK_CACHE_DIR": cache.path])
        #expect(result.status == 0)
        #expect(result.stderr.contains("warning:"))
        #expect(result.stdout.contains("12.0.0"))
    }
}
