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
