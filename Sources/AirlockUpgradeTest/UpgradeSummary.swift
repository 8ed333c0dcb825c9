import AirlockCore
import Foundation

/// `upgrade-summary.md` and `upgrade-summary.json`: which of several targets pass, side by side.
enum UpgradeSummary {
    struct Row: Codable {
        var target: String
        var airflowVersion: String
        var folder: String
        var result: String
        var packageChanges: Int?
        var conflicts: Int?
        var regressions: Int?
        var preexisting: Int?
        var lintFindings: Int?
        var database: String?
    }

    static func rows(_ outcomes: [UpgradeTestOutcome]) -> [Row] {
        outcomes.map { outcome in
            let report = outcome.report
            return Row(target: report.target.label, airflowVersion: report.target.airflowVersion, folder: outcome.folder.lastPathComponent,
                       result: report.result, packageChanges: report.versionTest?.changes.count,
                       conflicts: report.conflictTest.map { $0.conflicts.count + ($0.resolver.status == "ok" ? 0 : 1) },
                       regressions: report.dagTest?.counts["regression"] ?? (report.dagTest == nil ? nil : 0),
                       preexisting: report.dagTest?.counts["preexisting"] ?? (report.dagTest == nil ? nil : 0),
                       lintFindings: report.lintTest.flatMap { $0.status == "skipped" ? nil : $0.findings.count },
                       database: report.dbCheck.map { $0.direction.rawValue + ($0.migrations.isEmpty ? "" : " (\($0.migrations.count) migrations)") })
        }
    }

    static func markdown(_ rows: [Row], current: String) -> String {
        func cell(_ value: Int?) -> String { value.map(String.init) ?? "–" }
        var text = "# Upgrade test summary: \(current) → \(rows.map(\.target).joined(separator: ", "))\n\n"
        text += "| Target | Airflow | Result | Package changes | Conflicts | DAG regressions | Pre-existing | Lint findings | DB schema | Report |\n"
        text += "|---|---|---|---|---|---|---|---|---|---|\n"
        for row in rows {
            text += "| \(row.target) | \(row.airflowVersion) | \(row.result == "passed" ? "✅ passed" : "❌ failed") | \(cell(row.packageChanges)) | \(cell(row.conflicts)) | \(cell(row.regressions)) | \(cell(row.preexisting)) | \(cell(row.lintFindings)) | \(row.database ?? "–") | [\(row.folder)](\(row.folder)/) |\n"
        }
        return text
    }

    static func write(_ outcomes: [UpgradeTestOutcome], into folder: URL) throws(AirlockError) {
        let rows = rows(outcomes)
        let current = outcomes.first?.report.current.label ?? ""
        struct Document: Codable { var schemaVersion: Int; var current: String; var targets: [Row] }
        let json = try ReportWriter.json(Document(schemaVersion: UpgradeTestReport.currentSchemaVersion, current: current, targets: rows))
        try ReportWriter.write(["upgrade-summary.md": Data(markdown(rows, current: current).utf8), "upgrade-summary.json": Data(json.utf8)], into: folder)
    }
}
