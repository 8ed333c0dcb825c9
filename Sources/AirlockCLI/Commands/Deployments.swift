import AirlockCore
import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where the CLI finds the server and its token: `--server`/`AIRLOCK_SERVER`, `--token`/`AIRLOCK_TOKEN`.
struct ServerOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: "Airlock server URL (default: $AIRLOCK_SERVER or http://127.0.0.1:8765).")
    var server: String?

    @Option(name: .customLong("token"), help: "API token (default: $AIRLOCK_TOKEN).")
    var token: String?

    @Flag(name: .customLong("json"), help: "Print the API's JSON.")
    var json = false

    var client: APIClient {
        let environment = ProcessInfo.processInfo.environment
        return APIClient(base: server ?? environment["AIRLOCK_SERVER"] ?? "http://127.0.0.1:8765", token: token ?? environment["AIRLOCK_TOKEN"])
    }
}

/// A small JSON client for the REST API; API errors become `AirlockError`s with the server's message.
struct APIClient: Sendable {
    var base: String
    var token: String?

    /// Sends `body` (if any) as JSON and returns the response body of a 2xx answer.
    func request(_ method: String, _ path: String, body: (any Encodable)? = nil) async throws(AirlockError) -> Data {
        var payload: Data?
        if let body {
            do {
                payload = try JSONEncoder().encode(body)
            } catch {
                throw .usage("Cannot encode the request: \(error)")
            }
        }
        return try await send(method, path, body: payload, contentType: "application/json", timeout: 30)
    }

    /// PUTs raw bytes (a tar bundle); a longer timeout because bundles can be large.
    func upload(_ path: String, bytes: [UInt8], contentType: String = "application/x-tar") async throws(AirlockError) -> Data {
        try await send("PUT", path, body: Data(bytes), contentType: contentType, timeout: 600)
    }

    /// A path segment from user input (a deploy id, `#3`), percent-encoded so it cannot change the route.
    static func segment(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/#?%")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    private func send(_ method: String, _ path: String, body: Data?, contentType: String, timeout: Double) async throws(AirlockError) -> Data {
        guard let url = URL(string: base.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/api/v1" + path) else {
            throw .usage("`\(base)` is not a valid server URL")
        }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            request.httpBody = body
        }
        let data: Data, response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw .environment("Cannot reach the Airlock server at \(base): \(error.localizedDescription)",
                               hint: "start it with `airlock server --data-dir DIR`, or set AIRLOCK_SERVER")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            let message = object?["message"] as? String ?? "HTTP \(status)"
            let hint = status == 401 ? "pass --token or set AIRLOCK_TOKEN (the server wrote an admin token to DIR/admin-token)" : nil
            throw AirlockError(status >= 500 ? .environment : .usage, message, hint: hint)
        }
        return data
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws(AirlockError) -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(T.self, from: data)
        } catch {
            throw .environment("The server answered with unexpected JSON: \(error)")
        }
    }
}

extension Airlock {
    /// `airlock deployment create|list|show|settings`.
    struct DeploymentCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "deployment", abstract: "Create, list, show and configure deployments.",
                                                        subcommands: [Create.self, List.self, Show.self, Settings.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a deployment.")
            @Argument(help: "Name: lowercase letters, digits and dashes.") var name: String
            @Option(name: .customLong("target"), help: "Where it runs: local or kubernetes.") var target: String = "local"
            @Option(name: .customLong("metadata-db"),
                    help: "Airflow's metadata database: a PostgreSQL URL without a password (postgresql://user@host:5432/db). Default: SQLite in the deployment's home; required for kubernetes.")
            var metadataDatabase: String?
            @Option(name: .customLong("kubeconfig"), help: "kubernetes: the kubeconfig file (on the server's machine).") var kubeconfig: String?
            @Option(name: .customLong("context"), help: "kubernetes: the kubeconfig context (default: its current one).") var context: String?
            @Option(name: .customLong("namespace"), help: "kubernetes: the namespace.") var namespace: String?
            @Option(name: .customLong("release"), help: "kubernetes: the Helm release name.") var release: String?
            @Option(name: .customLong("chart"), help: "kubernetes: the Helm chart (a folder or archive, or REPO/CHART).") var chart: String?
            @Option(name: .customLong("chart-version"), help: "kubernetes: the chart version.") var chartVersion: String?
            @Option(name: .customLong("registry"), help: "kubernetes: HOST[:PORT]/REPOSITORY the deploy images are pushed to.") var registry: String?
            @Option(name: .customLong("values"), help: "kubernetes: a Helm values file, passed to Helm as written.") var values: String?
            @Option(name: .customLong("base-image"), help: "kubernetes: the base image with the project's Python (default: <registry host>/airlock/python:<X.Y>-bookworm).")
            var baseImage: String?
            @Option(name: .customLong("value-key"),
                    help: ArgumentHelp("kubernetes: the chart's value key (PATH) for what a deploy sets (ROLE), where it is not the official chart's; repeatable. Roles: \(KubernetesSettings.ValueRole.allCases.map { "\($0.rawValue) (\($0.officialChartKey))" }.joined(separator: ", ")); airflowVersion= leaves it unset.",
                                       valueName: "ROLE=PATH"))
            var valueKeys: [String] = []
            @Option(name: .customLong("start-timeout"),
                    help: ArgumentHelp("kubernetes: how long Helm waits for the pods to be ready (and a schema Job to finish) before the deploy fails and the previous one is put back; \(KubernetesSettings.startTimeoutRange.lowerBound)–\(KubernetesSettings.startTimeoutRange.upperBound), default \(KubernetesSettings.defaultStartTimeout).",
                                       valueName: "SECONDS"))
            var startTimeout: Int?
            @OptionGroup var server: ServerOptions

            /// The Kubernetes settings from the options; a missing required option is a usage error naming it.
            private func kubernetesSettings() throws(AirlockError) -> KubernetesSettings? {
                let given = [kubeconfig, context, namespace, release, chart, chartVersion, registry, values, baseImage].contains { $0 != nil }
                    || !valueKeys.isEmpty || startTimeout != nil
                guard target == DeploymentTarget.kubernetes.rawValue else {
                    if given { throw .usage("--kubeconfig, --namespace, --release, --chart, --registry, --values, --value-key and --start-timeout are only for --target kubernetes") }
                    return nil
                }
                func required(_ value: String?, _ option: String) throws(AirlockError) -> String {
                    guard let value else { throw .usage("--target kubernetes needs \(option)") }
                    return value
                }
                guard metadataDatabase != nil else { throw .usage("--target kubernetes needs --metadata-db postgresql://… (a database the pods reach)") }
                // Files are read by the server: pass absolute paths so a relative one means what it means here.
                func absolute(_ path: String?) -> String? { path.map { URL(fileURLWithPath: $0).standardizedFileURL.path } }
                let localChart = chart.map { FileManager.default.fileExists(atPath: $0) } ?? false
                let settings = KubernetesSettings(kubeconfig: absolute(try required(kubeconfig, "--kubeconfig FILE"))!, context: context,
                                                  namespace: try required(namespace, "--namespace NS"), release: try required(release, "--release R"),
                                                  chart: localChart ? absolute(chart)! : try required(chart, "--chart PATH|REPO/CHART"),
                                                  chartVersion: chartVersion, registry: try required(registry, "--registry HOST[:PORT]/REPO"),
                                                  valuesFile: absolute(values), baseImage: baseImage,
                                                  valueKeys: try KubernetesSettings.valueKeys(fromAssignments: valueKeys), startTimeoutSeconds: startTimeout)
                // The server refuses overlapping keys only when a deploy runs (its schema cannot say it): say it now.
                try settings.validateValueKeysApart()
                return settings
            }

            func run() async throws {
                struct Body: Encodable { var name: String; var target: String; var metadataDatabaseUrl: String?; var kubernetes: KubernetesSettings? }
                let kubernetes = try kubernetesSettings()
                let data = try await server.client.request("POST", "/deployments",
                                                           body: Body(name: name, target: target, metadataDatabaseUrl: metadataDatabase,
                                                                      kubernetes: kubernetes))
                if server.json { printOut(String(decoding: data, as: UTF8.self) + "\n"); return }
                let deployment = try server.client.decode(Deployment.self, data)
                let database = deployment.settings.metadataDatabaseUrl.map { "PostgreSQL \($0)" } ?? "SQLite"
                printOut("Created deployment \(deployment.name) (\(deployment.target.rawValue), metadata DB \(database)); rollback is \(deployment.settings.rollbackEnabled ? "enabled" : "disabled")\n")
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List deployments.")
            @OptionGroup var server: ServerOptions

            func run() async throws {
                let data = try await server.client.request("GET", "/deployments")
                if server.json { printOut(String(decoding: data, as: UTF8.self) + "\n"); return }
                struct Page: Decodable { var deployments: [Deployment] }
                let page = try server.client.decode(Page.self, data)
                printOut(TextTable.render(["Name", "Target", "Current deploy", "Rollback", "DAG deploy"], page.deployments.map {
                    [$0.name, $0.target.rawValue, $0.currentDeployId ?? "–", $0.settings.rollbackEnabled ? "enabled" : "disabled",
                     $0.settings.dagDeployEnabled ? "enabled" : "disabled"]
                }))
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show a deployment with its current deploy and live health.")
            @Argument var name: String
            @OptionGroup var server: ServerOptions

            func run() async throws {
                let data = try await server.client.request("GET", "/deployments/\(APIClient.segment(name))/status")
                if server.json { printOut(String(decoding: data, as: UTF8.self) + "\n"); return }
                printOut(DeploymentStatusView.render(try server.client.decode(DeploymentStatusView.self, data)))
            }
        }

        struct Settings: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Change a deployment's settings.")
            @Argument var name: String
            @Option(name: .customLong("rollback-enabled"), help: "true or false") var rollbackEnabled: Bool?
            @Option(name: .customLong("dag-deploy"), help: "true or false") var dagDeploy: Bool?
            @Option(name: .customLong("retention-days"), help: "Days a deploy stays eligible for rollback.") var retentionDays: Int?
            @Option(name: .customLong("start-timeout"), help: ArgumentHelp("kubernetes: how long Helm waits for the pods (and a schema Job) at the next deploys.", valueName: "SECONDS"))
            var startTimeout: Int?
            @Flag(name: .customLong("unpin"), help: "Remove the pin a `rollback --pin` set, so deploys are accepted again.") var unpin = false
            @OptionGroup var server: ServerOptions

            func validate() throws {
                if rollbackEnabled == nil, dagDeploy == nil, retentionDays == nil, startTimeout == nil, !unpin {
                    throw ValidationError("Give at least one of --rollback-enabled, --dag-deploy, --retention-days, --start-timeout, --unpin")
                }
            }

            func run() async throws {
                if unpin {
                    let data = try await server.client.request("DELETE", "/deployments/\(name)/pin")
                    if rollbackEnabled == nil, dagDeploy == nil, retentionDays == nil, startTimeout == nil {
                        if server.json { printOut(String(decoding: data, as: UTF8.self) + "\n"); return }
                        printOut("Deployment \(name) is no longer pinned: deploys are accepted again\n")
                        return
                    }
                }
                /// Absent fields are left out of the JSON, so only the given settings change.
                struct Patch: Encodable { var rollbackEnabled: Bool?; var dagDeployEnabled: Bool?; var retentionDays: Int?; var startTimeoutSeconds: Int? }
                let body = Patch(rollbackEnabled: rollbackEnabled, dagDeployEnabled: dagDeploy, retentionDays: retentionDays,
                                 startTimeoutSeconds: startTimeout)
                let data = try await server.client.request("PATCH", "/deployments/\(name)/settings", body: body)
                if server.json { printOut(String(decoding: data, as: UTF8.self) + "\n"); return }
                let deployment = try server.client.decode(Deployment.self, data)
                printOut("Deployment \(deployment.name): rollback \(deployment.settings.rollbackEnabled ? "enabled" : "disabled"), DAG deploy \(deployment.settings.dagDeployEnabled ? "enabled" : "disabled"), retention \(deployment.settings.retentionDays) days\(deployment.settings.kubernetes.map { ", start timeout \($0.startTimeout) s" } ?? "")\n")
            }
        }
    }

    /// `airlock deploys list`: a deployment's deploy history, newest first.
    struct Deploys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show deploy history.", subcommands: [List.self])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List a deployment's deploys, newest first.")
            @Option(name: .customLong("deployment"), help: "Deployment name.") var deployment: String
            @Option(name: .customLong("limit")) var limit: Int = 50
            @Option(name: .customLong("offset")) var offset: Int = 0
            @OptionGroup var server: ServerOptions

            func run() async throws {
                let data = try await server.client.request("GET", "/deployments/\(deployment)/deploys?offset=\(offset)&limit=\(limit)")
                if server.json { printOut(String(decoding: data, as: UTF8.self) + "\n"); return }
                struct Page: Decodable { var deploys: [AirlockCore.Deploy]; var totalCount: Int }
                let page = try server.client.decode(Page.self, data)
                // What a Kubernetes target ran (image digest, Helm revision): columns only when a deploy of the page has them.
                let ranOnTarget = page.deploys.contains { $0.targetImage != nil || $0.helmRevision != nil }
                let headers: [String] = ["#", "Created", "By", "Type", "Status", "Image", "DAG bundle"]
                    + (ranOnTarget ? ["Image digest", "Helm"] : []) + ["Description"]
                let rows = page.deploys.map { deploy -> [String] in
                    var row: [String] = [deploy.label, ISO8601DateFormatter().string(from: deploy.createdAt), deploy.createdBy,
                                         deploy.type.rawValue, deploy.status.rawValue, deploy.image?.versionLabel ?? "–",
                                         deploy.dagBundleVersion.map { String($0.prefix(12)) } ?? "–"]
                    if ranOnTarget {
                        row.append(deploy.targetImage.map(Self.shortDigest(of:)) ?? "–")
                        row.append(deploy.helmRevision.map(String.init) ?? "–")
                    }
                    return row + [deploy.description]
                }
                printOut(TextTable.render(headers, rows))
                printOut("\(page.totalCount) deploy(s)\n")
            }

            /// `sha256:3f2a9c1e0b7d` of `registry/repo@sha256:3f2a…`: enough to tell images apart in a table
            /// (`--json` has the whole reference).
            static func shortDigest(of reference: String) -> String {
                guard let at = reference.lastIndex(of: "@") else { return reference }
                return String(reference[reference.index(after: at)...].prefix("sha256:".count + 12))
            }
        }
    }
}

/// `GET /deployments/{name}/status`: the deployment, what runs now and whether Airflow is healthy.
struct DeploymentStatusView: Decodable {
    struct Health: Decodable {
        /// `healthy`, `unhealthy`, `stopped`, or `unknown` when the target did not answer in time.
        var status: String
        var components: [String: String]
    }

    var deployment: Deployment
    var currentDeploy: Deploy?
    var airflowUrl: String?
    var health: Health?
    var dbSchemaHead: String?

    static func render(_ view: DeploymentStatusView) -> String {
        let deployment = view.deployment
        var current = "none yet"
        if let deploy = view.currentDeploy {
            current = "\(deploy.label) \(deploy.status.rawValue)"
            if let image = deploy.image { current += ", \(image.versionLabel)" }
            if let dags = deploy.dagBundleVersion { current += ", DAG bundle \(dags.prefix(12))" }
            if let image = deploy.targetImage { current += ", image \(image)" }
            if let revision = deploy.helmRevision { current += ", Helm revision \(revision)" }
            if !deploy.description.isEmpty { current += " (\(deploy.description))" }
        }
        var health = "unknown"
        if let status = view.health {
            health = status.status
            let components = status.components.keys.sorted().map { "\($0) \(status.components[$0] ?? "?")" }
            if !components.isEmpty { health += " (\(components.joined(separator: ", ")))" }
        }
        var text = """
        Deployment      \(deployment.name)
        Target          \(deployment.target.rawValue)
        Current deploy  \(current)
        Airflow URL     \(view.airflowUrl ?? "–")
        Health          \(health)
        DB schema head  \(view.dbSchemaHead ?? "–")
        Rollback        \(deployment.settings.rollbackEnabled ? "enabled" : "disabled")
        DAG deploy      \(deployment.settings.dagDeployEnabled ? "enabled" : "disabled")
        Retention       \(deployment.settings.retentionDays) days

        """
        if let kubernetes = deployment.settings.kubernetes {
            text += "Kubernetes      Helm release \(kubernetes.release) in namespace \(kubernetes.namespace) (chart \(kubernetes.chart)\(kubernetes.chartVersion.map { " " + $0 } ?? "")); images in \(kubernetes.registry)\n"
            text += "Start timeout   \(kubernetes.startTimeout) s (Helm's wait for the pods, a schema Job)\n"
            if let keys = kubernetes.valueKeys, !keys.isEmpty {
                text += "Value keys      " + keys.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.isEmpty ? "(not set)" : $0.value)" }.joined(separator: ", ") + "\n"
            }
        }
        if let pin = deployment.pinned {
            text += "Pinned          by \(pin.by) at \(ISO8601DateFormatter().string(from: pin.at)): \(pin.reason)\n"
        }
        return text
    }
}
