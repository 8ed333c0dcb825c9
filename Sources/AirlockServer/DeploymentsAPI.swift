import AirlockCore
import AirlockDeployer
import AirlockStorage
import Foundation
import Hummingbird

/// `/api/v1/deployments…`: deployments, their settings, deploy history and audit events.
/// Every mutating call needs a bearer token with a sufficient role; reads are open on loopback
/// (`ReadTokenMiddleware` closes them otherwise, and a rollback preview, a read sent as POST, follows it).
/// What each call accepts and answers is `OpenAPIDocument`; schemathesis holds the two together.
struct DeploymentsAPI: Sendable {
    var store: any DeployHistoryStore
    var artifacts: ArtifactStore
    var coordinator: DeployCoordinator
    /// Reads need a (viewer) token: the rule `ReadTokenMiddleware` applies to GETs.
    var readsNeedToken = false
    /// Encoded history pages, valid until the store's next write (nil: every page is read and encoded).
    var pages: HistoryPageCache?

    /// Upload size limits: the compressed-free tar itself and its unpacked content.
    static let uploadLimits: [ArtifactStore.Kind: Int] = [.image: 256 * 1024 * 1024, .dags: 64 * 1024 * 1024]

    func register(on group: RouterGroup<BasicRequestContext>) {
        group.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        group.get("health") { _, _ in
            // 503 until the repairs after a restart have run (`DeployCoordinator.beginReconcile`): a load balancer or
            // readiness probe then waits, and a client knows its deploy would queue behind them.
            if coordinator.isReconciled {
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
            }
            return Response(status: .serviceUnavailable, headers: [.contentType: "application/json", .retryAfter: "5"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"status":"starting","detail":"Repairing what the previous server left: deploys asked for now run after it"}"#)))
        }
        group.get("deployments") { _, _ in
            try await call { JSONBody(value: DeploymentList(deployments: try await store.listDeployments().map(\.withSecretsMasked))) }
        }
        group.post("deployments") { request, context in
            try await call {
                let token = try await authorize(request, .admin)
                let body = try await JSONRequestBody.decode(CreateDeploymentBody.self, from: request, operation: "POST /deployments")
                try Deployment.validateName(body.name)
                if let url = body.metadataDatabaseUrl {
                    try OpenAPIDocument.require(url, matches: OpenAPIDocument.metadataDatabaseUrlPattern, field: "metadataDatabaseUrl")
                    try DeploymentSettings.validateMetadataDatabaseUrl(url)
                }
                try body.validateTarget()
                if try await store.deployment(named: body.name) != nil {
                    throw APIError(.conflict, code: "deployment_exists", "A deployment named `\(body.name)` already exists")
                }
                let deployment = Deployment(id: UUID().uuidString.lowercased(), name: body.name, target: body.target ?? .local,
                                            settings: DeploymentSettings(metadataDatabaseUrl: body.metadataDatabaseUrl, kubernetes: body.kubernetes),
                                            currentDeployId: nil, pinned: nil)
                let created = try await store.createDeployment(deployment)
                try await store.appendAudit(audit("deployment.create", token, created.id, "created `\(created.name)`"))
                return JSONBody(value: created, status: .created)
            }
        }
        group.get("deployments/:name") { _, context in
            try await call { JSONBody(value: try await deployment(context).withSecretsMasked) }
        }
        group.patch("deployments/:name/settings") { request, context in
            try await call {
                let token = try await authorize(request, .admin)
                var deployment = try await deployment(context)
                let body = try await JSONRequestBody.decode(SettingsBody.self, from: request, operation: "PATCH /deployments/{name}/settings")
                if let value = body.rollbackEnabled { deployment.settings.rollbackEnabled = value }
                if let value = body.dagDeployEnabled { deployment.settings.dagDeployEnabled = value }
                if let value = body.deployMechanism { deployment.settings.deployMechanism = value }
                // A valid value for a deployment of another target: the deployment's state, not the body, is what
                // does not fit (409, as a pinned deployment refuses a deploy).
                if body.startTimeoutSeconds != nil, deployment.settings.kubernetes == nil {
                    throw APIError(.conflict, code: "not_kubernetes",
                                   "`startTimeoutSeconds` is a setting of Kubernetes deployments; `\(deployment.name)` runs on \(deployment.target.rawValue)")
                }
                do throws(AirlockError) {
                    if let value = body.retentionDays { try deployment.settings.setRetentionDays(value) }
                    if let value = body.startTimeoutSeconds { try deployment.settings.kubernetes?.setStartTimeout(value) }
                    for key in body.removeEnvironmentVariables ?? [] { deployment.settings.removeEnvironmentVariable(key) }
                    for (key, value) in (body.environmentVariables ?? [:]).sorted(by: { $0.key < $1.key }) {
                        try deployment.settings.setEnvironmentVariable(key, to: value)
                    }
                } catch {
                    throw JSONRequestBody.invalid(error.message)
                }
                return JSONBody(value: try await store.updateSettings(deploymentId: deployment.id, settings: deployment.settings,
                                                                      actor: token.name).withSecretsMasked)
            }
        }
        group.get("deployments/:name/deploys") { request, context in
            try await call {
                let offset = try request.integerQuery("offset", default: 0, range: OpenAPIDocument.offsets)
                let limit = try request.integerQuery("limit", default: 50, range: OpenAPIDocument.deployPageLimits)
                let search = try DeploySearch.query(request.uri.queryParameters.getAll("search"))
                let key = HistoryPageCache.Key(deploymentName: try context.parameters.require("name"), offset: offset, limit: limit,
                                               search: search?.text)
                if let body = pages?.page(key) { return JSONBody<DeployHistoryPage>.response(body) }
                let generation = pages?.generation
                let deployment = try await deployment(context)
                let page = try await store.listDeploys(deploymentId: deployment.id, offset: offset, limit: limit, search: search)
                let body = try JSONBody.encode(DeployHistoryPage(deploys: page.deploys, offset: offset, limit: limit, totalCount: page.totalCount))
                if let generation { pages?.keep(body, for: key, readAt: generation) }
                return JSONBody<DeployHistoryPage>.response(body)
            }
        }
        group.post("deployments/:name/deploys") { request, context in
            try await call {
                let token = try await authorize(request, .deployer)
                let deployment = try await deployment(context)
                let body = try await JSONRequestBody.decode(CreateDeployBody.self, from: request, operation: "POST /deployments/{name}/deploys")
                try OpenAPIDocument.requireDescription(body.description)
                if let pin = deployment.pinned {
                    throw APIError(.conflict, code: "deployment_pinned",
                                   "Deployment `\(deployment.name)` is pinned (\(pin.reason)); unpin it before deploying")
                }
                let type = body.type ?? .imageAndDag
                if type == .dagOnly, !deployment.settings.dagDeployEnabled {
                    throw APIError(.conflict, code: "dag_deploy_disabled", "DAG-only deploys are disabled for `\(deployment.name)`; deploy the whole project or enable DAG deploys")
                }
                let description = (body.description ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                let deploy = Deploy(id: UUID().uuidString.lowercased(), deploymentId: deployment.id, sequence: 0, type: type,
                                    status: .initialized, description: description, createdAt: Date(), createdBy: token.name,
                                    image: nil, dagBundleVersion: nil, dagDeployEnabled: deployment.settings.dagDeployEnabled,
                                    dbSchemaHead: nil, git: body.git?.metadata, everDeployed: false)
                return JSONBody(value: try await store.createDeploy(deploy), status: .created)
            }
        }
        group.get("deployments/:name/deploys/:ref") { _, context in
            try await call {
                let deployment = try await deployment(context)
                return JSONBody(value: try await deployView(try await deploy(context, in: deployment), in: deployment))
            }
        }
        group.post("deployments/:name/deploys/:ref/finalize") { request, context in
            try await call {
                let token = try await authorize(request, .deployer)
                let deployment = try await deployment(context)
                let deploy = try await deploy(context, in: deployment)
                let body = try await JSONRequestBody.decode(FinalizeBody.self, from: request, operation: "POST /deployments/{name}/deploys/{ref}/finalize")
                for (field, digest) in [("imageDigest", body.imageDigest), ("dagsDigest", body.dagsDigest)] {
                    if let digest { try OpenAPIDocument.require(digest, matches: OpenAPIDocument.digestPattern, field: field) }
                }
                let queued = try await conflictOnRefusal("finalize_refused") {
                    try await coordinator.finalize(deployId: deploy.id, deployment: deployment, imageDigest: body.imageDigest,
                                                   dagsDigest: body.dagsDigest, actor: token.name)
                }
                return JSONBody(value: queued, status: .accepted)
            }
        }
        group.post("deployments/:name/deploys/:ref/cancel") { request, context in
            try await call {
                let token = try await authorize(request, .deployer)
                let deployment = try await deployment(context)
                let deploy = try await deploy(context, in: deployment)
                let body = try await JSONRequestBody.decode(CancelBody.self, from: request, operation: "POST /deployments/{name}/deploys/{ref}/cancel", optional: true)
                return JSONBody(value: try await conflictOnRefusal("cancel_refused") {
                    try await coordinator.cancel(deployId: deploy.id, reason: body.reason ?? "Cancelled by the client", actor: token.name)
                })
            }
        }
        group.get("deployments/:name/status") { _, context in
            try await call {
                let deployment = try await deployment(context)
                var current: Deploy?
                if let id = deployment.currentDeployId { current = try await store.deploy(id: id) }
                let live = await coordinator.status(of: deployment)
                return JSONBody(value: DeploymentStatus(deployment: deployment.withSecretsMasked, currentDeploy: current, airflowUrl: live.airflowUrl,
                                                        health: live.health, dbSchemaHead: live.dbSchemaHead))
            }
        }
        group.delete("deployments/:name/pin") { request, context in
            try await call {
                let token = try await authorize(request, .admin)
                let deployment = try await deployment(context)
                return JSONBody(value: try await store.setPin(deploymentId: deployment.id, pin: nil, actor: token.name).withSecretsMasked)
            }
        }
        group.put("deployments/:name/artifacts/:kind") { request, context in
            try await call {
                _ = try await authorize(request, .deployer)
                _ = try await deployment(context)
                guard let kind = ArtifactStore.Kind(rawValue: try context.parameters.require("kind")) else {
                    throw APIError(.notFound, code: "not_found", "Artifacts are `image` or `dags`")
                }
                let limit = Self.uploadLimits[kind] ?? 0
                let buffer: ByteBuffer
                do {
                    buffer = try await request.body.collect(upTo: limit)
                } catch {
                    throw APIError(.contentTooLarge, code: "upload_too_large", "The \(kind.rawValue) upload is larger than \(limit / (1024 * 1024)) MB")
                }
                let bytes = Array(buffer.readableBytesView)
                do {
                    let result = try artifacts.store(kind, tar: bytes, limits: .init(maxEntries: 100_000, maxTotalBytes: limit * 4))
                    return JSONBody(value: UploadResult(kind: kind.rawValue, digest: result.digest, files: result.manifest.files.count,
                                                        stored: result.stored), status: result.stored ? .created : .ok)
                } catch let error as AirlockError where error.kind == .usage {
                    throw APIError(.badRequest, code: "invalid_bundle", error.message)
                }
            }
        }
        group.post("deployments/:name/deploys/:ref/rollback") { request, context in
            try await call {
                let deployment = try await deployment(context)
                let body = try await JSONRequestBody.decode(RollbackBody.self, from: request, operation: "POST /deployments/{name}/deploys/{ref}/rollback")
                if let description = body.description {
                    try OpenAPIDocument.requireDescription(description)
                    guard !description.isEmpty else { throw JSONRequestBody.invalid("`description` must not be empty; leave it out instead") }
                }
                let dryRun = body.dryRun ?? false
                // A preview is a read (a token when reads need one); executing needs a token with the
                // rollback role (checked by the planner).
                let token: APIToken? = dryRun && !readsNeedToken ? nil : try await authorize(request, .viewer)
                let plan = try await planRollback(deployment: deployment, reference: try context.parameters.require("ref"),
                                                  description: body.description, dryRun: dryRun,
                                                  restoreBackup: body.restoreBackup ?? false, role: token?.role ?? .viewer)
                guard let token, !dryRun else { return JSONBody(value: RollbackResult(plan: plan, deploy: nil)) }
                let deploy = try await startRollback(plan, deployment: deployment, expectedFromId: body.expectedFromId, actor: token.name,
                                                     pin: body.pin ?? false)
                return JSONBody(value: RollbackResult(plan: plan, deploy: deploy), status: .accepted)
            }
        }
        group.get("deployments/:name/audit-events") { request, context in
            try await call {
                let deployment = try await deployment(context)
                return JSONBody(value: try await auditList(request, deploymentId: deployment.id))
            }
        }
    }

    /// The planner's rollback plan, with the pins, manifests, migrations and backup the server knows: what
    /// the API and the web UI preview and run. Refusals are 409 `rollback_refused`.
    func planRollback(deployment: Deployment, reference: String, description: String?, dryRun: Bool, restoreBackup: Bool,
                      role: Role) async throws -> RollbackPlan {
        let history = try await store.history(deploymentId: deployment.id)
        let target = try RollbackPlanner.resolveTarget(reference, in: history)
        let current = history.first { $0.id == deployment.currentDeployId }
        let currentPins = current.flatMap { coordinator.pins(deploymentId: deployment.id, deployId: $0.id) }
        let targetPins = coordinator.pins(deploymentId: deployment.id, deployId: target.id)
        let backup = coordinator.backupBeforeUpgrade(deploymentId: deployment.id, target: target)
        var migrations: [DatabaseMigration] = []
        if let current { migrations = await coordinator.migrations(deploymentId: deployment.id, current: current, target: target) }
        let plan: RollbackPlan
        do {
            plan = try RollbackPlanner.plan(
                deployment: deployment, history: history, targetId: reference, now: Date(), description: description,
                dryRun: dryRun, restoreBackup: restoreBackup, role: role,
                currentPins: currentPins, targetPins: targetPins,
                currentManifest: manifest(of: current), targetManifest: manifest(of: target),
                migrations: migrations, backupBeforeUpgrade: backup)
        } catch {
            throw APIError(.conflict, code: "rollback_refused", error.message)
        }
        return plan
    }

    /// Queues the rollback of a (non-dry-run) plan, unless another deploy became current after the preview
    /// that showed `expectedFromId` (409 `current_deploy_changed`).
    func startRollback(_ plan: RollbackPlan, deployment: Deployment, expectedFromId: String?, actor: String, pin: Bool) async throws -> Deploy {
        if let expected = expectedFromId, expected != plan.fromDeploy.id {
            throw APIError(.conflict, code: "current_deploy_changed",
                           "\(plan.fromDeploy.label) was deployed after the preview; preview the rollback again")
        }
        return try await coordinator.rollback(plan: plan, deployment: deployment, actor: actor, pin: pin)
    }

    /// Runs a handler, turning Airlock's errors into API errors with stable codes.
    func call<Result: ResponseGenerator>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as AirlockError {
            throw APIError.from(error)
        }
    }

    /// Runs a state-changing step whose refusals (`AirlockError.usage`: already finalized, artifact not
    /// uploaded, running) are conflicts with the deploy's state: 409 with `code`; not-found stays 404.
    private func conflictOnRefusal<Value>(_ code: String, _ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch let error as AirlockError where error.kind == .usage && !error.isNotFound {
            throw APIError(.conflict, code: code, error.message)
        }
    }

    /// The files of a deploy's image and DAG bundle (`path → sha256`), when its artifacts are stored.
    func manifest(of deploy: Deploy?) -> [String: String]? {
        guard let deploy else { return nil }
        var files: [String: String] = [:]
        var found = false
        if let digest = deploy.image?.projectDigest, let image = artifacts.manifest(.image, digest: digest) {
            files.merge(image.files) { first, _ in first }
            found = true
        }
        if let digest = deploy.dagBundleVersion, let dags = artifacts.manifest(.dags, digest: digest) {
            files.merge(dags.files) { first, _ in first }
            found = true
        }
        return found ? files : nil
    }

    /// A deploy with what it is doing now or why it failed, and its steps.
    func deployView(_ deploy: Deploy, in deployment: Deployment) async throws -> DeployView {
        var message = await coordinator.statusMessage(deployId: deploy.id)
        if message == nil, deploy.status == .failed {
            message = try await store.auditEvents(deploymentId: deployment.id, limit: 200)
                .first { $0.afterDeployId == deploy.id && $0.outcome == .failed }?.detail
        }
        return DeployView(deploy: deploy, statusMessage: message, steps: await coordinator.steps(deployId: deploy.id))
    }

    /// The deploy named by `:ref` (`3`, `#3` or an id) in the deployment.
    private func deploy(_ context: BasicRequestContext, in deployment: Deployment) async throws -> Deploy {
        try await deploy(reference: (try context.parameters.require("ref")).removingPercentEncoding ?? "", in: deployment)
    }

    /// The deploy `reference` (`3`, `#3` or an id) names in the deployment; 404 `deploy_not_found` otherwise.
    func deploy(reference: String, in deployment: Deployment) async throws -> Deploy {
        if let deploy = try await store.deploy(id: reference), deploy.deploymentId == deployment.id { return deploy }
        if let sequence = Deploy.sequence(fromReference: reference) {
            // Sequences are dense from 1, newest first: the page holding #sequence.
            let total = try await store.listDeploys(deploymentId: deployment.id, offset: 0, limit: 1).totalCount
            let offset = total - sequence
            if offset >= 0, let deploy = try await store.listDeploys(deploymentId: deployment.id, offset: offset, limit: 1).deploys.first,
               deploy.sequence == sequence {
                return deploy
            }
        }
        throw APIError(.notFound, code: "deploy_not_found", "No deploy `\(reference)` in deployment `\(deployment.name)`")
    }

    private func deployment(_ context: BasicRequestContext) async throws -> Deployment {
        let name = try context.parameters.require("name")
        guard let deployment = try await store.deployment(named: name) else {
            throw APIError(.notFound, code: "deployment_not_found", "No deployment named `\(name)`")
        }
        return deployment
    }

    func authorize(_ request: Request, _ role: Role) async throws -> APIToken {
        try await TokenAuthorizer(store: store).authorize(request, role)
    }

    private func audit(_ action: String, _ token: APIToken, _ deploymentId: String, _ detail: String) -> AuditEvent {
        AuditEvent(id: UUID().uuidString.lowercased(), at: Date(), actor: token.name, action: AuditEvent.Action(rawValue: action),
                   deploymentId: deploymentId, beforeDeployId: nil, afterDeployId: nil, beforeRuntime: nil, afterRuntime: nil,
                   outcome: .succeeded, requestId: nil, detail: detail)
    }
}

struct CreateDeploymentBody: Decodable {
    var name: String
    var target: DeploymentTarget?
    /// PostgreSQL for Airflow's metadata DB; absent means SQLite in the deployment's home.
    var metadataDatabaseUrl: String?
    /// Required with `target: kubernetes`, refused otherwise.
    var kubernetes: KubernetesSettings?

    /// A Kubernetes deployment names its cluster, release, chart and registry, and a PostgreSQL
    /// metadata DB (pods cannot share a SQLite file with the server).
    func validateTarget() throws(AirlockError) {
        switch target ?? .local {
        case .local:
            guard kubernetes == nil else { throw .usage("`kubernetes` settings are only for `target: kubernetes`") }
        case .kubernetes:
            guard let kubernetes else { throw .usage("`kubernetes` settings (kubeconfig, namespace, release, chart, registry) are required with `target: kubernetes`") }
            try kubernetes.validate()
            guard metadataDatabaseUrl != nil else {
                throw .usage("`metadataDatabaseUrl` is required with `target: kubernetes`: a PostgreSQL database both this server and the cluster's pods reach")
            }
        }
    }
}

struct RollbackBody: Decodable {
    var description: String?
    var dryRun: Bool?
    var restoreBackup: Bool?
    var pin: Bool?
    /// The deploy the caller's preview replaced; a rollback is refused when another one is current now.
    var expectedFromId: String?
}

struct CreateDeployBody: Decodable {
    var type: DeployType?
    var description: String?
    var git: GitBody?
}

/// `git` of a new deploy: every field optional, as the client found them (`{}` records none).
struct GitBody: Decodable {
    var commit: String?
    var branch: String?
    var author: String?
    var remote: String?

    var metadata: GitMetadata? {
        guard commit != nil || branch != nil || author != nil || remote != nil else { return nil }
        return GitMetadata(commit: commit ?? "", branch: branch, author: author, remote: remote)
    }
}

struct CancelBody: Decodable {
    var reason: String?
}

struct FinalizeBody: Decodable {
    var imageDigest: String?
    var dagsDigest: String?
}

/// A dry run answers the plan alone (as before); a real rollback answers `{plan, deploy}`.
struct RollbackResult: Encodable, Sendable {
    var plan: RollbackPlan
    var deploy: Deploy?

    func encode(to encoder: any Encoder) throws {
        guard let deploy else { return try plan.encode(to: encoder) }
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(plan, forKey: .plan)
        try container.encode(deploy, forKey: .deploy)
    }

    private enum CodingKeys: String, CodingKey { case plan, deploy }
}

/// A deploy and, while it runs or once it failed, what it is doing or why it failed.
struct DeployView: Encodable, Sendable {
    var deploy: Deploy
    var statusMessage: String?
    /// Every step so far, oldest first (empty once the server restarted).
    var steps: [DeployStep]

    /// `steps` as messages, as before, and `stepStartedAt` beside them (when each began, with milliseconds), so a
    /// client that reads `steps` alone keeps working.
    func encode(to encoder: any Encoder) throws {
        try deploy.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(statusMessage, forKey: Key(stringValue: "statusMessage"))
        try container.encode(steps.map(\.message), forKey: Key(stringValue: "steps"))
        try container.encode(steps.map { DeployStep.timestamp($0.startedAt) }, forKey: Key(stringValue: "stepStartedAt"))
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

struct DeploymentStatus: Encodable, Sendable {
    var deployment: Deployment
    var currentDeploy: Deploy?
    var airflowUrl: String?
    var health: LiveStatus.Health
    var dbSchemaHead: String?

    private enum CodingKeys: String, CodingKey { case deployment, currentDeploy, airflowUrl, health, dbSchemaHead }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(deployment, forKey: .deployment)
        try container.encode(currentDeploy, forKey: .currentDeploy)
        try container.encode(airflowUrl, forKey: .airflowUrl)
        try container.encode(health, forKey: .health)
        try container.encode(dbSchemaHead, forKey: .dbSchemaHead)
    }
}

struct SettingsBody: Decodable {
    var rollbackEnabled: Bool?
    var dagDeployEnabled: Bool?
    var retentionDays: Int?
    var deployMechanism: DeployMechanism?
    /// Added or changed, each checked by `EnvironmentVariables.validate`.
    var environmentVariables: [String: String]?
    /// Names to remove (before the additions).
    var removeEnvironmentVariables: [String]?
    /// Kubernetes deployments: `KubernetesSettings.startTimeoutSeconds`.
    var startTimeoutSeconds: Int?
}

struct DeploymentList: Encodable, Sendable { var deployments: [Deployment] }
struct UploadResult: Encodable, Sendable { var kind: String; var digest: String; var files: Int; var stored: Bool }
struct DeployHistoryPage: Encodable, Sendable { var deploys: [Deploy]; var offset: Int; var limit: Int; var totalCount: Int }
struct AuditList: Encodable, Sendable { var events: [AuditEvent]; var offset: Int; var limit: Int; var totalCount: Int }
