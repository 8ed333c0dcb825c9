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
