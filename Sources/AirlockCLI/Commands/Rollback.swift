import AirlockCore
import AirlockUpgradeTest
import ArgumentParser
import Foundation

extension Airlock {
    /// `airlock rollback`: roll a deployment back to an earlier deploy, as a new deploy (SPEC §4.3).
    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Roll a deployment back to an earlier deploy (recorded as a new deploy).",
            discussion: """
            Rollbacks are a last resort. Airlock first shows the preview (files, runtime, database direction \
            and what each database choice loses, skipped deploys, and what is not rolled back), then asks \
            for confirmation (`--yes` skips the question and is required without a terminal), runs the \
            rollback and follows it until Airflow is healthy. `--dry-run` only shows the preview. \
            Exit codes: 0 rolled back (or cancelled at the prompt), 1 the rollback failed (the previous \
            deploy keeps running), 2 bad usage or refused, 3 server unreachable or timed out.
            """)

        @Option(name: .customLong("deployment"), help: "Deployment name.") var deployment: String
        @Argument(help: "The target deploy: N, #N or a deploy id.") var target: String
        @Option(name: .customLong("description"), help: "Why (required to roll back; 1–500 characters).") var description: String?
        @Flag(name: .customLong("dry-run"), help: "Only show the preview.") var dryRun = false
        @Flag(name: .customLong("restore-backup"), help: "Restore the DB backup taken before the upgrade being undone, instead of downgrading.") var restoreBackup = false
        @Flag(name: .customLong("pin"), help: "Pin the deployment afterwards: later deploys are refused until it is unpinned.") var pin = false
        @Flag(name: .customLong("yes"), help: "Do not ask for confirmation.") var yes = false
        @Option(name: .customLong("timeout"), help: "Seconds to wait for the rollback to finish.") var timeout: Double = 1800
        @OptionGroup var server: ServerOptions

        func validate() throws {
            if !dryRun { try DeployDescription.validate(description) }
            guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
        }

        /// `POST …/rollback`'s body; the same for the preview and the real run so both plan the same thing.
        struct Body: Encodable {
            var description: String?
            var dryRun: Bool
            var restoreBackup: Bool
            var pin: Bool
            /// The current deploy the preview replaced: the server refuses if another deploy landed since.
            var expectedFromId: String?
        }

        func run() async throws {
            let started = Date()
            if !dryRun, !yes, isatty(STDIN_FILENO) != 1 {
                throw AirlockError.usage("Rolling back needs a confirmation: pass --yes to roll back without a prompt",
                                         hint: "preview it first with --dry-run")
            }
            let client = server.client
            let reference = target.hasPrefix("#") ? String(target.dropFirst()) : target
            let path = "/deployments/\(APIClient.segment(deployment))/deploys/\(APIClient.segment(reference))/rollback"
            var body = Body(description: description, dryRun: true, restoreBackup: restoreBackup, pin: pin)
            let previewData = try await client.request("POST", path, body: body)
            if dryRun, server.json { printOut(String(decoding: previewData, as: UTF8.self) + "\n"); return }
            let plan = try client.decode(RollbackPlan.self, previewData)
            let preview = RollbackPreview.render(plan)
            if dryRun { printOut(preview); return }
            // The JSON on stdout is the final deploy only, so the preview goes to stderr with --json.
            if server.json { FileHandle.standardError.write(Data(preview.utf8)) } else { printOut(preview) }

            if !yes {
                FileHandle.standardError.write(Data("Roll back? [y/N] ".utf8))
                let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased()
                guard answer == "y" || answer == "yes" else {
                    FileHandle.standardError.write(Data("Cancelled; nothing was changed.\n".utf8))
                    return
                }
            }
            body.dryRun = false
            body.expectedFromId = plan.fromDeploy.id
            struct Started: Decodable { var plan: RollbackPlan; var deploy: AirlockCore.Deploy }
            let running = try client.decode(Started.self, try await client.request("POST", path, body: body))
            let printer = ProgressPrinter(json: server.json)
            printer.handle(.note("Rolling back \(running.plan.fromDeploy.label) → \(running.plan.toDeploy.label) as \(running.deploy.label)"))
            let waiter = DeployWaiter(client: client, deployment: deployment, timeout: timeout, printer: printer)
            try await waiter.wait(for: running.deploy, started: started, json: server.json)
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
        if let packages = plan.packageDiff {
            text += "  Packages: \(packages.count) change\(packages.count == 1 ? "" : "s")\n"
            let airflowFirst = packages.sorted { ($0.name == "apache-airflow" ? 0 : 1, $0.name) < ($1.name == "apache-airflow" ? 0 : 1, $1.name) }
            for change in airflowFirst.prefix(15) {
                text += "    \(change.name) \(change.from ?? "–") → \(change.to ?? "–")\n"
            }
            if packages.count > 15 { text += "    … \(packages.count - 15) more (--json lists all)\n" }
        }
        let database = plan.database
        text += "  Database: \(database.direction.rawValue)"
        if database.direction != .none { text += " \(database.fromHead ?? "?") → \(database.toHead ?? "?")" }
        if !database.migrations.isEmpty { text += ", \(database.migrations.count) migrations" }
        text += "\n"
        for migration in database.migrations.prefix(5) {
            text += "    \(migration.revision) \(migration.description)\(migration.airflowVersion.map { " (Airflow \($0))" } ?? "")\n"
        }
        if database.migrations.count > 5 { text += "    … \(database.migrations.count - 5) more\n" }
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
