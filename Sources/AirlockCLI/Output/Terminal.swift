import AirlockCore
import AirlockUpgradeTest
import Foundation

/// How progress reaches the user: symbols on a terminal, plain lines in CI or pipes, nothing with `--json`.
final class ProgressPrinter: @unchecked Sendable {
    enum Mode { case interactive, plain, silent }

    let mode: Mode
    private let lock = NSLock()

    init(json: Bool, environment: [String: String] = ProcessInfo.processInfo.environment) {
        if json {
            mode = .silent
        } else if let ci = environment["CI"], !ci.isEmpty, ci != "0", ci.lowercased() != "false" {
            mode = .plain
        } else {
            mode = isatty(STDERR_FILENO) == 1 ? .interactive : .plain
        }
    }

    var handler: ProgressHandler {
        { [self] event in self.handle(event) }
    }

    func handle(_ event: ProgressEvent) {
        let line: String
        switch (mode, event) {
        case (.silent, _): return
        case (.interactive, .started(let text)): line = "\u{1B}[2m…\u{1B}[0m \(text)"
        case (.interactive, .finished(let text, let seconds)): line = "\u{1B}[32m✔\u{1B}[0m \(text) \u{1B}[2m(\(Self.format(seconds)))\u{1B}[0m"
        case (.interactive, .warning(let text)): line = "\u{1B}[33mwarning:\u{1B}[0m \(text)"
        case (.interactive, .note(let text)): line = text
        case (.plain, .started(let text)): line = "started: \(text)"
        case (.plain, .finished(let text, let seconds)): line = "done: \(text) (\(Self.format(seconds)))"
        case (.plain, .warning(let text)): line = "warning: \(text)"
        case (.plain, .note(let text)): line = text
        }
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func format(_ seconds: Double) -> String { DeployStep.durationText(seconds) }
}

/// Plain text tables with aligned columns.
enum TextTable {
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}

func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
