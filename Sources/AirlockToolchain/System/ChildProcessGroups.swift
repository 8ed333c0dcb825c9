import AirlockCore
import Foundation

/// Every child process Airlock started and has not yet seen end. Each child leads its own process group
/// (Foundation starts children that way on Linux), so stopping a child stops what it started too: uv's
/// builds, the DAG-parse harness's helpers, a DAG file's subprocesses.
///
/// Stopping is the same at a time limit and on SIGINT/SIGTERM of Airlock: SIGTERM to the group (the
/// harness then stops the per-file children it put in groups of their own), a short grace, then SIGKILL.
public final class ChildProcessGroups: @unchecked Sendable {
    public static let shared = ChildProcessGroups()

    /// How long a group gets between SIGTERM and SIGKILL.
    public static let grace: Double = 2

    private let lock = NSLock()
    private var groups: Set<pid_t> = []
    private var stopping = false

    /// Registers a child that just started; when Airlock is already stopping, the child is stopped at once.
    public func started(_ pid: pid_t) {
        lock.lock()
        let refuse = stopping
        if !refuse { groups.insert(pid) }
        lock.unlock()
        if refuse { Self.stop(group: pid, grace: 0) }
    }

    /// Forgets a child whose end was seen.
    public func ended(_ pid: pid_t) {
        lock.lock()
        groups.remove(pid)
        lock.unlock()
    }

    /// Whether `stopAll` has begun: nothing new is started, and failures of stopped children are not news.
    public var isStopping: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopping
    }

    /// Stops every registered group (and any started from now on); returns how many there were.
    @discardableResult
    public func stopAll(grace: Double = ChildProcessGroups.grace) -> Int {
        lock.lock()
        stopping = true
        let all = Array(groups)
        lock.unlock()
        Self.stop(groups: all, grace: grace)
        return all.count
    }

    /// SIGTERM to each group, up to `grace` seconds for them to go, then SIGKILL to whatever is left.
    public static func stop(groups: [pid_t], grace: Double) {
        for pid in groups { signalGroup(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        var left = groups
        while !left.isEmpty, Date() < deadline {
            left = living(left)
            if !left.isEmpty { usleep(20_000) }
        }
        for pid in left { signalGroup(pid, SIGKILL) }
    }

    public static func stop(group pid: pid_t, grace: Double) { stop(groups: [pid], grace: grace) }

    /// The child's whole group when it leads one, else the child alone.
    private static func signalGroup(_ pid: pid_t, _ signal: Int32) {
        if getpgid(pid) == pid { kill(-pid, signal) }
        kill(pid, signal)
    }

    /// SIGKILL to every live process (other than Airlock) whose initial environment holds `entry`
    /// (`NAME=value`), repeated until none is left or `attempts` run out; returns how many were killed.
    ///
    /// What group signals miss: a child that made its own group (the harness puts each DAG file in one)
    /// outlives a parent killed before it could stop it, and a DAG file's subprocess goes with it. They
    /// all inherited the run's `TMPDIR`, so that finds them. Linux only (`/proc`); elsewhere nothing.
    @discardableResult
    public static func killProcesses(withEnvironmentEntry entry: String, attempts: Int = 10) -> Int {
        var killed = 0
        for _ in 0..<attempts {
            let found = processes(withEnvironmentEntry: entry)
            if found.isEmpty { break }
            for pid in found where kill(pid, SIGKILL) == 0 { killed += 1 }
            usleep(20_000)
        }
        return killed
    }

    /// `stop(groups:grace:)` for every live process (other than Airlock) whose initial environment holds
    /// `entry` — SIGTERM, up to `grace` seconds, SIGKILL — then SIGKILL to any left that leads no group;
    /// returns how many there were. For a tool a killed server left running (each child of `ProcessRunner`
    /// leads its group) that records its own end on SIGTERM: `helm upgrade` marks its release `failed`
    /// instead of leaving it `pending-upgrade`.
    @discardableResult
    public static func stopProcesses(withEnvironmentEntry entry: String, grace: Double) -> Int {
        let found = processes(withEnvironmentEntry: entry)
        guard !found.isEmpty else { return 0 }
        stop(groups: found, grace: grace)
        killProcesses(withEnvironmentEntry: entry)
        return found.count
    }

    /// The live processes (other than Airlock; zombies have no environment left) whose initial environment
    /// holds `entry`. Linux only (`/proc`); elsewhere none.
    private static func processes(withEnvironmentEntry entry: String) -> [pid_t] {
        #if os(Linux)
        let wanted = Array(entry.utf8)
        var found: [pid_t] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(name), pid != getpid(),
                  let environ = FileManager.default.contents(atPath: "/proc/\(name)/environ") else { continue }
            if environ.split(separator: 0, omittingEmptySubsequences: true).contains(where: { $0.elementsEqual(wanted) }) {
                found.append(pid)
            }
        }
        return found
        #else
        return []
        #endif
    }

    /// The fields of `/proc/PID/stat` after the command name — state, ppid, pgrp, … — or nil when the
    /// process is gone (or not on Linux). The name is skipped up to its last `)`: it may hold spaces and `)`.
    public static func statFields(_ pid: String) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// The groups among `groups` that still have a running member (zombies waiting to be reaped do not count).
    private static func living(_ groups: [pid_t]) -> [pid_t] {
        let wanted = Set(groups)
        var alive: Set<pid_t> = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard pid_t(entry) != nil, let fields = statFields(entry) else { continue }
            if fields.count > 2, fields[0] != "Z", let group = pid_t(fields[2]), wanted.contains(group) { alive.insert(group) }
        }
        return groups.filter(alive.contains)
    }
}
