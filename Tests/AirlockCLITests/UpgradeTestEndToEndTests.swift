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

    /// A lint finding that applies only from a later Airflow than the target (AIR321: BaseHook moved in
    /// 3.1, on a 3.0.6 target) is shown as a heads-up, and the lint passes. Lint only: ruff and the
    /// tests' cached 3.0.6 resolution, no environment is built.
    @Test func lintHeadsUpsAreShownButDoNotFail() async throws {
        let project = try TestSupport.scratchFolder("airlock-heads-up")
        try TestSupport.writeTree([
            "Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n",
            "dags/hooks.py": "from airflow.hooks.base import BaseHook\n\nHOST = BaseHook.get_connection('warehouse').host\n",
        ], under: project)
        let result = try await TestSupport.airlock(["upgrade-test", "-l", "-a", "3.0.6", "--constraints-source", TestSupport.constraintsMirror.path,
                                                    "--project", project.path, "--output", try TestSupport.scratchFolder("airlock-heads-up-out").path])
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("Lint heads-up (1; not failures: they apply only from an Airflow later than 3.0.6):"), "\(result.stdout)")
        #expect(result.stdout.contains("dags/hooks.py:3:"), "\(result.stdout)")
        #expect(result.stdout.contains("AIR321"), "\(result.stdout)")
        #expect(result.stdout.contains("0 findings, 1 heads-up"), "\(result.stdout)")
        #expect(!result.stdout.contains("FAILED"), "\(result.stdout)")
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
        #expect(list?.count == 129)
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

/// Files as they turn up in real projects (Windows line endings, a BOM, FIFOs, non-UTF-8 names, symlink
/// loops) and a run stopped by a signal: the built binary finishes in bounded time, reports per file, and
/// leaves no process or temporary file behind. Same requirements as `noConflictsExitsZero…`, so the
/// environments are the cached ones.
@Suite struct HostileProjectFilesTests {
    static let requirements = "requests>=2.31\napache-airflow-providers-http\n"
    static let goodDag = "from airflow import DAG\nimport pendulum\nwith DAG(\"good\", start_date=pendulum.datetime(2024, 1, 1), schedule=None):\n    pass\n"

    /// Creates `name` (raw bytes, may be invalid UTF-8) under `folder` with `contents`.
    static func writeRaw(_ name: [UInt8], under folder: URL, contents: String, isFolder: Bool = false) throws {
        let path = Array(folder.path.utf8) + [UInt8(ascii: "/")] + name + [0]
        let ok = path.withUnsafeBufferPointer { buffer -> Bool in
            let pointer = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            if isFolder { return mkdir(pointer, 0o755) == 0 }
            let fd = open(pointer, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            let bytes = Array(contents.utf8)
            return write(fd, bytes, bytes.count) == bytes.count
        }
        #expect(ok, "cannot create \(name)")
    }

    @Test func oddFilesInDagsAreReportedPerFileAndTheRunFinishes() async throws {
        let project = try TestSupport.scratchFolder("airlock-odd-files")
        defer { try? FileManager.default.removeItem(at: project) }
        let dags = project.appendingPathComponent("dags")
        try TestSupport.writeTree([
            // Saved on Windows, with a BOM: must read as `FROM apache/airflow:2.10.5-python3.11`.
            "Dockerfile": "\u{FEFF}# base\r\nFROM apache/airflow:2.10.5-python3.11\r\nRUN echo hi\r\n",
            "requirements.txt": Self.requirements,
            ".env": "\u{FEFF}AIRLOCK_TEST_VALUE=1\r\n",
            "dags/good.py": Self.goodDag,
        ], under: project)
        #expect(mkfifo(dags.appendingPathComponent("pipe.py").path, 0o644) == 0)
        try Self.writeRaw(Array("caf".utf8) + [0xE9] + Array(".py".utf8), under: dags, contents: Self.goodDag.replacingOccurrences(of: "\"good\"", with: "\"latin1\""))
        try Self.writeRaw(Array("d".utf8) + [0xFF], under: dags, contents: "", isFolder: true)
        try Self.writeRaw(Array("d".utf8) + [0xFF] + Array("/inner.py".utf8), under: dags, contents: Self.goodDag.replacingOccurrences(of: "\"good\"", with: "\"inner\""))
        try FileManager.default.createSymbolicLink(atPath: dags.appendingPathComponent("up").path, withDestinationPath: "..")
        try FileManager.default.createSymbolicLink(atPath: dags.appendingPathComponent("self.py").path, withDestinationPath: "self.py")

        let started = Date()
        let result = try await TestSupport.airlock(["upgrade-test", "-a", "3.0.6", "--constraints-source", TestSupport.constraintsMirror.path],
                                                   in: project, timeout: 900)
        let seconds = Date().timeIntervalSince(started)
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        // A FIFO used to hang the run for ever; the bound is generous because the suite runs beside
        // real Airflow deploys on 2 cores (257 s measured under that load, 40 s alone).
        #expect(seconds < 600)
        #expect(result.stderr.contains("`dags/pipe.py` is not a regular file"), "stderr: \(result.stderr)")

        let folder = project.appendingPathComponent("upgrade-test-2.10.5--3.0.6")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("report.json"))) as? [String: Any]
        #expect((report?["warnings"] as? [String])?.contains { $0.contains("dags/pipe.py") } == true)
        let files = ((report?["dagTest"] as? [String: Any])?["files"] as? [[String: Any]]) ?? []
        func file(_ path: String) -> [String: Any]? { files.first { $0["path"] as? String == path } }
        #expect(file("dags/good.py")?["status"] as? String == "passed", "\(files)")
        #expect(file("dags/caf\\xe9.py")?["status"] as? String == "passed", "\(files)")
        #expect(file("dags/d\\xff/inner.py")?["status"] as? String == "passed", "\(files)")
        #expect((file("dags/caf\\xe9.py")?["warnings"] as? [String])?.contains { $0.contains("not valid UTF-8") } == true)
        #expect((file("dags/self.py")?["error"] as? String)?.hasPrefix("SymlinkLoop:") == true, "\(files)")
        #expect((file("dags/up")?["error"] as? String)?.hasPrefix("SymlinkLoop:") == true, "\(files)")
        #expect(!files.contains { ($0["path"] as? String)?.contains("pipe.py") == true })
    }

    /// A run stopped mid-parse by SIGTERM or SIGINT: every child (the harness, its per-file children, what a
    /// DAG file spawned) is gone, the run's temporary files are removed, and the exit is 128 + the signal.
    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalStopsEveryChildAndRemovesTemporaryFiles(signal: Int32) async throws {
        let project = try TestSupport.scratchFolder("airlock-signal")
        let temporary = try TestSupport.scratchFolder("airlock-signal-tmp")
        defer {
            try? FileManager.default.removeItem(at: project)
            try? FileManager.default.removeItem(at: temporary)
        }
        // A DAG file that starts a grandchild and hangs: the marker finds both in /proc.
        let marker = "3\(Int.random(in: 100_000...999_999)).5"
        try TestSupport.writeTree([
            "Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n",
            "requirements.txt": Self.requirements,
            "dags/slow.py": "# airflow DAG\nimport subprocess, time\nsubprocess.Popen([\"sleep\", \"\(marker)\"])\ntime.sleep(\(marker))\n",
        ], under: project)

        let process = Process()
        process.executableURL = TestSupport.airlockBinary
        process.arguments = ["upgrade-test", "-a", "3.0.6", "--parse-timeout", "600", "--constraints-source", TestSupport.constraintsMirror.path]
        process.currentDirectoryURL = project
        var environment = ProcessInfo.processInfo.environment
        environment["AIRLOCK_CACHE_DIR"] = TestSupport.sharedCache.cacheRoot.path
        environment["CI"] = "true"
        environment["TMPDIR"] = temporary.path
        process.environment = environment
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // Wait until the DAG file's grandchild runs (both sides' parses have started by then or soon). On a
        // clean clone both environments are built first: over 240 s was seen with the rest of the suite beside.
        let deadline = Date().addingTimeInterval(900)
        while Self.processes(containing: marker).isEmpty, process.isRunning, Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(!Self.processes(containing: marker).isEmpty, "the slow DAG never started")
        kill(process.processIdentifier, signal)
        let stopDeadline = Date().addingTimeInterval(30)
        while process.isRunning, Date() < stopDeadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "airlock did not exit after the signal")
        let stderr = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 128 + signal, "stderr: \(stderr)")
        #expect(stderr.contains("interrupted by \(signal == SIGTERM ? "SIGTERM" : "SIGINT")"), "stderr: \(stderr)")

        // Nothing left: no process of the run (harness, per-file child, grandchild), no temporary file.
        try await Task.sleep(for: .milliseconds(300))
        #expect(Self.processes(containing: marker).isEmpty, "left running: \(Self.processes(containing: marker))")
        #expect(Self.processes(containing: temporary.path).isEmpty, "left running: \(Self.processes(containing: temporary.path))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary.path) == [])
    }

    /// Command lines of running (non-zombie) processes that contain `text`.
    static func processes(containing text: String) -> [String] {
        var found: [String] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(entry) != nil {
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty,
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")"),
                  stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z" else { continue }
            let command = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            if command.contains(text) { found.append("\(entry): \(command)") }
        }
        return found
    }
}
