import AirlockCore
import AirlockTestSupport
import AirlockToolchain
import Foundation
import Testing

/// Child processes with real `sh` and `sleep`: a time limit stops the whole group, a child's temporary
/// files go with it, and the error names the tool and the limit.
@Suite struct ProcessRunnerLimitTests {
    @Test func aTimeLimitStopsTheWholeGroupAndRemovesTheChildsTemporaryFiles() async throws {
        let marker = "4\(Int.random(in: 100_000...999_999)).5"
        let started = Date()
        // The child makes a temporary folder, starts a grandchild and hangs.
        let output = try await ProcessRunner.run("/bin/sh", ["-c", "mktemp -d; sleep \(marker) & sleep \(marker)"], timeout: 1)
        // The limit, the grace, and room for a loaded 2-core machine (8 s seen under the whole suite).
        #expect(Date().timeIntervalSince(started) < 1 + ChildProcessGroups.grace + 15)
        #expect(output.timedOut)
        #expect(!output.succeeded)
        let childTemporary = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(childTemporary.contains("airlock-proc-"), "mktemp made \(childTemporary)")
        #expect(!FileManager.default.fileExists(atPath: childTemporary))
        #expect(ProcessRunnerLimitTests.running(marker).isEmpty, "left running: \(ProcessRunnerLimitTests.running(marker))")

        let error = output.timeoutError("sleeper", doing: "waiting")
        #expect(error.kind == .environment)
        #expect(error.exitCode == 3)
        #expect(error.message.contains("`sleeper` did not finish within its time limit of 1 s (waiting)"), "\(error.message)")
    }

    @Test func aChildThatEndsInTimeIsNotMarkedTimedOut() async throws {
        let output = try await ProcessRunner.run("/bin/sh", ["-c", "echo $TMPDIR"], timeout: 30)
        #expect(output.succeeded)
        #expect(!output.timedOut)
        #expect(output.limit == 30)
        let temporary = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(temporary.hasSuffix("/tmp") && temporary.contains("airlock-proc-"))
        #expect(!FileManager.default.fileExists(atPath: temporary))
    }

    /// A cancelled task stops its child: SIGTERM first (a tool such as `helm upgrade` records its own end
    /// then), and the call returns what the child left, long before the child's own end or time limit.
    @Test func cancellingTheTaskStopsTheChildGracefully() async throws {
        let marker = "4\(Int.random(in: 100_000...999_999)).5"
        let started = Date()
        let run = Task {
            try await ProcessRunner.run("/bin/sh", ["-c", "trap 'echo stopped; exit 7' TERM; echo up; sleep \(marker) & wait"], timeout: 120, cancelGrace: 10)
        }
        try await Task.sleep(for: .seconds(1))
        run.cancel()
        let output = try await run.value
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(output.status == 7 && output.stdout == "up\nstopped\n", "\(output.status) \(output.stdout)")
        #expect(!output.timedOut)
        #expect(Self.running(marker).isEmpty, "left running: \(Self.running(marker))")
    }

    /// A process that left every group Airlock knows (`setsid`, its parent gone) is still found by the
    /// environment entry it inherited, and killed — what a signal's cleanup relies on for a DAG file's
    /// subprocess whose harness died first.
    @Test func processesThatLeftTheirGroupAreFoundByTheirEnvironment() async throws {
        let marker = "4\(Int.random(in: 100_000...999_999)).5"
        let entry = "AIRLOCK_TEST_RUN=\(UUID().uuidString)"
        // Python closes every other descriptor: a sleep holding Foundation's own child-status socket would
        // keep `run` waiting for it. Its own `TMPDIR` keeps it out of the run's end (which kills what carries the run's).
        let detach = "import os, subprocess as s; print(s.Popen(['sleep', '\(marker)'], start_new_session=True, stdin=s.DEVNULL, stdout=s.DEVNULL, stderr=s.DEVNULL, env=dict(os.environ, TMPDIR='/tmp')).pid)"
        let output = try await ProcessRunner.run("/usr/bin/env", [entry, "/usr/bin/python3", "-c", detach], timeout: 30)
        let pid = try #require(pid_t(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(output.stdout)")
        func isDetachedSleep() -> Bool {
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) == "sleep\n" && getpgid(pid) == pid
        }
        let deadline = Date().addingTimeInterval(10)
        while !isDetachedSleep(), Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(isDetachedSleep(), "the detached sleep never started")
        #expect(ChildProcessGroups.killProcesses(withEnvironmentEntry: entry) == 1)
        try await Task.sleep(for: .milliseconds(200))
        #expect(Self.running(marker).isEmpty, "left running: \(Self.running(marker))")
        #expect(ChildProcessGroups.killProcesses(withEnvironmentEntry: entry) == 0)
    }

    /// A child that exits leaving a daemon behind (own session, holding every descriptor it inherited, as a
    /// DAG file's `os.system("setsid … &")` does) returns at once, and the daemon is gone: the run waited
    /// for the daemon's whole life before.
    @Test(.timeLimit(.minutes(2))) func aDaemonLeftBehindNeitherHoldsTheRunNorSurvivesIt() async throws {
        let marker = "5\(Int.random(in: 100_000...999_999)).5"
        let started = Date()
        let output = try await ProcessRunner.run("/bin/sh", ["-c", "setsid sleep \(marker) > /dev/null 2>&1 < /dev/null & echo started"], timeout: 120)
        #expect(output.succeeded && output.stdout.contains("started"))
        #expect(Date().timeIntervalSince(started) < 30, "the run waited \(Date().timeIntervalSince(started)) s for the daemon")
        try await Task.sleep(for: .milliseconds(200))
        #expect(Self.running(marker).isEmpty, "left running: \(Self.running(marker))")
    }

    /// A daemon that closed every descriptor it inherited (a double fork, as Python's `subprocess` makes by
    /// default) does not hold the run, so nothing waited for it to notice it: it must still end with the run.
    @Test(.timeLimit(.minutes(2))) func aDaemonThatClosedItsDescriptorsDoesNotSurviveTheRun() async throws {
        let marker = "6\(Int.random(in: 100_000...999_999)).5"
        let detach = "import subprocess as s; print(s.Popen(['sleep', '\(marker)'], start_new_session=True, stdin=s.DEVNULL, stdout=s.DEVNULL, stderr=s.DEVNULL).pid)"
        let output = try await ProcessRunner.run("/usr/bin/python3", ["-c", detach], timeout: 60)
        #expect(output.succeeded, "\(output.stderr)")
        try await Task.sleep(for: .milliseconds(200))
        #expect(Self.running(marker).isEmpty, "left running: \(Self.running(marker))")
        _ = Self.running(marker).compactMap { pid_t($0.prefix(while: { $0 != ":" })) }.map { kill($0, SIGKILL) }
    }

    /// Processes (not zombies) whose command line contains `text`.
    static func running(_ text: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> String? in
            guard Int32(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty,
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")"),
                  stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z" else { return nil }
            let command = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return command.contains(text) ? "\(entry): \(command)" : nil
        }
    }
}
