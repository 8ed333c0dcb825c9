import AirlockCore
import AirlockStorage
import Foundation
import Hummingbird

/// `/api/v1/deployments…`: deployments, their settings, deploy history and audit events.
/// Reads are open on loopback; every mutating call needs a bearer token with a sufficient role.
struct DeploymentsAPI: Sendable {
    var store: any DeployHistoryStore
    var artifacts: ArtifactStore

    /// Upload size limits: the compressed-free tar itself and its unpacked content.
    static let uploadLimits: [ArtifactStore.Kind: Int] = [.image: 256 * 1024 * 1024, .dags: 64 * 1024 * 1024]

    func register(on group: RouterGroup<BasicRequestContext>) {
        group.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        group.get("deployments") { _, _ in
            try await call { JSONBody(value: DeploymentList(deployments: try await store.listDeployments())) }
        }
        group.post("deployments") { request, context in
            try await call {
                let token = try await authorize(request, .admin)
                let body = try await decode(CreateDeploymentBody.self, request, context)
                try Deployment.validateName(body.name)
                let deployment = Deployment(id: UUID().uuidString.lowercased(), name: body.name, target: body.target ?? .local,
                                            settings: DeploymentSettings(), currentDeployId: nil, pinned: nil)
                let created = try await store.createDeployment(deployment)
                try await store.appendAudit(audit("deployment.create", token, created.id, "created `\(created.name)`"))
                return JSONBody(value: created, status: .created)
            }
        }
        group.get("deployments/:name") { _, context in
            try await call { JSONBody(value: try await deployment(context)) }
        }
        group.patch("deployments/:name/settings") { request, context in
            try await call {
                let token = try await authorize(request, .admin)
                var deployment = try await deployment(context)
                let body = try await decode(SettingsBody.self, request, context)
                if let value = body.rollbackEnabled { deployment.settings.rollbackEnabled = value }
                if let value = body.dagDeployEnabled { deployment.settings.dagDeployEnabled = value }
                if let value = body.retentionDays {
                    guard value >= 1 else { throw AirlockError.usage("`retentionDays` must be at least 1") }
                    deployment.settings.retentionDays = value
                }
                return JSONBody(value: try await store.updateSettings(deploymentId: deployment.id, settings: deployment.settings,
                                                                      actor: token.name))
            }
        }
        group.get("deployments/:name/deploys") { request, context in
            try await call {
                let deployment = try await deployment(context)
                let offset = max(0, request.uri.queryParameters.get("offset", as: Int.self) ?? 0)
                let limit = min(500, max(1, request.uri.queryParameters.get("limit", as: Int.self) ?? 50))
                let page = try await store.listDeploys(deploymentId: deployment.id, offset: offset, limit: limit)
                return JSONBody(value: DeployPage(deploys: page.deploys, offset: offset, limit: limit, totalCount: page.totalCount))
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
                let body = try await decode(RollbackBody.self, request, context)
                let dryRun = body.dryRun ?? false
                // Anyone may preview; executing needs a token with the rollback role (checked by the planner).
                let role: Role = dryRun ? .viewer : try await authorize(request, .viewer).role
                let history = try await store.history(deploymentId: deployment.id)
                let reference = try context.parameters.require("ref")
                let target = try RollbackPlanner.resolveTarget(reference, in: history)
                let current = history.first { $0.id == deployment.currentDeployId }
                let plan: RollbackPlan
                do {
                    plan = try RollbackPlanner.plan(
                        deployment: deployment, history: history, targetId: reference, now: Date(), description: body.description,
                        dryRun: dryRun, restoreBackup: body.restoreBackup ?? false, role: role,
                        currentManifest: manifest(of: current), targetManifest: manifest(of: target))
                } catch let error as AirlockError {
                    throw APIError(.conflict, code: "rollback_refused", error.message)
                }
                guard dryRun else {
                    throw APIError(.notImplemented, code: "not_implemented",
                                   "Rollback execution arrives with the local deploy flow; use dryRun to preview")
                }
                return JSONBody(value: plan)
            }
        }
        group.get("deployments/:name/audit-events") { request, context in
            try await call {
                let deployment = try await deployment(context)
                let limit = min(1000, max(1, request.uri.queryParameters.get("limit", as: Int.self) ?? 100))
                return JSONBody(value: AuditList(events: try await store.auditEvents(deploymentId: deployment.id, limit: limit)))
            }
        }
    }

    /// Runs a handler, turning Airlock's errors into API errors with stable codes.
    private func call<Result: ResponseGenerator>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as AirlockError {
            throw APIError.from(error)
        }
    }

    /// The files of a deploy's image and DAG bundle (`path → sha256`), when its artifacts are stored.
    private func manifest(of deploy: Deploy?) -> [String: String]? {
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

    private func deployment(_ context: BasicRequestContext) async throws -> Deployment {
        let name = try context.parameters.require("name")
        guard let deployment = try await store.deployment(named: name) else {
            throw APIError(.notFound, code: "deployment_not_found", "No deployment named `\(name)`")
        }
        return deployment
    }

    private func decode<Body: Decodable>(_ type: Body.Type, _ request: Request, _ context: BasicRequestContext) async throws -> Body {
        do {
            return try await request.decode(as: Body.self, context: context)
        } catch {
            throw APIError(.badRequest, code: "invalid_body", "The request body is not valid JSON for this call")
        }
    }

    /// The caller's token, which must carry `role` (or admin). Missing or unknown tokens get 401, weak ones 403.
    private func authorize(_ request: Request, _ role: Role) async throws -> APIToken {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(.unauthorized, code: "unauthorized", "This call needs an API token (Authorization: Bearer …)")
        }
        guard let token = try await store.token(matching: String(header.dropFirst("Bearer ".count))) else {
            throw APIError(.unauthorized, code: "unauthorized", "The API token is not valid")
        }
        guard token.role.satisfies(role) else {
            throw APIError(.forbidden, code: "forbidden", "This call needs the `\(role.rawValue)` role; the token has `\(token.role.rawValue)`")
        }
        return token
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
}

struct RollbackBody: Decodable {
    var description: String?
    var dryRun: Bool?
    var restoreBackup: Bool?
}

struct SettingsBody: Decodable {
    var rollbackEnabled: Bool?
    var dagDeployEnabled: Bool?
    var retentionDays: Int?
}

struct DeploymentList: Encodable, Sendable { var deployments: [Deployment] }
struct UploadResult: Encodable, Sendable { var kind: String; var digest: String; var files: Int; var stored: Bool }
struct DeployPage: Encodable, Sendable { var deploys: [Deploy]; var offset: Int; var limit: Int; var totalCount: Int }
struct AuditList: Encodable, Sendable { var events: [AuditEvent] }
