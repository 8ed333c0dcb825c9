import AirlockCore
import Foundation

/// A command run that leaves nothing behind, however it ends: every temporary file of Airlock and of the
/// tools it starts (uv, ruff, the DAG-parse harness, Airflow) lives in one folder of the run, set as
/// `TMPDIR` so children use it too; on SIGINT/SIGTERM every child process group is stopped, that folder is
/// removed, and Airlock exits with 128 + the signal (130, 143) — `defer` blocks never run on a signal,
/// so cleanup cannot rely on them.
///
/// For one-shot commands only: `airlock server` starts Airflow processes that outlive it and keeps the
/// system temporary folder and its own shutdown.
public enum RunCleanup {
    private static let state = State()

    /// Creates the run's temporary folder under the current one and points `TMPDIR` at it (this process's
    /// `FileManager.temporaryDirectory` and every child's `tempfile`).
    public static func useOwnTemporaryFolder() {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/airlock-run-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { return }  // keep the system folder; nothing else changes
        let folder = String(cString: made)
        state.setFolder(folder)
        setenv("TMPDIR", folder, 1)
    }

    /// The run's temporary folder, when `useOwnTemporaryFolder` made one.
    public static var temporaryFolder: String? { state.folder }

    /// Removes the run's temporary folder (at the end of the command, whatever its outcome).
    public static func removeTemporaryFolder() {
        guard let folder = state.takeFolder() else { return }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Whether a SIGINT/SIGTERM is being handled: the command's own ending must leave the exit to it.
    public static var isStopping: Bool { ChildProcessGroups.shared.isStopping }

    /// Handles SIGINT and SIGTERM: stop every child process group, remove the run's temporary folder, say
    /// so on standard error and exit with 128 + the signal.
    public static func handleTerminationSignals() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        signalPipeWriteEnd = fds[1]
        let readEnd = fds[0]
        let thread = Thread {
            var byte: UInt8 = 0
            while read(readEnd, &byte, 1) != 1 {}
            stopForSignal(Int32(byte))
        }
        thread.start()
        signal(SIGINT, onTerminationSignal)
        signal(SIGTERM, onTerminationSignal)
    }

    private static func stopForSignal(_ signo: Int32) -> Never {
        let stopped = ChildProcessGroups.shared.stopAll()
        let folder = temporaryFolder
        // Whatever left the groups (a DAG file's process whose harness died first) still has the run's TMPDIR.
        if let folder { ChildProcessGroups.killProcesses(withEnvironmentEntry: "TMPDIR=\(folder)") }
        removeTemporaryFolder()
        // The rest of Airlock keeps running until `_exit`: a task whose child just died may make its next
        // scratch folder in the run's folder (recreating it) while it is being removed. Remove again until
        // it stays gone; the window left before `_exit` is a few instructions.
        if let folder {
            for _ in 0..<25 where FileManager.default.fileExists(atPath: folder) {
                usleep(20_000)
                try? FileManager.default.removeItem(atPath: folder)
            }
        }
        let name = signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "signal \(signo)"
        let children = stopped == 0 ? "no child process was running" : "\(stopped) child process\(stopped == 1 ? "" : "es") stopped"
        let message = "error: interrupted by \(name): \(children), temporary files removed\n"
        message.utf8CString.withUnsafeBufferPointer { buffer in _ = write(2, buffer.baseAddress, buffer.count - 1) }
        _exit(128 + signo)
    }

    private final class State: @unchecked Sendable {
        private let lock = NSLock()
        private var value: String?
        var folder: String? { lock.lock(); defer { lock.unlock() }; return value }
        func setFolder(_ folder: String) { lock.lock(); value = folder; lock.unlock() }
        func takeFolder() -> String? { lock.lock(); defer { value = nil; lock.unlock() }; return value }
    }
}

/// Written by the signal handler (only `write`, which is async-signal-safe); read by the cleanup thread.
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

private let onTerminationSignal: @convention(c) (Int32) -> Void = { signo in
    var byte = UInt8(truncatingIfNeeded: signo)
    _ = write(signalPipeWriteEnd, &byte, 1)
}
