import AirlockCore
import AirlockUpgradeTest
import Foundation

/// The human-readable end of `airlock upgrade-test`: per-target findings, then a summary table.
enum UpgradeTestSummary {
    static func render(_ outcomes: [UpgradeTestOutcome], relativeTo cwd: URL) -> String {
        var text = ""
        for outcome in outcomes {
            let report = outcome.report
            text += "\nUpgrade test \(report.current.label) → \(report.target.label)\n"
            if let diff = outcome.diff {
                text += renderVersionTest(diff)
            }
            if let conflictTest = report.conflictTest {
                text += renderConflictTest(conflictTest)
            }
            text += "  Reports: \(displayPath(outcome.folder, cwd))/\n"
        }
        var rows: [[String]] = []
        for outcome in outcomes {
            let report = outcome.report
            let pair = "\(report.current.label) → \(report.target.label)"
            if let versionTest = report.versionTest {
                rows.append([pair, "version", "done", "\(versionTest.changes.count) package changes"])
            }
            if let conflictTest = report.conflictTest {
                let detail = conflictTest.passed ? "no conflicts"
                    : "\(conflictTest.conflicts.count) direct conflict(s)" + (conflictTest.resolver.status == "ok" ? "" : ", resolver fails")
                rows.append([pair, "conflict", conflictTest.passed ? "passed" : "FAILED", detail])
            }
        }
        text += "\n" + TextTable.render(["Pair", "Test", "Result", "Detail"], rows)
        return text
    }

    private static func renderVersionTest(_ diff: DependencyDiff) -> String {
        var text = ""
        if let airflow = diff.changes.first(where: { $0.group == .airflow && $0.from != nil && $0.to != nil }) {
            text += "  \(airflow.name) \(airflow.from ?? "") >> \(airflow.to ?? "")\n"
        }
        for (label, group) in [("Providers", PackageGroup.provider), ("Packages", PackageGroup.other)] {
            let kinds: [ChangeKind] = [.major, .minor, .patch, .downgrade, .unknown, .added, .removed]
            let parts = kinds.compactMap { kind -> String? in
                let count = diff.changes(group, kind).count
                return count == 0 ? nil : "\(count) \(kind.rawValue)"
            }
            text += "  \(label): \(parts.isEmpty ? "no changes" : parts.joined(separator: ", "))\n"
            for change in diff.changes(group, .downgrade) {
                text += "    downgrade: \(change.name) \(change.from ?? "") >> \(change.to ?? "")\n"
            }
        }
        return text
    }

    private static func renderConflictTest(_ test: UpgradeTestReport.ConflictTest) -> String {
        var text = ""
        if test.conflicts.isEmpty {
            text += "  Conflicts: none with the target's pins\n"
        } else {
            text += "  Conflicts with the target's pins (\(test.conflicts.count)):\n"
            for conflict in test.conflicts {
                text += "    \(conflict.file):\(conflict.line)  \(conflict.requirement)  (target pins \(conflict.pinned))\n"
            }
        }
        if test.resolver.status != "ok" {
            text += "  Resolver: \(test.resolver.summary ?? "the requirements cannot be installed with the target")\n"
        }
        return text
    }

    private static func displayPath(_ url: URL, _ cwd: URL) -> String {
        let path = url.standardizedFileURL.path
        let base = cwd.standardizedFileURL.path + "/"
        return path.hasPrefix(base) ? String(path.dropFirst(base.count)) : path
    }
}
