import AirlockCore
import Foundation
import Testing

@Suite struct TarArchiveTests {
    func entries(_ files: [String: String]) -> [TarArchive.Entry] {
        files.keys.sorted().map { TarArchive.Entry(path: $0, kind: .file, contents: Array(files[$0]!.utf8)) }
    }

    @Test func roundTripKeepsFilesFoldersLinksAndLongNames() throws {
        let long = String(repeating: "deep/", count: 30) + "file.py"
        var all = entries(["dags/a.py": "print(1)\n", "include/sql/q.sql": "select 1", long: "x"])
        all.append(TarArchive.Entry(path: "dags", kind: .directory, mode: 0o755))
        all.append(TarArchive.Entry(path: "dags/link.py", kind: .symlink, linkTarget: "a.py"))
        let archive = TarArchive(entries: all)
        let read = try TarArchive.read(archive.bytes())
        #expect(read.entries.count == all.count)
        #expect(read.manifest == archive.manifest)
        #expect(read.entries.first { $0.path == long }?.contents == Array("x".utf8))
    }

    @Test func readsWhatSystemTarWrites() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-tar-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("src/dags/sub"), withIntermediateDirectories: true)
        try Data("a".utf8).write(to: folder.appendingPathComponent("src/dags/a.py"))
        try Data(String(repeating: "b", count: 70_000).utf8).write(to: folder.appendingPathComponent("src/dags/sub/big.py"))
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("src/dags/l.py").path, withDestinationPath: "a.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/tar")
        process.arguments = ["-cf", folder.appendingPathComponent("b.tar").path, "-C", folder.appendingPathComponent("src").path, "dags"]
        try process.run()
        while process.isRunning { Thread.sleep(forTimeInterval: 0.01) }
        let archive = try TarArchive.read(Array(try Data(contentsOf: folder.appendingPathComponent("b.tar"))))
        #expect(archive.manifest.files.keys.sorted() == ["dags/a.py", "dags/l.py", "dags/sub/big.py"])
        #expect(archive.entries.first { $0.path == "dags/sub/big.py" }?.contents.count == 70_000)
    }

    @Test(arguments: [
        ("../evil.py", "leaves the bundle"),
        ("dags/../../evil.py", "leaves the bundle"),
        ("/etc/passwd", "absolute path"),
    ])
    func traversalIsRefused(path: String, message: String) {
        // Write the header by hand: the writer itself never produces such names.
        var bytes = TarArchive(entries: [TarArchive.Entry(path: "placeholder-name-xxxxxxxxxxxx", kind: .file, contents: [1])]).bytes()
        let name = Array(path.utf8)
        for index in 0..<100 { bytes[index] = index < name.count ? name[index] : 0 }
        var sum = 0
        for index in 0..<512 { sum += (148..<156).contains(index) ? 0x20 : Int(bytes[index]) }
        let checksum = Array(String(sum, radix: 8).utf8)
        for index in 0..<6 { bytes[148 + index] = index < 6 - checksum.count ? 0x30 : checksum[index - (6 - checksum.count)] }
        #expect {
            try TarArchive.read(bytes)
        } throws: { ($0 as? AirlockError)?.message.contains(message) == true }
    }

    @Test(arguments: ["../../outside", "/etc/passwd", "sub/../../../x"])
    func linksOutOfTheBundleAreRefused(target: String) {
        let archive = TarArchive(entries: [TarArchive.Entry(path: "dags/l.py", kind: .symlink, linkTarget: target)])
        #expect(throws: AirlockError.self) { try TarArchive.read(archive.bytes()) }
    }

    static func link(_ path: String, _ target: String) -> TarArchive.Entry {
        TarArchive.Entry(path: path, kind: .symlink, linkTarget: target)
    }

    static func file(_ path: String) -> TarArchive.Entry {
        TarArchive.Entry(path: path, kind: .file, contents: Array("pwned\n".utf8))
    }

    /// The exploit: each link alone stays inside, the chain climbs out, and a file is then
    /// written under the last link.
    @Test func aChainOfLinksThatEachLookFineIsRefused() {
        let chain = [TarArchive.Entry(path: "a", kind: .directory), Self.link("a/b", ".."), Self.link("x", "a/b/.."),
                     Self.link("y", "x/.."), Self.link("z", "y/..")]
        #expect { try TarArchive.read(TarArchive(entries: chain + [Self.file("z/tmp/evil")]).bytes()) } throws: {
            ($0 as? AirlockError)?.message.contains("under the symlink `z`") == true
        }
        // Even without the file, the links themselves point out once followed.
        #expect { try TarArchive.read(TarArchive(entries: chain).bytes()) } throws: {
            ($0 as? AirlockError)?.message.contains("links out of the bundle") == true
        }
    }

    @Test(arguments: [
        // Links to links that end outside.
        [link("l1", "l2"), link("l2", "d/../.."), TarArchive.Entry(path: "d", kind: .directory)],
        // A link through a link to a parent.
        [link("up", ".."), link("deep/l", "../up/x")],
        // A loop.
        [link("p", "q"), link("q", "p")],
        // An empty target.
        [link("e", "")],
    ])
    func linksResolvedThroughOtherLinksMustStayInside(entries: [TarArchive.Entry]) {
        #expect(throws: AirlockError.self) { try TarArchive.read(TarArchive(entries: entries).bytes()) }
    }

    @Test func linksThatResolveInsideThroughOtherLinksAreKept() throws {
        let entries = [TarArchive.Entry(path: "dags/sub", kind: .directory), Self.file("dags/sub/a.py"),
                       Self.link("dags/s", "sub"), Self.link("dags/l.py", "s/a.py"), Self.link("top", "dags/s/../l.py")]
        #expect(try TarArchive.read(TarArchive(entries: entries).bytes()).entries.count == 5)
    }

    @Test(arguments: [
        // A link replaced by a folder, and a folder replaced by a link.
        [link("d", "."), TarArchive.Entry(path: "d", kind: .directory)],
        [TarArchive.Entry(path: "d", kind: .directory), link("d", ".")],
        // A file replaced by a link and the other way round, or a name reused by a file.
        [file("f"), link("f", ".")],
        [link("f", "g"), file("f")],
        [file("f"), file("f")],
        // Something under a file.
        [file("f"), file("f/g")],
        // Something under a link that points inside (the writer never goes through links).
        [TarArchive.Entry(path: "real", kind: .directory), link("l", "real"), file("l/x")],
    ])
    func namesAreNeverReusedAndNothingLiesUnderALink(entries: [TarArchive.Entry]) {
        #expect(throws: AirlockError.self) { try TarArchive.read(TarArchive(entries: entries).bytes()) }
    }

    @Test func truncatedAndCorruptUploadsAreRefused() {
        let bytes = TarArchive(entries: entries(["dags/a.py": String(repeating: "x", count: 2000)])).bytes()
        #expect { try TarArchive.read(Array(bytes.prefix(700))) } throws: { ($0 as? AirlockError)?.message.contains("truncated") == true }
        var corrupt = bytes
        corrupt[10] ^= 0xFF
        #expect { try TarArchive.read(corrupt) } throws: { ($0 as? AirlockError)?.message.contains("checksum") == true }
        #expect(throws: AirlockError.self) { try TarArchive.read(bytes, limits: .init(maxEntries: 10, maxTotalBytes: 100)) }
    }

    @Test func manifestDigestIgnoresOrderAndTarMetadata() {
        let a = TarArchive(entries: entries(["x.py": "1", "y.py": "2"]))
        let b = TarArchive(entries: entries(["y.py": "2", "x.py": "1"]).reversed())
        #expect(a.manifest.digest == b.manifest.digest)
        #expect(a.manifest.digest != TarArchive(entries: entries(["x.py": "1", "y.py": "3"])).manifest.digest)
    }
}
