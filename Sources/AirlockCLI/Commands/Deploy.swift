import AirlockCore
import AirlockToolchain
import AirlockUpgradeTest
import ArgumentParser
import Foundation

extension Airlock {
    /// `airlock deploy`: package the project, upload it and wait until the deployment runs it (SPEC §4.2).
    struct Deploy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deploy the project (image and DAGs, or one of them) to a deployment and wait for it.",
            discussion: """
            Packages the project (everything but `dags/` is the image; `dags/` is the DAG bundle; `.git`, \
            caches and virtual environments are left out), uploads it, and follows the deploy until Airflow \
            reports healthy. Exit codes: 0 deployed, 1 the deploy failed (the previous deploy keeps \
            running), 2 bad usage, 3 server unreachable or timed out.
            """)

        @Option(name: .customLong("deployment"), help: "Deployment name.") var deployment: String
        @Option(name: .customLong("project"), help: "The Airflow project folder.") var project: String = "."
        @Flag(name: .customLong("dags"), help: "Deploy only the DAGs (DAG_ONLY).") var dagsOnly = false
        @Flag(name: .customLong("image"), help: "Deploy only the image, keeping the current DAGs (IMAGE_ONLY).") var imageOnly = false
        @Option(name: .customLong("description"), help: "What this deploy changes (required; 1–500 characters).") var description: String?
        @Option(name: .customLong("timeout"), help: "Seconds to wait for the deploy to finish.") var timeout: Double = 1800
        @OptionGroup var server: ServerOptions

        var type: DeployType { dagsOnly ? .dagOnly : imageOnly ? .imageOnly : .imageAndDag }

        func validate() throws {
            if dagsOnly, imageOnly {
                throw ValidationError("--dags and --image exclude each other; give neither to deploy both")
            }
            try DeployDescription.validate(description)
            guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
        }

        func run() async throws {
            let started = Date()
            let printer = ProgressPrinter(json: server.json)
            let client = server.client
            let name = APIClient.segment(deployment)
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)

            printer.handle(.started("Packaging \(project == "." ? "the project" : project)"))
            let bundle = try await ProjectBundle.make(projectRoot: URL(fileURLWithPath: project, relativeTo: cwd), type: type)
            printer.handle(.finished("Packaged \(Self.summary(bundle))", seconds: Date().timeIntervalSince(started)))

            struct Create: Encodable { var type: DeployType; var description: String; var git: GitMetadata? }
            let created = try client.decode(AirlockCore.Deploy.self, try await client.request(
                "POST", "/deployments/\(name)/deploys", body: Create(type: type, description: description ?? "", git: bundle.git)))
            printer.handle(.note("Created deploy \(created.label) (\(type.rawValue))"))

            do {
                for (kind, part) in [("image", bundle.image), ("dags", bundle.dags)] {
                    guard let part else { continue }
                    let step = Date()
                    printer.handle(.started("Uploading the \(kind == "image" ? "image" : "DAG") bundle (\(Self.size(part.bytes.count)))"))
                    struct Uploaded: Decodable { var digest: String }
                    let uploaded = try client.decode(Uploaded.self, try await client.upload("/deployments/\(name)/artifacts/\(kind)", bytes: part.bytes))
                    guard uploaded.digest == part.digest else {
                        throw AirlockError.environment("The server stored the \(kind) bundle as \(uploaded.digest.prefix(12)), expected \(part.digest.prefix(12))")
                    }
                    printer.handle(.finished("Uploaded the \(kind == "image" ? "image" : "DAG") bundle \(part.digest.prefix(12))", seconds: Date().timeIntervalSince(step)))
                }

                struct Finalize: Encodable { var imageDigest: String?; var dagsDigest: String? }
                _ = try await client.request("POST", "/deployments/\(name)/deploys/\(APIClient.segment(created.id))/finalize",
                                             body: Finalize(imageDigest: bundle.image?.digest, dagsDigest: bundle.dags?.digest))
            } catch {
                // Never leave a deploy INITIALIZED in the history: it failed before it could run.
                struct Cancel: Encodable { var reason: String }
                _ = try? await client.request("POST", "/deployments/\(name)/deploys/\(APIClient.segment(created.id))/cancel",
                                              body: Cancel(reason: "Cancelled before it ran: \((error as? AirlockError)?.message ?? "\(error)")"))
                throw error
            }
            let waiter = DeployWaiter(client: client, deployment: deployment, timeout: timeout, printer: printer)
            try await waiter.wait(for: created, started: started, json: server.json)
        }

        static func summary(_ bundle: ProjectBundle) -> String {
            var parts: [String] = []
            if let image = bundle.image { parts.append("image \(image.digest.prefix(12)) (\(files(image.manifest.files.count)))") }
            if let dags = bundle.dags { parts.append("DAGs \(dags.digest.prefix(12)) (\(files(dags.manifest.files.count)))") }
            if let git = bundle.git { parts.append("git \(git.commit.prefix(8))\(git.branch.map { " on \($0)" } ?? "")") }
            return parts.joined(separator: ", ")
        }

        static func files(_ count: Int) -> String { count == 1 ? "1 file" : "\(count) files" }

        static func size(_ bytes: Int) -> String {
            bytes < 1024 * 1024 ? "\(max(1, bytes / 1024)) KB" : String(format: "%.1f MB", Double(bytes) / 1_048_576)
        }
    }
}

/// The description rule shared by deploy and rollback (SPEC §4.3 rule 4): checked before any network call.
enum DeployDescription {
    static func validate(_ description: String?) throws(ValidationError) {
        guard let description, !description.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("--description is required: say why, in 1–500 characters")
        }
        guard description.count <= 500 else {
            throw ValidationError("--description is \(description.count) characters long; the limit is 500")
        }
    }
}

/// A deploy as `GET /deployments/{name}/deploys/{ref}` returns it: the record plus the live step.
struct LiveDeploy: Decodable {
    var deploy: AirlockCore.Deploy
    /// The current step while DEPLOYING; the failure reason when FAILED.
    var statusMessage: String?
    /// Every step so far, oldest first.
    var steps: [String]
    /// When each step began by the server's clock (`stepStartedAt`; nil for a step a server before it did not time).
    var stepStartedAt: [Date?]

    private enum CodingKeys: String, CodingKey { case statusMessage, steps, stepStartedAt }

    init(from decoder: any Decoder) throws {
        deploy = try AirlockCore.Deploy(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        statusMessage = try container.decodeIfPresent(String.self, forKey: .statusMessage)
        steps = try container.decodeIfPresent([String].self, forKey: .steps) ?? []
        stepStartedAt = (try container.decodeIfPresent([String].self, forKey: .stepStartedAt) ?? []).map(DeployStep.date(fromTimestamp:))
    }
}

/// Follows a deploy running on the server until it is DEPLOYED or FAILED, for `deploy` and `rollback`.
///
/// Prints each new step as a progress line (stderr), then the outcome: a summary on stdout (or the
/// final deploy JSON with `--json`); FAILED exits 1 with the server's reason; running out of time
/// is an environment error (exit 3) because the deploy itself may still finish.
struct DeployWaiter {
    var client: APIClient
    var deployment: String
    var timeout: Double
    var printer: ProgressPrinter
    var interval: Double = 0.5
    /// Consecutive failed polls tolerated (a server restart, a dropped connection) before giving up.
    var maxPollFailures = 20

    func wait(for deploy: AirlockCore.Deploy, started: Date, json: Bool) async throws {
        let path = "/deployments/\(APIClient.segment(deployment))/deploys/\(APIClient.segment(deploy.id))"
        let deadline = Date().addingTimeInterval(timeout)
        var step: PrintedStep?
        var printedSteps = 0
        var failures = 0
        var last = LiveDeploy.Snapshot(deploy: deploy)
        while true {
            switch await poll(path) {
            case .success(let snapshot):
                failures = 0
                last = snapshot
            case .failure(let error):
                failures += 1
                guard error.kind == .environment, failures <= maxPollFailures else { throw error }
            }
            let status = last.deploy.status
            // Every step the server went through, even those that started and ended between two polls.
            let running = status == .deploying || status == .initialized
            let newSteps = last.steps.indices.dropFirst(printedSteps).dropLast(running ? 0 : 1)
            for index in newSteps {
                let began = last.startOfStep(index)
                if let step { printer.handle(.finished(step.message, seconds: step.seconds(endingAt: began))) }
                printer.handle(.started(last.steps[index]))
                step = PrintedStep(message: last.steps[index], serverStart: began)
            }
            printedSteps = max(printedSteps, last.steps.count - (running ? 0 : 1))
            switch status {
            case .deployed:
                // The server's last step ("Deployed: …") is where the one before it ended.
                if let step { printer.handle(.finished(step.message, seconds: step.seconds(endingAt: last.startOfStep(last.steps.count - 1)))) }
                if json {
                    printOut(String(decoding: last.data ?? Data(), as: UTF8.self) + "\n")
                } else {
                    printOut(Self.summary(last.deploy, seconds: Date().timeIntervalSince(started)) + "\n")
                }
                return
            case .failed:
                if json { printOut(String(decoding: last.data ?? Data(), as: UTF8.self) + "\n") }
                ErrorPrinter.print(.environment("Deploy \(last.deploy.label) FAILED: \(last.statusMessage ?? "the server gave no reason")",
                                                hint: "the previous deploy keeps running; see `airlock deploys list --deployment \(deployment)`"))
                throw ExitCode(1)
            case .initialized, .deploying:
                guard Date() < deadline else {
                    throw AirlockError.environment(
                        "Deploy \(last.deploy.label) is still \(status.rawValue) after \(String(format: "%g", timeout)) s\(last.statusMessage.map { " (\($0))" } ?? "")",
                        hint: "it keeps running on the server; follow it with `airlock deployment show \(deployment)`, or wait longer with --timeout")
                }
                try? await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
            }
        }
    }

    /// A step printed as started, timed by the server's clock when the server said when it began (several
    /// steps can begin between two polls), else by this process's (a server before `stepStartedAt`).
    struct PrintedStep {
        var message: String
        var serverStart: Date?
        var clientStart = Date()

        func seconds(endingAt serverEnd: Date?) -> Double {
            if let serverStart, let serverEnd { return max(0, serverEnd.timeIntervalSince(serverStart)) }
            return Date().timeIntervalSince(clientStart)
        }
    }

    private func poll(_ path: String) async -> Result<LiveDeploy.Snapshot, AirlockError> {
        do {
            let data = try await client.request("GET", path)
            let live = try client.decode(LiveDeploy.self, data)
            return .success(LiveDeploy.Snapshot(deploy: live.deploy, statusMessage: live.statusMessage, steps: live.steps,
                                         stepStartedAt: live.stepStartedAt, data: data))
        } catch {
            return .failure(error)
        }
    }

    /// `Deploy #4 DEPLOYED: Airflow 2.10.5 (runtime 12.7.1), DAG bundle 3f2a9c1e0b7d…, in 42.3 s`; on Kubernetes
    /// also `image registry/repo@sha256:…, Helm revision 4` before the time.
    static func summary(_ deploy: AirlockCore.Deploy, seconds: Double) -> String {
        var parts: [String] = []
        if let image = deploy.image {
            parts.append("Airflow \(image.airflowVersion)\(image.runtimeVersion.map { " (runtime \($0))" } ?? "")")
        }
        if let dags = deploy.dagBundleVersion { parts.append("DAG bundle \(dags.prefix(12))…") }
        if let image = deploy.targetImage { parts.append("image \(image)") }
        if let revision = deploy.helmRevision { parts.append("Helm revision \(revision)") }
        parts.append(String(format: "in %.1f s", seconds))
        let rollback = deploy.isRollback ? " (rollback)" : ""
        return "Deploy \(deploy.label) DEPLOYED\(rollback): " + parts.joined(separator: ", ")
    }
}

extension LiveDeploy {
    /// The latest poll result; `data` is the server's JSON, printed verbatim with `--json`.
    struct Snapshot {
        var deploy: AirlockCore.Deploy
        var statusMessage: String?
        var steps: [String] = []
        var stepStartedAt: [Date?] = []
        var data: Data?

        /// When step `index` began by the server's clock, if the server said.
        func startOfStep(_ index: Int) -> Date? {
            stepStartedAt.indices.contains(index) ? stepStartedAt[index] : nil
        }
    }
}
