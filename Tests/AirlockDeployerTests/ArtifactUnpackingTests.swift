import AirlockCore
import AirlockStorage
import AirlockTestSupport
import Foundation
import Testing

/// Uploads are unpacked so that nothing reaches outside the artifact store: the archive is checked
/// whole first, and the writing itself never follows a link (either alone must hold).
@Suite struct ArtifactUnpackingTests {
    @Test func theLinkChainExploitWritesNothingAnywhere() throws {
        let data = try TestSupport.scratchFolder("airlock-unpack")
        defer { try? FileManager.default.removeItem(at: data) }
        let artifacts = ArtifactStore(root: data.appendingPathComponent("store/artifacts"))
        let victim = data.appendingPathComponent("victim.txt")
        try Data("original\n".utf8).write(to: victim)
        // From inside `store/artifacts/dags/.staging-…/`, four `..` reach `data/`.
        let entries = [TarArchive.Entry(path: "a", kind: .directory),
                       TarArchive.Entry(path: "a/b", kind: .symlink, linkTarget: ".."),
                       TarArchive.Entry(path: "x", kind: .symlink, linkTarget: "a/b/.."),
                       TarArchive.Entry(path: "y", kind: .symlink, linkTarget: "x/.."),
                       TarArchive.Entry(path: "z", kind: .symlink, linkTarget: "y/.."),
                       TarArchive.Entry(path: "z/victim.txt", kind: .file, contents: Array("pwned\n".utf8))]
        #expect(throws: AirlockError.self) {
            try artifacts.store(.dags, tar: TarArchive(entries: entries).bytes(), limits: TarArchive.Limits())
        }
        #expect(try String(contentsOf: victim, encoding: .utf8) == "original\n")
        // Nothing was written: no artifact, no staging folder left behind.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: artifacts.root.path)) ?? []
        #expect(left.isEmpty, "\(left)")
    }

    @Test func theWriterNeverFollowsALinkAlreadyOnDisk() throws {
        let data = try TestSupport.scratchFolder("airlock-confined")
        defer { try? FileManager.default.removeItem(at: data) }
        let root = data.appendingPathComponent("release")
        let outside = data.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("keep\n".utf8).write(to: outside.appendingPathComponent("f"))
        // Links planted by an earlier artifact: one to a folder outside, one to a file outside.
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("dags").path, withDestinationPath: outside.path)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("f").path, withDestinationPath: outside.appendingPathComponent("f").path)
        let folder = ConfinedFolder(root: root)

        #expect { try folder.writeFile("dags/evil.py", contents: [1], executable: false) } throws: {
            ($0 as? AirlockError)?.message.contains("symlink") == true
        }
        #expect(throws: AirlockError.self) { try folder.createDirectory("dags/sub") }
        #expect(throws: AirlockError.self) { try folder.writeFile("f", contents: [1], executable: false) }
        #expect(!FileManager.default.fileExists(atPath: outside.appendingPathComponent("evil.py").path))
        #expect(!FileManager.default.fileExists(atPath: outside.appendingPathComponent("sub").path))

        // Replacing removes the link itself, never what it points at.
        try folder.writeFile("f", contents: Array("new\n".utf8), executable: true, replacing: true)
        #expect(try String(contentsOf: outside.appendingPathComponent("f"), encoding: .utf8) == "keep\n")
        #expect(try String(contentsOf: root.appendingPathComponent("f"), encoding: .utf8) == "new\n")
        #expect(throws: AirlockError.self) { try folder.writeFile("../escape", contents: [1], executable: false) }
    }
}
