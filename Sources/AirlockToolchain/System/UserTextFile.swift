import AirlockCore
import Foundation
import PythonPackaging

/// Reads the text files of a user's project (Dockerfile, requirements, `.env`, …): one place that
/// never blocks on a FIFO or a device, bounds the size, strips a UTF-8 BOM and turns CRLF / CR into LF
/// (`UserText`), so every reader gets the same clean text and every refusal has the same clear message.
public enum UserTextFile {
    /// The largest text file Airlock reads from a project (a `--hash`-pinned requirements file of a big
    /// project is about 1 MB): the requirements parser's bound, so both refuse the same files.
    public static let maximumBytes = RequirementsFileParser.maximumFileBytes

    /// The text of `url`, or nil when nothing exists there.
    /// - Parameter displayName: how messages name the file, e.g. `Dockerfile` or `requirements.txt`.
    /// - Throws: `AirlockError.usage` when it is not a regular file (a FIFO, a folder, a device), is
    ///   larger than `maximumBytes`, is a symlink loop, or cannot be read.
    public static func read(_ url: URL, displayName rawName: String) throws(AirlockError) -> String? {
        let displayName = DisplayText.escaped(rawName)
        // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
        let descriptor = open(url.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if descriptor < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return nil }
            if code == ELOOP { throw .usage("`\(displayName)` is a symbolic link loop") }
            throw .usage("Cannot read `\(displayName)`: \(String(cString: strerror(code)))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw .usage("Cannot read `\(displayName)`: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .usage("`\(displayName)` is not a regular file (\(kindDescription(info.st_mode))); Airlock reads only regular files")
        }
        guard info.st_size <= maximumBytes else {
            throw .usage("`\(displayName)` is \(info.st_size) bytes; Airlock reads project text files of at most \(maximumBytes >> 20) MiB")
        }
        var data = Data(count: Int(info.st_size))
        var total = 0
        while total < data.count {
            let count = data.withUnsafeMutableBytes { buffer in
                Foundation.read(descriptor, buffer.baseAddress! + total, buffer.count - total)
            }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw .usage("Cannot read `\(displayName)`: \(String(cString: strerror(errno)))") }
            if count == 0 { data.removeSubrange(total...); break }  // shrank while being read
            total += count
        }
        return UserText.decode(data)
    }

    /// What a non-regular file is, for messages.
    static func kindDescription(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a folder"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        default: "not a regular file"
        }
    }
}

/// Paths after every symbolic link is followed, to tell whether a file is really inside a folder.
public enum ResolvedPath {
    /// `path` with every symlink, `.` and `..` resolved; nil when it does not exist (or is a loop).
    public static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `path` resolves to `root` itself or something below it; nil when `path` does not exist.
    public static func isInside(_ path: String, root: String) -> Bool? {
        guard let file = resolve(path) else { return nil }
        let base = resolve(root) ?? root
        return file == base || file.hasPrefix(base == "/" ? "/" : base + "/")
    }
}
