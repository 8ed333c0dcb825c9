import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing

@Suite struct ProjectBundleTests {
    static let project: [String: String] = [
        "Dockerfile": "FROM quay.io/astronomer/astro-runtime:12.7.1\n",
        "requirements.txt": "pandas==2.2.3\n",
        "include/sql/q.sql": "select 1;\n",
        "plugins/p.py": "X = 1\n",
        "dags/a.py": "print('a')\n",
        "dags/sub/b.py": "print('b')\n",
        // Everything below is left out.
        "dags/__pycache__/a.cpython-311.pyc": "junk",
        "dags/c.pyc": "junk",
        "dags/.DS_Store": "junk",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".venv/bin/python": "junk",
        "venv/lib/x.py": "junk",
        ".airlock/state": "junk",
        "plugins/__pycache__/p.pyc": "junk",
        ".DS_Store": "junk",
        // Local secrets, settings, logs and upgrade-test reports stay on the machine (root only).
        ".env": "SECRET=1\n",
        "airflow_settings.yaml": "airflow: {}\n",
        "logs/scheduler.log": "junk",
        "upgrade-test-2.10.5--3.0.6/report.json": "{}",
        "upgrade-summary.md": "junk",
    ]

    func paths(_ part: ProjectBundle.Part?) throws -> [String] {
        try TarArchive.read(try #require(part).bytes).entries.map(\.path)
    }

    @Test func splitsImageAndDagsAndLeavesCachesOut() async throws {
        let root = try TestSupport.scratchFolder("bundle")
        try TestSupport.writeTree(Self.project, under: root)
        let before = TestSupport.snapshot(root)
        let bundle = try await ProjectBundle.make(projectRoot: root)
        #expect(try paths(bundle.image) == ["Dockerfile", "include/sql/q.sql", "plugins/p.py", "requirements.txt"])
        #expect(try paths(bundle.dags) == ["dags/a.py", "dags/sub/b.py"])
        #expect(bundle.dags?.manifest.files.keys.sorted() == ["dags/a.py", "dags/sub/b.py"])
        #expect(bundle.git == nil)  // a temp folder is not a work tree
        #expect(TestSupport.snapshot(root) == before)  // packaging never writes to the project

        let dagsOnly = try await ProjectBundle.make(projectRoot: root, type: .dagOnly)
        #expect(dagsOnly.image == nil)
        #expect(dagsOnly.dags?.digest == bundle.dags?.digest)
        let imageOnly = try await ProjectBundle.make(projectRoot: root, type: .imageOnly)
        #expect(imageOnly.dags == nil)
        #expect(imageOnly.image?.digest == bundle.image?.digest)
    }

    @Test func digestsAndBytesAreDeterministic() async throws {
        let root = try TestSupport.scratchFolder("bundle")
        try TestSupport.writeTree(Self.project, under: root)
        let first = try await ProjectBundle.make(projectRoot: root)
        // A touch (new mtime) and a chmod that keeps the executable bit unchanged change nothing.
        let later = Date().addingTimeInterval(3600)
        for path in ["Dockerfile", "dags/a.py"] {
            try FileManager.default.setAttributes([.modificationDate: later, .posixPermissions: 0o600], ofItemAtPath: root.appendingPathComponent(path).path)
        }
        let second = try await ProjectBundle.make(projectRoot: root)
        #expect(first.image?.bytes == second.image?.bytes)
        #expect(first.dags?.bytes == second.dags?.bytes)
        #expect(first.image?.digest == second.image?.digest)
        #expect(first.dags?.digest == second.dags?.digest)
        // The same files in another folder give the same versions.
        let copy = try TestSupport.scratchFolder("bundle")
        try TestSupport.writeTree(Self.project, under: copy)
        #expect(try await ProjectBundle.make(projectRoot: copy).dags?.digest == first.dags?.digest)

        // Modes are normalised to 0644/0755; a change in content changes only that bundle's version.
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: root.appendingPathComponent("dags/sub/b.py").path)
        try Data("print('a2')\n".utf8).write(to: root.appendingPathComponent("dags/a.py"))
        let third = try await ProjectBundle.make(projectRoot: root)
        let modes = try TarArchive.read(try #require(third.dags).bytes).entries.map(\.mode)
        #expect(modes == [0o644, 0o755])
        #expect(third.dags?.digest != first.dags?.digest)
        #expect(third.image?.digest == first.image?.digest)
    }

    @Test func symlinksInsideAreStoredAsFilesAndOutsideAreRefused() async throws {
        let root = try TestSupport.scratchFolder("bundle")
        try TestSupport.writeTree(Self.project, under: root)
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("dags/shared.sql").path, withDestinationPath: "../include/sql/q.sql")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("dags/sql").path, withDestinationPath: "../include/sql")
        let bundle = try await ProjectBundle.make(projectRoot: root)
        let entries = try TarArchive.read(try #require(bundle.dags).bytes).entries
        #expect(entries.map(\.path) == ["dags/a.py", "dags/shared.sql", "dags/sql/q.sql", "dags/sub/b.py"])
        #expect(entries.allSatisfy { $0.kind == .file })
        #expect(entries.first { $0.path == "dags/shared.sql" }?.contents == Array("select 1;\n".utf8))

        let outside = try TestSupport.scratchFolder("outside")
        try TestSupport.writeTree(["secret.txt": "s"], under: outside)
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("plugins/leak.txt").path, withDestinationPath: outside.appendingPathComponent("secret.txt").path)
        await #expect {
            try await ProjectBundle.make(projectRoot: root)
        } throws: { error in
            guard let error = error as? AirlockError else { return false }
            return error.kind == .usage && error.message.contains("plugins/leak.txt") && error.message.contains("outside the project")
        }
        // A DAG-only deploy does not read plugins/, so the bad link there does not matter.
        _ = try await ProjectBundle.make(projectRoot: root, type: .dagOnly)

        try fm.removeItem(at: root.appendingPathComponent("plugins/leak.txt"))
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("dags/loop").path, withDestinationPath: "..")
        await #expect {
            try await ProjectBundle.make(projectRoot: root, type: .dagOnly)
        } throws: { ($0 as? AirlockError)?.message.contains("dags/loop") == true }
    }

    @Test func missingFolderDockerfileOrDagsAreUsageErrors() async throws {
        let missing = URL(fileURLWithPath: "/definitely/not/a/project")
        await #expect {
            try await ProjectBundle.make(projectRoot: missing)
        } throws: { ($0 as? AirlockError)?.kind == .usage && ($0 as? AirlockError)?.message.contains(missing.path) == true }

        let root = try TestSupport.scratchFolder("bundle")
        try TestSupport.writeTree(["requirements.txt": "", "dags/a.py": ""], under: root)
        await #expect {
            try await ProjectBundle.make(projectRoot: root)
        } throws: { ($0 as? AirlockError)?.kind == .usage && ($0 as? AirlockError)?.message.contains("Dockerfile") == true }
        #expect(try await ProjectBundle.make(projectRoot: root, type: .dagOnly).dags != nil)

        let noDags = try TestSupport.scratchFolder("bundle")
        try TestSupport.writeTree(["Dockerfile": "FROM apache/airflow:2.10.5\n"], under: noDags)
        await #expect {
            try await ProjectBundle.make(projectRoot: noDags, type: .dagOnly)
        } throws: { ($0 as? AirlockError)?.message.contains("dags") == true }
        // An image deploy without dags/ ships an empty DAG bundle.
        #expect(try await ProjectBundle.make(projectRoot: noDags).dags?.manifest.files.isEmpty == true)
    }

    @Test func readsGitMetadataOfAWorkTree() async throws {
        let git = try #require(ProcessRunner.which("git"))
        let root = try TestSupport.scratchFolder("bundle")
        try TestSupport.writeTree(["Dockerfile": "FROM apache/airflow:2.10.5\n", "dags/a.py": "print(1)\n"], under: root)
        func run(_ arguments: [String]) async throws {
            let output = try await ProcessRunner.run(git, arguments, environment: [
                "GIT_AUTHOR_NAME": "Ada Lovelace", "GIT_AUTHOR_EMAIL": "ada@example.com",
                "GIT_COMMITTER_NAME": "Ada Lovelace", "GIT_COMMITTER_EMAIL": "ada@example.com",
            ], workingDirectory: root.path)
            #expect(output.succeeded, "git \(arguments): \(output.stderr)")
        }
        try await run(["init", "-q", "-b", "release"])
        // No commit yet: no metadata, no error.
        #expect(try await ProjectBundle.make(projectRoot: root).git == nil)
        try await run(["add", "."])
        try await run(["-c", "commit.gpgsign=false", "commit", "-q", "-m", "first"])
        try await run(["remote", "add", "origin", "https://ci-bot:s3cret@github.com/acme/airflow.git"])
        let bundle = try await ProjectBundle.make(projectRoot: root)
        let metadata = try #require(bundle.git)
        #expect(metadata.commit.count == 40)
        #expect(metadata.branch == "release")
        #expect(metadata.author == "Ada Lovelace")
        #expect(metadata.remote == "https://github.com/acme/airflow.git")  // credentials never leave the machine
        // `.git/` is not part of the image.
        #expect(try paths(bundle.image) == ["Dockerfile"])
    }
}
