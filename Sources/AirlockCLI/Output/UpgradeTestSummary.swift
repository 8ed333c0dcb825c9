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
            if let dagTest = report.dagTest {
                text += renderDagTest(dagTest)
            }
            if let lintTest = report.lintTest {
                text += lintTest.status == "skipped" ? "  Lint: skipped (\(lintTest.reason ?? ""))\n"
                    : "  Lint (\(lintTest.rules.joined(separator: ", "))): \(lintTest.findings.count) finding(s)\n"
                text += renderFindings(lintTest.findings)
                if let headsUp = lintTest.headsUp, !headsUp.isEmpty {
                    text += "  Lint heads-up (\(headsUp.count); not failures: they apply only from an Airflow later than \(report.target.airflowVersion)):\n"
                    text += renderFindings(headsUp)
                }
            }
            if let database = report.dbCheck {
                text += "  Database: \(database.direction.rawValue)"
                if database.direction != .none {
                    text += " \(database.currentHead ?? "?") → \(database.targetHead ?? "?"), \(database.migrations.count) migration(s)"
                }
                text += "\n"
                if let warning = database.warning { text += "    warning: \(warning)\n" }
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
            if let dagTest = report.dagTest {
                let counts = dagTest.counts
                let detail = ["regression", "preexisting", "exempt", "passed"].compactMap { key in counts[key].map { "\($0) \(key)" } }.joined(separator: ", ")
                rows.append([pair, "dag import", dagTest.passed ? "passed" : "FAILED", detail + (dagTest.baseline ? "" : " (no baseline)")])
            }
            if let lintTest = report.lintTest {
                let headsUp = lintTest.headsUp.map { $0.isEmpty ? "" : ", \($0.count) heads-up" } ?? ""
                rows.append([pair, "lint", lintTest.status == "failed" ? "FAILED" : lintTest.status,
                             lintTest.status == "skipped" ? "not an Airflow 3 target" : "\(lintTest.findings.count) findings\(headsUp)"])
            }
            if let database = report.dbCheck {
                rows.append([pair, "db schema", database.direction == .downgrade ? "WARNING" : "info", "\(database.direction.rawValue), \(database.migrations.count) migrations"])
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

    /// The first ten findings, one a line, and how many more the lint report has.
    private static func renderFindings(_ findings: [LintFinding]) -> String {
        var text = ""
        for finding in findings.prefix(10) {
            text += "    \(finding.file):\(finding.line):\(finding.column)  \(finding.rule)  \(finding.message)\n"
        }
        if findings.count > 10 { text += "    … \(findings.count - 10) more in ruff-lint-results.txt\n" }
        return text
    }

    private static func renderConflictTest(_ test: UpgradeTestReport.ConflictTest) -> String {
        var text = ""
        if test.conflicts.isEmpty {
            text += "  Conflicts: none with the target's pins\n"
        } else {
            text += "  Conflicts with the target's pins (\(test.conflicts.count)):\n"
            for conflict in test.conflicts {
                text += "    \(conflict.located)\n"
            }
        }
        if test.resolver.status != "ok" {
            text += "  Resolver: \(test.resolver.summary ?? "the requirements cannot be installed with the target")\n"
        }
        return text
    }

    private static func renderDagTest(_ test: UpgradeTestReport.DagTest) -> String {
        var text = "  DAG import test: \(test.files.count) file(s)\n"
        for file in test.files where file.status == .regression || file.status == .preexisting {
            let label = file.status == .regression ? "REGRESSION" : "pre-existing"
            text += "    \(label)  \(file.path)\(file.line.map { ":\($0)" } ?? "")  [\(file.category?.rawValue ?? "other")]  \(file.error ?? "")\n"
            if let fix = file.fix {
                text += "      fix: \(fix.summary)\n"
                if let newImport = fix.newImport { text += "           \(newImport)\n" }
                if let requirement = fix.requirement { text += "           add to requirements.txt: \(requirement)\n" }
            }
        }
        return text
    }

    private static func displayPath(_ url: URL, _ cwd: URL) -> String {
        let path = url.standardizedFileURL.path
        let base = cwd.standardizedFileURL.path + "/"
        return path.hasPrefix(base) ? String(path.dropFirst(base.count)) : path
    }
}
