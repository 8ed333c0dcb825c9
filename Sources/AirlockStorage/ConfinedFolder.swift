import AirlockCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes below one folder without ever following a symlink on the way.
///
/// Checking an upload's names is not enough on its own: what matters is what the kernel follows
/// when a path is opened. So every folder on a path is opened relative to its parent with
/// `O_NOFOLLOW` (created first when missing), and files and links are created relative to that
/// folder's descriptor — a link already on disk, planted by an earlier entry or an earlier
/// artifact, makes the write fail instead of leading it elsewhere. Used for unpacking uploads into
/// the artifact store and for assembling release folders from artifacts.
public struct ConfinedFolder: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    /// Creates `relative` (and the folders above it) as real folders.
    public func createDirectory(_ relative: String) throws(AirlockError) {
        let folder = try openFolder(components(relative))
        close(folder)
    }

    /// Writes a file. With `replacing`, an existing file or link of that name is removed first (the
    /// link itself, never what it points at); otherwise an existing name is an error.
    public func writeFile(_ relative: String, contents: [UInt8], executable: Bool, replacing: Bool = false) throws(AirlockError) {
        let (parent, name) = try openParent(relative)
        defer { close(parent) }
        if replacing { unlinkat(parent, name, 0) }
        let descriptor = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, executable ? 0o755 : 0o644)
        guard descriptor >= 0 else { throw failure("create", relative) }
        defer { close(descriptor) }
        var written = 0
        while written < contents.count {
            let count = contents.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw failure("write", relative) }
            written += count
        }
        fchmod(descriptor, executable ? 0o755 : 0o644)
    }

    /// Creates a symlink (its target is not followed or checked here; `TarArchive` checks targets).
    public func createSymlink(_ relative: String, target: String, replacing: Bool = false) throws(AirlockError) {
        let (parent, name) = try openParent(relative)
        defer { close(parent) }
        if replacing { unlinkat(parent, name, 0) }
        guard symlinkat(target, parent, name) == 0 else { throw failure("link", relative) }
    }

    private func components(_ relative: String) throws(AirlockError) -> [String] {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard !parts.contains(".."), !parts.contains("."), !relative.hasPrefix("/") else {
            throw .usage("`\(relative)` is not a plain relative path")
        }
        return parts
    }

    private func openParent(_ relative: String) throws(AirlockError) -> (Int32, String) {
        var parts = try components(relative)
        guard let name = parts.popLast() else { throw .usage("An empty path cannot be written") }
        return (try openFolder(parts), name)
    }

    /// Opens the folder at `parts` below the root, one component at a time (creating what is missing),
    /// never through a link.
    private func openFolder(_ parts: [String]) throws(AirlockError) -> Int32 {
        var folder = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { throw failure("open", root.path) }
        var walked = ""
        for part in parts {
            walked = walked.isEmpty ? part : walked + "/" + part
            mkdirat(folder, part, 0o755)
            let next = openat(folder, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let error = errno
            close(folder)
            guard next >= 0 else {
                if error == ELOOP || error == ENOTDIR {
                    throw .usage("`\(walked)` is a symlink or a file, and nothing is written through it")
                }
                throw failure("open", walked, error)
            }
            folder = next
        }
        return folder
    }

    private func failure(_ action: String, _ path: String, _ code: Int32 = errno) -> AirlockError {
        if code == ELOOP || code == EEXIST {
            return .usage("Cannot \(action) `\(path)`: \(String(cString: strerror(code))) (a name is reused or is a link)")
        }
        return .environment("Cannot \(action) `\(path)` under `\(root.path)`: \(String(cString: strerror(code)))")
    }
}
