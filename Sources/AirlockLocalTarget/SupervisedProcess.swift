import AirlockCore
import AirlockToolchain
import Foundation

/// One long-running child process in its own process group, with output going to a log file.
///
/// Not `ProcessRunner`: that one waits for the end. Exit is observed with `terminationHandler`
/// (Foundation reaps the child there), never `waitUntilExit()`, which spins the run loop on Linux.
/// Foundation on Linux starts every child as the leader of a new process group, which is what lets
/// `stop` signal the helpers a component forks (gunicorn workers, the log server, executor workers).
final class SupervisedProcess: @unchecked Sendable {
    let name: String
    let logFile: URL
    private let process: Process
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `executable` at once.
    init(name: String, executable: URL, arguments: [String], environment: [String: String],
         workingDirectory: URL, logFile: URL) throws(AirlockError) {
        self.name = name
        self.logFile = logFile
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = workingDirectory
        process.standardInput = FileHandle.nullDevice
        let handle: FileHandle
        do {
            FileManager.default.createFile(atPath: logFile.path, contents: nil)
            handle = try FileHandle(forWritingTo: logFile)
            handle.seekToEndOfFile()
        } catch {
            throw .environment("Cannot open the log file `\(logFile.path)`: \(error.localizedDescription)")
        }
        process.standardOutput = handle
        process.standardError = handle
        process.terminationHandler = { [weak self] finished in
            guard let self else { return }
            self.lock.lock()
            self.exitStatus = finished.terminationStatus
            self.lock.unlock()
        }
        if let failure = ProcessRunner.spawnWithDefaultSignalMask(process) {
            try? handle.close()
            throw .environment("Cannot start the \(name) (`\(executable.path) \(arguments.joined(separator: " "))`): \(failure)")
        }
        try? handle.close()  // the child has its own copy
        logIdentity = ProcessGroups.FileIdentity(path: logFile.path)
    }

    /// The log file's identity, to find every process that writes to it (see `ProcessGroups.processes(writingTo:)`).
    private(set) var logIdentity: ProcessGroups.FileIdentity?

    var pid: Int32 { process.processIdentifier }

    /// The exit status once the leader has exited and been reaped.
    var exited: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return exitStatus
    }

    /// Whether the leader runs (not exited, not a zombie waiting to be reaped).
    var leaderAlive: Bool { exited == nil && ProcessGroups.isAlive(pid) }

    /// Whether any process of the group (the leader or something it forked) is still alive.
    var groupAlive: Bool { leaderAlive || ProcessGroups.hasLiveMembers(pid) }

    /// Signals the whole process group (falls back to the leader alone if it has no group of its own).
    func signal(_ signal: Int32) {
        guard pid > 0 else { return }
        if getpgid(pid) == pid || ProcessGroups.hasLiveMembers(pid) {
            kill(-pid, signal)
        } else if exited == nil {
            kill(pid, signal)
        }
    }
}

/// Process-group queries that do not count zombies as alive.
public enum ProcessGroups {
    /// Whether a process other than a zombie is in process group `pgid`.
    ///
    /// On Linux this reads `/proc`: orphaned helpers are re-parented to PID 1, which may reap them
    /// late (or never, in some containers), and `kill(-pgid, 0)` succeeds for zombies.
    public static func hasLiveMembers(_ pgid: Int32) -> Bool {
        #if os(Linux)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else {
            return kill(-pgid, 0) == 0
        }
        for entry in entries where entry.first?.isNumber == true {
            guard let fields = ChildProcessGroups.statFields(entry), fields.count > 2, Int32(fields[2]) == pgid else { continue }
            if fields[0] != "Z" && fields[0] != "X" { return true }
        }
        return false
        #else
        return kill(-pgid, 0) == 0
        #endif
    }

    /// Identity of an open file: device and inode, stable across renames and deletion.
    public struct FileIdentity: Sendable, Hashable {
        public var device: UInt64
        public var inode: UInt64
        public init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    /// Live (non-zombie) processes whose stdout or stderr is one of `files`.
    ///
    /// How a supervisor finds helpers that left its process groups: the 2.x scheduler's
    /// `DagFileProcessorManager` makes its own process group, blocks SIGTERM and outlives its
    /// scheduler as an orphan of PID 1. Every descendant inherits the component's log file as
    /// stdout/stderr, and that survives `setproctitle` (which clobbers `/proc/PID/environ`, so an
    /// environment marker does not work) and log rotation. Linux only (`/proc`); elsewhere none.
    public static func processes(writingTo files: Set<FileIdentity>) -> [Int32] {
        #if os(Linux)
        guard !files.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var result: [Int32] = []
        for entry in entries where entry.first?.isNumber == true {
            guard let pid = Int32(entry), pid != getpid() else { continue }
            let writes = ["1", "2"].contains { fd in
                FileIdentity(path: "/proc/\(entry)/fd/\(fd)").map(files.contains) ?? false
            }
            if writes && isAlive(pid) { result.append(pid) }
        }
        return result
        #else
        return []
        #endif
    }

    /// Whether process `pid` exists and is not a zombie.
    public static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        #if os(Linux)
        if let state = ChildProcessGroups.statFields(String(pid))?.first {
            return state != "Z" && state != "X"
        }
        #endif
        return true
    }
}
