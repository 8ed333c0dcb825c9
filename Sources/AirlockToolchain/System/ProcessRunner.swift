import AirlockCore
import Foundation

/// What a finished child process left behind.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var timedOut: Bool
    /// The time limit the process ran under, in seconds.
    public var limit: Double
    public var succeeded: Bool { status == 0 && !timedOut }

    /// The error for a tool that hit its time limit (exit 3), naming the tool and the limit.
    public func timeoutError(_ tool: String, doing what: String? = nil) -> AirlockError {
        .environment("`\(tool)` did not finish within its time limit of \(Int(limit.rounded())) s\(what.map { " (\($0))" } ?? ""); it was stopped with every process it started",
                     hint: "look for files that block when read (FIFOs, devices) or a tool waiting for input, then run again")
    }
}

/// Runs child processes without deadlocking on full pipes: output goes to temporary files.
///
/// Every child has a time limit, is registered with `ChildProcessGroups` while it runs (so SIGINT/SIGTERM
/// of Airlock stops it and everything it started), and gets `TMPDIR` pointing into this call's scratch
/// folder, which is removed when the call returns: a tool's temporary files never outlive it, and neither
/// does any process it left behind (each still carries that `TMPDIR`, and is killed when the child ends).
/// A caller that starts a daemon on purpose gives it a `TMPDIR` of its own in `environment`.
public enum ProcessRunner {
    /// The limit of a child whose caller names none.
    public static let defaultTimeout: Double = 600

    /// Runs `executable` with `arguments` and waits for it.
    /// - Parameters:
    ///   - environment: variables added to (or replacing) the inherited environment.
    ///   - timeout: seconds after which the process group is stopped (SIGTERM, then SIGKILL) and the output
    ///     says `timedOut`; `ProcessOutput.timeoutError` is the message for it.
    ///     When the calling task is cancelled, the process group is stopped the same way and the call returns
    ///     what the process left.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           workingDirectory: String? = nil, timeout: Double = defaultTimeout) async throws(AirlockError) -> ProcessOutput {
        try await run(executable, arguments, environment: environment, workingDirectory: workingDirectory, timeout: timeout,
                      cancelGrace: ChildProcessGroups.grace)
    }

    /// `run`, giving a cancelled child `cancelGrace` seconds between SIGTERM and SIGKILL: a tool that records
    /// its own end on SIGTERM (`helm upgrade` marks its release failed) needs a few.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           workingDirectory: String? = nil, timeout: Double = defaultTimeout,
                           cancelGrace: Double) async throws(AirlockError) -> ProcessOutput {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-proc-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        } catch {
            throw .environment("Cannot create a temporary folder: \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let childTemporary = scratch.appendingPathComponent("tmp")
        try? FileManager.default.createDirectory(at: childTemporary, withIntermediateDirectories: true)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["TMPDIR"] = childTemporary.path
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        do {
            process.standardOutput = try FileHandle(forWritingTo: outURL)
            process.standardError = try FileHandle(forWritingTo: errURL)
        } catch {
            throw .environment("Cannot capture the output of `\(executable)`: \(error.localizedDescription)")
        }
        process.standardInput = FileHandle.nullDevice

        let timedOut = SetOnceFlag()
        let finished = SetOnceFlag()
        let leftoverEntry = "TMPDIR=\(childTemporary.path)"
        do {
            try await withTaskCancellationHandler { try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                process.terminationHandler = { ended in
                    finished.set()
                    // What the child left running ends with it, whether or not it held the run open: a daemon
                    // that closed its descriptors (a DAG file's double fork) is otherwise never noticed.
                    ChildProcessGroups.killProcesses(withEnvironmentEntry: leftoverEntry)
                    ChildProcessGroups.shared.ended(ended.processIdentifier)
                    continuation.resume()
                }
                if let failure = spawnWithDefaultSignalMask(process) {
                    process.terminationHandler = nil
                    continuation.resume(throwing: AirlockError.environment(failure))
                    return
                }
                let pid = process.processIdentifier
                ChildProcessGroups.shared.started(pid)
                if !process.isRunning { ChildProcessGroups.shared.ended(pid) }  // ended before it was registered
                releaseWhenOnlyDescendantsRemain(pid, environmentEntry: leftoverEntry, finished: finished)
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                    if process.isRunning {
                        timedOut.set()
                        // The child leads its own process group (Foundation on Linux): its helpers stop too.
                        ChildProcessGroups.stop(group: pid, grace: ChildProcessGroups.grace)
                    }
                }
                // Cancelled before the child was spawned: the handler below found nothing to stop.
                if Task.isCancelled { DispatchQueue.global().async { ChildProcessGroups.stop(group: pid, grace: cancelGrace) } }
            } } onCancel: {
                if process.isRunning {
                    let pid = process.processIdentifier
                    DispatchQueue.global().async { ChildProcessGroups.stop(group: pid, grace: cancelGrace) }
                }
            }
        } catch {
            let reason = (error as? AirlockError)?.message ?? error.localizedDescription
            throw .environment("Cannot run `\(executable)`: \(reason)")
        }
        let stdout = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return ProcessOutput(status: process.terminationStatus, stdout: stdout, stderr: stderr, timedOut: timedOut.value, limit: timeout)
    }

    /// Kills what the child left running once the child itself has exited, so its end is reported.
    ///
    /// Foundation learns that a child ended from a socket the child inherits, not from `SIGCHLD`: a
    /// process the child left behind (a DAG file's `os.system("setsid … &")`, outside every group)
    /// holds that socket, and the run waited for it — 6 min 23 s for a DAG file that started a
    /// 377-second daemon. Checked every half second: when the child is a zombie (exited, not yet reaped)
    /// or gone, every process still carrying this run's `TMPDIR` is killed.
    private static func releaseWhenOnlyDescendantsRemain(_ pid: pid_t, environmentEntry: String, finished: SetOnceFlag) {
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) {
            if finished.value { return }
            let state = ChildProcessGroups.statFields(String(pid))?.first
            if state == nil || state == "Z" {
                ChildProcessGroups.killProcesses(withEnvironmentEntry: environmentEntry)
            }
            releaseWhenOnlyDescendantsRemain(pid, environmentEntry: environmentEntry, finished: finished)
        }
    }

    /// Starts `process` from a fresh thread whose signal mask is empty, and returns the error text
    /// if it could not start.
    ///
    /// A spawned child inherits the spawning thread's signal mask, and Dispatch's worker threads (where
    /// async code runs) block almost every signal, SIGTERM included: a child started from there
    /// ignores SIGTERM and can only be killed, never stopped gracefully. Foundation offers no
    /// `POSIX_SPAWN_SETSIGMASK`, so the spawn happens on a thread that has unblocked everything.
    ///
    /// Spawns take turns (`spawnLock`): Foundation on Linux emulates close-on-exec by closing in the child the
    /// descriptors that were open when `run()` listed them, and makes the socket through which it learns of a
    /// child's end without close-on-exec. Two spawns at once race: one child can inherit the other's socket
    /// and hide that child's end until it exits itself (a `kubectl get pods` spawned beside `helm upgrade
    /// --wait` stayed a zombie, its run waiting for Helm's 900 s).
    public static func spawnWithDefaultSignalMask(_ process: Process) -> String? {
        spawnLock.lock()
        defer { spawnLock.unlock() }
        let box = SpawnResult()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var empty = sigset_t()
            sigemptyset(&empty)
            pthread_sigmask(SIG_SETMASK, &empty, nil)
            do { try process.run() } catch { box.failure = error.localizedDescription }
            done.signal()
        }
        thread.start()
        done.wait()  // a few milliseconds: posix_spawn returns as soon as the child exists
        return box.failure
    }

    private final class SpawnResult: @unchecked Sendable { var failure: String? }

    private static let spawnLock = NSLock()

    /// The first executable called `name` on `PATH`, if any.
    public static func which(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        for directory in (path ?? "").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// A flag set once, read from any thread (a time limit was hit; the child's end was reported).
private final class SetOnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.lock(); flag = true; lock.unlock() }
    var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}
