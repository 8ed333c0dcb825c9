import AirlockCore
import ArgumentParser
import Foundation

extension Airlock {
    /// `airlock rollback`: roll a deployment back to an earlier deploy, as a new deploy (SPEC §4.3).
    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Preview (and, soon, run) a rollback to an earlier deploy.",
            discussion: "Rollbacks are a last resort. `--dry-run` shows what changes: files, runtime, database direction and what each database choice loses, skipped deploys, and what is not rolled back.")

        @Option(name: .customLong("deployment"), help: "Deployment name.") var deployment: String
        @Argument(help: "The target deploy: N, #N or a deploy id.") var target: String
        @Option(name: .customLong("description"), help: "Why (required to roll back; 1–500 characters).") var description: String?
        @Flag(name: .customLong("dry-run"), help: "Only show the preview.") var dryRun = false
        @Flag(name: .customLong("restore-backup"), help: "Restore the DB backup taken before the upgrade being undone, instead of downgrading.") var restoreBackup = false
        @Flag(name: .customLong("yes"), help: "Do not ask for confirmation.") var yes = false
        @OptionGroup var server: ServerOptions

        func run() async throws {
            var body: [String: Any] = ["dryRun": dryRun, "restoreBackup": restoreBackup]
            if let description { body["description"] = description }
            let reference = target.hasPrefix("#") ? String(target.dropFirst()) : target
            let data = try await server.client.request("POST", "/deployments/\(deployment)/deploys/\(reference)/rollback", body: body)
            if server.json { printOut(String(decoding: data, as: UTF8.self) + "\n"); return }
            printOut(RollbackPreview.render(try server.client.decode(RollbackPlan.self, data)))
        }
    }
}

/// The human-readable rollback preview.
enum RollbackPreview {
    static func render(_ plan: RollbackPlan) -> String {
        let change = plan.runtimeChange
        var text = "Rollback preview: \(plan.fromDeploy.label) → \(plan.toDeploy.label), recorded as #\(plan.newSequence) (\(plan.type.rawValue))\n"
        text += "  Runtime:  \(change.fromRuntime ?? "–") → \(change.toRuntime ?? "–")\n"
        text += "  Airflow:  \(change.fromAirflow ?? "?") → \(change.toAirflow ?? "?")\n"
        if let files = plan.files {
            text += "  Files:    \(files.added.count) added, \(files.removed.count) removed, \(files.changed.count) changed\n"
            for path in files.changed.prefix(20) { text += "    changed  \(path)\n" }
            for path in files.added.prefix(20) { text += "    added    \(path)\n" }
            for path in files.removed.prefix(20) { text += "    removed  \(path)\n" }
        }
        let database = plan.database
        text += "  Database: \(database.direction.rawValue)"
        if database.direction != .none { text += " \(database.fromHead ?? "?") → \(database.toHead ?? "?")" }
        text += "\n"
        for choice in database.choices {
            text += "    \(choice.option == database.chosen ? "→" : " ") \(choice.summary) (loses: \(choice.loses))\n"
        }
        text += "  Skipped deploys: \(plan.skippedDeploys)\n"
        text += "  Rolled back: \(plan.rolledBack.joined(separator: ", "))\n"
        text += "  Not rolled back: \(plan.notRolledBack.joined(separator: ", "))\n"
        for warning in plan.warnings { text += "  warning: \(warning)\n" }
        return text
    }
}
