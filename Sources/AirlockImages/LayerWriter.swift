import AirlockCore
import CImageCodecs
import Foundation

/// A finished image layer on disk: the gzip blob, its digest (what registries address) and its
/// diff_id (the digest of the uncompressed tar, what the image config lists).
public struct LayerBlob: Hashable, Sendable, Codable {
    /// `sha256:…` of the compressed blob.
    public var digest: String
    /// `sha256:…` of the uncompressed tar.
    public var diffID: String
    /// Bytes of the compressed blob.
    public var size: Int64
    /// The blob file.
    public var file: URL
    public static let mediaType = "application/vnd.oci.image.layer.v1.tar+gzip"

    public init(digest: String, diffID: String, size: Int64, file: URL) {
        self.digest = digest
        self.diffID = diffID
        self.size = size
        self.file = file
    }
}

/// Incremental SHA-256 over OpenSSL's libcrypto (layer blobs are too large for the pure-Swift
/// `AirlockCore.SHA256` in a debug build; the digests are the same).
final class BlobHasher {
    private let context: OpaquePointer

    init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    /// `sha256:` followed by 64 lowercase hex characters (call once).
    func finalize() -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return "sha256:" + digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }

    /// The digest of a whole byte array (manifests, configs).
    static func digest(_ data: some ContiguousBytes) -> String {
        let hasher = BlobHasher()
        data.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }
}

/// Writes a deterministic tar stream through gzip into a file, hashing both sides as it goes.
///
/// Deterministic: every header has mtime 0, uid/gid 0, no user or group names; long names and link
/// targets go into pax records; gzip (zlib, level 6) writes a header with no name and mtime 0. The
/// caller supplies entries in sorted order. The same entries give the same bytes on any machine
/// with the same zlib.
final class LayerTarWriter {
    private var stream = z_stream()
    private let tarHasher = BlobHasher()
    private let blobHasher = BlobHasher()
    private let output: FileHandle
    private let file: URL
    private var compressedSize: Int64 = 0
    private var pending: [UInt8] = []
    private var outputBuffer = [UInt8](repeating: 0, count: 1 << 18)
    private var finished = false

    init(file: URL) throws(AirlockError) {
        self.file = file
        guard FileManager.default.createFile(atPath: file.path, contents: nil), let handle = try? FileHandle(forWritingTo: file) else {
            throw .environment("Cannot create the layer file `\(file.path)`")
        }
        output = handle
        pending.reserveCapacity(1 << 20)
        // windowBits 15 + 16: a gzip wrapper with zlib's default header (mtime 0, no name, OS 3).
        let status = deflateInit2_(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw .environment("zlib could not start a gzip stream (\(status))") }
    }

    deinit {
        if !finished { deflateEnd(&stream) }
        try? output.close()
    }

    /// A directory entry (`path` without a trailing slash).
    func directory(_ path: String, mode: Int) throws(AirlockError) {
        try header(path: path + "/", type: UInt8(ascii: "5"), size: 0, mode: mode, link: "")
    }

    func symlink(_ path: String, target: String) throws(AirlockError) {
        try header(path: path, type: UInt8(ascii: "2"), size: 0, mode: 0o777, link: target)
    }

    /// A regular file whose bytes are `contents`.
    func file(_ path: String, mode: Int, contents: [UInt8]) throws(AirlockError) {
        try header(path: path, type: UInt8(ascii: "0"), size: Int64(contents.count), mode: mode, link: "")
        try write(contents)
        try pad(Int64(contents.count))
    }

    /// A regular file copied from disk in chunks (environment folders hold files of any size).
    func file(_ path: String, mode: Int, from source: String, size: Int64) throws(AirlockError) {
        try header(path: path, type: UInt8(ascii: "0"), size: size, mode: mode, link: "")
        guard let input = FileHandle(forReadingAtPath: source) else { throw .environment("Cannot read `\(source)`") }
        defer { try? input.close() }
        var copied: Int64 = 0
        while copied < size {
            let chunk: Data
            do { chunk = try input.read(upToCount: Int(min(size - copied, 1 << 20))) ?? Data() } catch {
                throw .environment("Cannot read `\(source)`: \(error.localizedDescription)")
            }
            guard !chunk.isEmpty else { throw .environment("`\(source)` changed while it was being packed into a layer") }
            try write(Array(chunk))
            copied += Int64(chunk.count)
        }
        try pad(size)
    }

    /// Ends the archive (two zero blocks), flushes gzip and returns the blob.
    func finish() throws(AirlockError) -> LayerBlob {
        try write([UInt8](repeating: 0, count: 1024))
        try deflatePending(flush: Z_FINISH)
        deflateEnd(&stream)
        finished = true
        do { try output.close() } catch { throw .environment("Cannot write the layer file `\(file.path)`: \(error.localizedDescription)") }
        let tar = tarHasher.finalize()
        let blob = blobHasher.finalize()
        return LayerBlob(digest: blob, diffID: tar, size: compressedSize, file: file)
    }

    private func pad(_ size: Int64) throws(AirlockError) {
        let remainder = Int(size % 512)
        if remainder != 0 { try write([UInt8](repeating: 0, count: 512 - remainder)) }
    }

    private func header(path: String, type: UInt8, size: Int64, mode: Int, link: String) throws(AirlockError) {
        var pax: [(String, String)] = []
        let (prefix, name) = Self.splitUstarName(path) ?? ("", "")
        if name.isEmpty { pax.append(("path", path)) }
        if link.utf8.count > 100 || !link.utf8.allSatisfy({ $0 < 0x80 }) { pax.append(("linkpath", link)) }
        if size > 0o77777777777 { pax.append(("size", String(size))) }
        if !pax.isEmpty {
            var records: [UInt8] = []
            for (key, value) in pax { records += Self.paxRecord(key, value) }
            let paxName = "PaxHeaders/" + String(decoding: path.utf8.suffix(80), as: UTF8.self).replacingOccurrences(of: "/", with: "_")
            try write(Self.ustarHeader(prefix: "", name: Self.asciiPrefix(paxName, 99), type: UInt8(ascii: "x"), size: Int64(records.count), mode: 0o644, link: ""))
            try write(records)
            try pad(Int64(records.count))
        }
        let shortName = name.isEmpty ? Self.asciiPrefix(path, 99) : name
        let shortLink = link.utf8.count > 100 ? Self.asciiPrefix(link, 99) : link
        try write(Self.ustarHeader(prefix: name.isEmpty ? "" : prefix, name: shortName, type: type, size: size > 0o77777777777 ? 0 : size, mode: mode, link: shortLink))
    }

    /// Splits a path into ustar's prefix (≤155 bytes) and name (≤100 bytes); nil when it does not fit
    /// or is not ASCII (then a pax `path` record carries it).
    static func splitUstarName(_ path: String) -> (String, String)? {
        let bytes = Array(path.utf8)
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        if bytes.count <= 100 { return ("", path) }
        for index in bytes.indices.reversed() where bytes[index] == UInt8(ascii: "/") {
            let prefix = bytes[..<index], name = bytes[(index + 1)...]
            if prefix.count <= 155, name.count <= 100, !name.isEmpty {
                return (String(decoding: prefix, as: UTF8.self), String(decoding: name, as: UTF8.self))
            }
        }
        return nil
    }

    private static func asciiPrefix(_ text: String, _ length: Int) -> String {
        String(decoding: text.utf8.filter { $0 < 0x80 }.prefix(length), as: UTF8.self)
    }

    /// `"<length> key=value\n"`, where length counts the whole record including itself.
    static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length += 1 }
        return Array((String(length) + body).utf8)
    }

    static func ustarHeader(prefix: String, name: String, type: UInt8, size: Int64, mode: Int, link: String) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ offset: Int, _ length: Int) {
            for (index, byte) in text.utf8.prefix(length).enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int64, _ offset: Int, _ length: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, length - 1 - digits.count)) + digits, offset, length - 1)
        }
        put(name, 0, 100)
        octal(Int64(mode & 0o7777), 100, 8)
        octal(0, 108, 8)  // uid
        octal(0, 116, 8)  // gid
        octal(size, 124, 12)
        octal(0, 136, 12)  // mtime
        header[156] = type
        put(link, 157, 100)
        put("ustar", 257, 6)  // "ustar\0"
        put("00", 263, 2)
        octal(0, 329, 8)  // devmajor
        octal(0, 337, 8)  // devminor
        put(prefix, 345, 155)
        for index in 148..<156 { header[index] = 0x20 }
        let checksum = header.reduce(0) { $0 + Int64($1) }
        octal(checksum, 148, 7)
        header[155] = 0x20
        return header
    }

    private func write(_ bytes: [UInt8]) throws(AirlockError) {
        bytes.withUnsafeBytes { tarHasher.update($0) }
        pending += bytes
        if pending.count >= 1 << 20 { try deflatePending(flush: Z_NO_FLUSH) }
    }

    private func deflatePending(flush: Int32) throws(AirlockError) {
        var failure: AirlockError?
        pending.withUnsafeMutableBytes { input in
            stream.next_in = input.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = uInt(input.count)
            repeat {
                let produced: Int = outputBuffer.withUnsafeMutableBytes { out in
                    stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(out.count)
                    let status = deflate(&stream, flush)
                    if status == Z_STREAM_ERROR { failure = .environment("zlib failed while compressing a layer") }
                    return out.count - Int(stream.avail_out)
                }
                if failure != nil { return }
                if produced > 0 {
                    outputBuffer.withUnsafeBytes { blobHasher.update(UnsafeRawBufferPointer(rebasing: $0.prefix(produced))) }
                    do { try output.write(contentsOf: outputBuffer.prefix(produced)) } catch {
                        failure = .environment("Cannot write the layer file `\(file.path)`: \(error.localizedDescription)")
                        return
                    }
                    compressedSize += Int64(produced)
                }
            } while stream.avail_out == 0 || (flush == Z_FINISH && stream.avail_in > 0)
            stream.next_in = nil
        }
        if let failure { throw failure }
        pending.removeAll(keepingCapacity: true)
    }
}
