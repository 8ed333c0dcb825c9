import PythonPackaging

/// A minimal POSIX ustar reader and writer for deploy bundles.
///
/// Uploads are plain (uncompressed) tar so the server can check every entry itself before a single
/// byte reaches the disk: no absolute paths, no `..`, no links that point out of the bundle, no
/// device files, bounded sizes. Written here rather than shelling out to `tar`, whose extraction
/// rules differ between implementations.
public struct TarArchive: Hashable, Sendable {
    public enum EntryKind: String, Hashable, Sendable { case file, directory, symlink }

    public struct Entry: Hashable, Sendable {
        /// Normalised relative path (`a/b.py`), never absolute, never containing `..`.
        public var path: String
        public var kind: EntryKind
        public var contents: [UInt8]
        /// For symlinks: the target, which must resolve inside the archive.
        public var linkTarget: String?
        /// Unix permission bits (only the executable bit matters to Airlock).
        public var mode: Int

        public init(path: String, kind: EntryKind, contents: [UInt8] = [], linkTarget: String? = nil, mode: Int = 0o644) {
            self.path = path
            self.kind = kind
            self.contents = contents
            self.linkTarget = linkTarget
            self.mode = mode
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// Limits applied while reading an upload.
    public struct Limits: Hashable, Sendable {
        public var maxEntries: Int
        public var maxTotalBytes: Int

        public init(maxEntries: Int = 100_000, maxTotalBytes: Int = 512 * 1024 * 1024) {
            self.maxEntries = maxEntries
            self.maxTotalBytes = maxTotalBytes
        }
    }

    /// Reads and checks an archive. - Throws: `AirlockError.usage` naming the offending entry.
    public static func read(_ bytes: [UInt8], limits: Limits = Limits()) throws(AirlockError) -> TarArchive {
        var entries: [Entry] = []
        var offset = 0
        var total = 0
        var longName: String?
        while offset + 512 <= bytes.count {
            let header = Array(bytes[offset..<offset + 512])
            if header.allSatisfy({ $0 == 0 }) { return try validated(TarArchive(entries: entries)) }
            guard checksumMatches(header) else { throw .usage("The bundle is not a valid tar archive (bad header checksum at byte \(offset))") }
            let size = octal(header[124..<136])
            let type = header[156]
            guard size >= 0, offset + 512 + size <= bytes.count else {
                throw .usage("The bundle is truncated (an entry claims \(size) bytes past the end of the upload)")
            }
            total += size
            guard total <= limits.maxTotalBytes else { throw .usage("The bundle is larger than \(limits.maxTotalBytes / (1024 * 1024)) MB unpacked") }
            let data = Array(bytes[offset + 512..<offset + 512 + size])
            offset += 512 + (size + 511) / 512 * 512
            var name = longName ?? string(header[0..<100])
            longName = nil
            let prefix = string(header[345..<500])
            if !prefix.isEmpty, header[257..<262].elementsEqual("ustar".utf8) { name = prefix + "/" + name }
            switch type {
            case UInt8(ascii: "L"):  // GNU long name for the next entry
                longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
                continue
            case UInt8(ascii: "x"), UInt8(ascii: "g"):  // pax headers: metadata only
                continue
            default: break
            }
            let path = try normalise(name)
            if path.isEmpty { continue }  // "./"
            let mode = octal(header[100..<108])
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"):
                entries.append(Entry(path: path, kind: .file, contents: data, mode: mode))
            case UInt8(ascii: "5"):
                entries.append(Entry(path: path, kind: .directory, mode: mode))
            case UInt8(ascii: "2"):
                entries.append(Entry(path: path, kind: .symlink, linkTarget: string(header[157..<257]), mode: mode))
            case UInt8(ascii: "1"):
                throw .usage("The bundle entry `\(DisplayText.escaped(path))` is a hard link; bundles may hold files, folders and relative symlinks only")
            default:
                throw .usage("The bundle entry `\(DisplayText.escaped(path))` is a device or special file; bundles may hold files, folders and relative symlinks only")
            }
            guard entries.count <= limits.maxEntries else { throw .usage("The bundle has more than \(limits.maxEntries) entries") }
        }
        throw .usage("The bundle is truncated (no end-of-archive marker)")
    }

    /// Serialises entries as ustar (long paths use GNU `L` records).
    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            let name = entry.kind == .directory && !entry.path.hasSuffix("/") ? entry.path + "/" : entry.path
            if name.utf8.count > 99 {
                let longName = Array(name.utf8) + [0]
                out += Self.header(name: "././@LongLink", size: longName.count, type: UInt8(ascii: "L"), mode: 0, link: "")
                out += Self.padded(longName)
            }
            let type: UInt8 = entry.kind == .file ? UInt8(ascii: "0") : entry.kind == .directory ? UInt8(ascii: "5") : UInt8(ascii: "2")
            out += Self.header(name: String(decoding: name.utf8.prefix(99), as: UTF8.self), size: entry.kind == .file ? entry.contents.count : 0,
                               type: type, mode: entry.mode, link: entry.linkTarget ?? "")
            if entry.kind == .file { out += Self.padded(entry.contents) }
        }
        return out + [UInt8](repeating: 0, count: 1024)
    }

    /// Rejects absolute paths and `..`; removes `./` and duplicate slashes.
    static func normalise(_ raw: String) throws(AirlockError) -> String {
        guard !raw.hasPrefix("/") else { throw .usage("The bundle entry `\(DisplayText.escaped(raw))` has an absolute path") }
        var parts: [Substring] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
            guard part != ".." else { throw .usage("The bundle entry `\(DisplayText.escaped(raw))` leaves the bundle (`..`)") }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    /// Checks the archive as the tree it unpacks to, so that nothing can reach outside it:
    /// - every path is unique (a folder may repeat as a folder; nothing else may reuse a name, so a
    ///   link can never be replaced by a folder or a file and the other way round);
    /// - no entry lies below a symlink or a file: unpacking never goes through a link;
    /// - a symlink is a leaf whose target, resolved through every link of the archive in turn (a chain
    ///   `y -> x/..`, `x -> a/b/..`, `a/b -> ..`), stays inside the archive at every step.
    /// Each link looking fine alone proves nothing; the chain is what the kernel follows.
    static func validated(_ archive: TarArchive) throws(AirlockError) -> TarArchive {
        var kinds: [String: EntryKind] = [:]
        var links: [String: String] = [:]
        for entry in archive.entries {
            if let earlier = kinds[entry.path], earlier != .directory || entry.kind != .directory {
                throw .usage("The bundle has `\(DisplayText.escaped(entry.path))` twice (a name may not be reused)")
            }
            kinds[entry.path] = entry.kind
            if entry.kind == .symlink { links[entry.path] = entry.linkTarget ?? "" }
        }
        for entry in archive.entries {
            var ancestor = ""
            for component in entry.path.split(separator: "/").dropLast() {
                ancestor = ancestor.isEmpty ? String(component) : ancestor + "/" + component
                if let kind = kinds[ancestor], kind != .directory {
                    throw .usage("The bundle entry `\(DisplayText.escaped(entry.path))` lies under the \(kind == .symlink ? "symlink" : "file") `\(DisplayText.escaped(ancestor))`; bundles may not place anything under a link or a file")
                }
            }
        }
        for path in links.keys.sorted() {
            try checkLinkStaysInside(path, links: links)
        }
        return archive
    }

    /// Resolves a link the way the kernel would, but inside the archive's own tree: each component
    /// that is itself a link of the archive is replaced by that link's target (at most 40 hops, as
    /// Linux allows), and `..` may never climb above the archive's root.
    private static func checkLinkStaysInside(_ path: String, links: [String: String]) throws(AirlockError) {
        var resolved: [Substring] = Array(path.split(separator: "/").dropLast())
        var pending: [Substring] = []
        var hops = 0
        func follow(_ link: String) throws(AirlockError) {
            let target = links[link] ?? ""
            guard !target.isEmpty else { throw .usage("The bundle entry `\(DisplayText.escaped(link))` is a link with no target") }
            guard !target.hasPrefix("/") else { throw .usage("The bundle entry `\(DisplayText.escaped(link))` links to an absolute path") }
            hops += 1
            guard hops <= 40 else { throw .usage("The bundle entry `\(DisplayText.escaped(path))` is a chain of more than 40 links (or a loop)") }
            pending.append(contentsOf: target.split(separator: "/", omittingEmptySubsequences: true).reversed())
        }
        try follow(path)
        while let part = pending.popLast() {
            if part == "." { continue }
            if part == ".." {
                guard resolved.popLast() != nil else {
                    throw .usage("The bundle entry `\(DisplayText.escaped(path))` links out of the bundle (`\(DisplayText.escaped(links[path] ?? ""))`, followed through the bundle's links)")
                }
                continue
            }
            resolved.append(part)
            let current = resolved.joined(separator: "/")
            if links[current] != nil {
                resolved.removeLast()
                try follow(current)
            }
        }
    }

    private static func header(name: String, size: Int, type: UInt8, mode: Int, link: String) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ offset: Int, _ length: Int) {
            for (index, byte) in text.utf8.prefix(length).enumerated() { header[offset + index] = byte }
        }
        func octalField(_ value: Int, _ offset: Int, _ length: Int) {
            put(String(String(value, radix: 8).suffix(length - 1)).leftPadded(to: length - 1), offset, length - 1)
        }
        put(name, 0, 100)
        octalField(mode, 100, 8)
        octalField(0, 108, 8)
        octalField(0, 116, 8)
        octalField(size, 124, 12)
        octalField(0, 136, 12)
        header[156] = type
        put(link, 157, 100)
        put("ustar", 257, 6)
        put("00", 263, 2)
        for index in 148..<156 { header[index] = 0x20 }
        let checksum = header.reduce(0) { $0 + Int($1) }
        put(String(String(checksum, radix: 8)).leftPadded(to: 6), 148, 6)
        header[154] = 0
        header[155] = 0x20
        return header
    }

    private static func padded(_ bytes: [UInt8]) -> [UInt8] {
        bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
    }

    private static func checksumMatches(_ header: [UInt8]) -> Bool {
        var copy = header
        for index in 148..<156 { copy[index] = 0x20 }
        return copy.reduce(0) { $0 + Int($1) } == octal(header[148..<156])
    }

    private static func octal(_ field: ArraySlice<UInt8>) -> Int {
        var value = 0
        for byte in field {
            if byte == 0 || byte == 0x20 { if value > 0 { break } else { continue } }
            guard byte >= 0x30, byte <= 0x37 else { return -1 }
            value = value * 8 + Int(byte - 0x30)
        }
        return value
    }

    private static func string(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// `path → sha256` of every file (symlinks as `-> target`): what a bundle's version is computed from.
    public var manifest: BundleManifest {
        var files: [String: String] = [:]
        for entry in entries {
            switch entry.kind {
            case .file: files[entry.path] = SHA256.hex(bytes: entry.contents)
            case .symlink: files[entry.path] = SHA256.hex("-> " + (entry.linkTarget ?? ""))
            case .directory: break
            }
        }
        return BundleManifest(files: files)
    }
}

/// The files of a bundle and their hashes; its `digest` is the bundle's version (SPEC §4.1: the
/// project-image digest and the DAG bundle version are sha256 over the files, not over tar bytes).
public struct BundleManifest: Hashable, Sendable, Codable {
    public var files: [String: String]

    public init(files: [String: String]) {
        self.files = files
    }

    /// sha256 over the sorted `path\0hash\n` lines: the same files always give the same digest.
    public var digest: String {
        var hasher = SHA256()
        for path in files.keys.sorted() {
            hasher.update(path)
            hasher.update([0])
            hasher.update(files[path] ?? "")
            hasher.update([0x0A])
        }
        return hasher.finalizeHex()
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
