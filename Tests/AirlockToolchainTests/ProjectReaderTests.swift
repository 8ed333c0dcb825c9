import AirlockCore
import AirlockTestSupport
@testable import AirlockToolchain
import Foundation
import Testing

/// The project reader on real files: includes confined to the project for the server, allowed but named on
/// the CLI; text files with CRLF / CR / BOM; FIFOs and oversized files refused without hanging.
@Suite struct ProjectReaderTests {
    /// A project next to a folder of "host" files it must not reach on the server.
    private func projectBesideSecret(requirements: String, extra: [String: String] = [:]) throws -> (root: URL, secret: URL) {
        let scratch = try TestSupport.scratchFolder("airlock-reader")
        let secret = scratch.appendingPathComponent("host/secret.txt")
        try TestSupport.writeTree(["host/secret.txt": "topsecretpkg==1.0\n"], under: scratch)
        let root = scratch.appendingPathComponent("project")
        try TestSupport.writeTree(["requirements.txt": requirements, "dags/.keep": ""].merging(extra) { $1 }, under: root)
        return (root, secret)
    }

    @Test func confinedReaderRefusesIncludesOutsideTheProjectWithoutEchoingThem() throws {
        let cases: [(String, (URL) -> String)] = [
            ("relative", { _ in "-r ../host/secret.txt\n" }),
            ("absolute", { secret in "-c \(secret.path)\n" }),
            ("nested", { _ in "# deps\n--constraint sub/inner.txt\n" }),
        ]
        for (name, requirements) in cases {
            let scratch = try TestSupport.scratchFolder("airlock-reader")
            defer { try? FileManager.default.removeItem(at: scratch) }
            let secret = scratch.appendingPathComponent("host/secret.txt")
            try TestSupport.writeTree(["host/secret.txt": "topsecretpkg==1.0\n",
                                       "project/requirements.txt": requirements(secret),
                                       "project/sub/inner.txt": "\n-r ../../host/secret.txt\n"], under: scratch)
            let root = scratch.appendingPathComponent("project")
            let error = #expect(throws: AirlockError.self, "\(name)") {
                try ProjectReader.read(root, includes: .confinedToProject)
            }
            #expect(error?.kind == .usage, "\(name)")
            let message = error?.description ?? ""
            #expect(message.contains("outside the project"), "\(name): \(message)")
            #expect(!message.contains("topsecretpkg"), "\(name): \(message)")
            let expectedLocation = name == "nested" ? "sub/inner.txt:2:" : "requirements.txt:1:"
            #expect(message.hasPrefix(expectedLocation), "\(name): \(message)")
            // The CLI reads the same project and names what came from outside.
            if name != "nested" {
                let project = try ProjectReader.read(root)
                #expect(project.outsideIncludes.count == 1, "\(name)")
            }
        }
    }

    @Test func confinedReaderRefusesSymlinksThatLeaveTheProject() throws {
        let (root, secret) = try projectBesideSecret(requirements: "-r link.txt\n")
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("link.txt").path, withDestinationPath: secret.path)
        let error = #expect(throws: AirlockError.self) { try ProjectReader.read(root, includes: .confinedToProject) }
        #expect(error?.description.hasPrefix("requirements.txt:1:") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("topsecretpkg") == false)

        // A top-level file that is a link out (here the Dockerfile) is refused as well.
        let (other, otherSecret) = try projectBesideSecret(requirements: "apache-airflow==2.10.5\n")
        defer { try? FileManager.default.removeItem(at: other.deletingLastPathComponent()) }
        try FileManager.default.createSymbolicLink(atPath: other.appendingPathComponent("Dockerfile").path, withDestinationPath: otherSecret.path)
        let dockerfileError = #expect(throws: AirlockError.self) { try ProjectReader.read(other, includes: .confinedToProject) }
        #expect(dockerfileError?.description.contains("`Dockerfile` is outside the project") == true, "\(dockerfileError?.description ?? "")")
        #expect(dockerfileError?.description.contains("topsecretpkg") == false)
    }

    @Test func includesInsideTheProjectAreReadInBothModes() throws {
        let (root, _) = try projectBesideSecret(requirements: "-r sub/more.txt\n-c ./constraints.txt\n",
                                                extra: ["sub/more.txt": "requests==2.32.3\n", "constraints.txt": "urllib3<3\n"])
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        for mode in [ProjectReader.Includes.anywhere, .confinedToProject] {
            let project = try ProjectReader.read(root, includes: mode)
            #expect(project.requirementEntries.map(\.text) == ["requests==2.32.3"])
            #expect(project.constraintEntries.map(\.text) == ["urllib3<3"])
            #expect(project.outsideIncludes.isEmpty)
        }
    }

    @Test func textFilesWithWindowsLineEndingsAndBOMReadLikeUnixOnes() throws {
        let root = try TestSupport.scratchFolder("airlock-reader")
        defer { try? FileManager.default.removeItem(at: root) }
        try TestSupport.writeTree([
            "Dockerfile": "\u{FEFF}# syntax=docker/dockerfile:1\r\nFROM quay.io/astronomer/astro-runtime:12.1.0-python-3.11\r\nRUN echo hi\r\n",
            "requirements.txt": "\u{FEFF}requests==2.32.3\r\n",
            "packages.txt": "libpq-dev\rgcc\r",
            ".env": "\u{FEFF}AIRFLOW_VAR_A=1\r\nexport B='two'\r\n",
            ".astro/dag_integrity_exceptions.txt": "\u{FEFF}dags/a.py\r\n./dags/b.py\r\n",
        ], under: root)
        let project = try ProjectReader.read(root)
        #expect(project.dockerfile?.image.description == "quay.io/astronomer/astro-runtime:12.1.0-python-3.11")
        #expect(project.dockerfile?.line == 2)
        #expect(project.osPackages == ["libpq-dev", "gcc"])
        #expect(project.environmentVariables == ["AIRFLOW_VAR_A": "1", "B": "two"])
        #expect(project.integrityExceptions == ["dags/a.py", "dags/b.py"])
        #expect(project.requirementEntries.map(\.text) == ["requests==2.32.3"])
    }

    @Test func aFIFOOrAnOversizedFileIsRefusedAtOnce() throws {
        let root = try TestSupport.scratchFolder("airlock-reader")
        defer { try? FileManager.default.removeItem(at: root) }
        try TestSupport.writeTree(["requirements.txt": "requests\n"], under: root)
        #expect(mkfifo(root.appendingPathComponent("Dockerfile").path, 0o644) == 0)
        let started = Date()
        let fifoError = #expect(throws: AirlockError.self) { try ProjectReader.read(root) }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(fifoError?.description.contains("`Dockerfile` is not a regular file (a FIFO)") == true, "\(fifoError?.description ?? "")")

        try FileManager.default.removeItem(at: root.appendingPathComponent("Dockerfile"))
        try Data(count: UserTextFile.maximumBytes + 1).write(to: root.appendingPathComponent(".env"))
        let sizeError = #expect(throws: AirlockError.self) { try ProjectReader.read(root) }
        #expect(sizeError?.kind == .usage)
        #expect(sizeError?.description.contains("`.env` is") == true, "\(sizeError?.description ?? "")")
    }

    @Test func aProjectPathThatIsNotUTF8GetsAClearMessage() throws {
        // What Swift makes of a non-UTF-8 argument: the bad byte becomes U+FFFD.
        let error = #expect(throws: AirlockError.self) { try ProjectReader.read(URL(fileURLWithPath: "/tmp/proj-\u{FFFD}-x")) }
        #expect(error?.description.contains("not valid UTF-8") == true)
    }
}
