import AirlockCore
import Foundation

/// An exclusive advisory lock on a file (`flock(2)`), held across processes.
///
/// `flock` locks belong to the open file description, so two `FileLock`s on one file exclude each
/// other within one process too, and the kernel frees the lock when the holding process dies (a
/// SIGKILLed holder never leaves it taken). Shared by the environment cache, the tool installs and
/// the SQLite deploy history's per-deployment locks.
public final class FileLock: @unchecked Sendable {
    private let descriptor: Int32
    private let path: String

    public init(_ url: URL) throws(AirlockError) {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        path = url.path
        descriptor = open(url.path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .environment("Cannot open lock file `\(url.path)`") }
    }

    /// Waits for the lock without blocking a cooperative thread.
    public func acquire() async throws(AirlockError) {
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw .environment("Cannot lock `\(path)`") }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
    }

    public func release() {
        flock(descriptor, LOCK_UN)
    }

    deinit { close(descriptor) }
}
