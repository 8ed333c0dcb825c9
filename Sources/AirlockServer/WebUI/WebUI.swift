import AirlockCore
import AirlockDeployer
import AirlockStorage
import Foundation
import Hummingbird

/// The web UI of `airlock server` (SPEC §4.4): server-rendered pages at `/` beside `/api/v1`, on the
/// same port. Every page works without JavaScript; forms post back and the server redirects.
///
/// The pages read and change state through the same pieces the API uses — the store, `RollbackPolicy`
/// for each row's eligibility, and `DeploymentsAPI.planRollback` / `startRollback` (the planner with the
/// server's pins, manifests, migrations and backup) — so a rule lives in one place.
///
/// Access: a signed-in session (made from an API token) acts with the token's role. Reads follow the
/// API: open on loopback unless `--require-token-for-reads`, otherwise they need a session. A change
/// needs a session, the session's CSRF token in the form, and the role the API would need (403 otherwise).
struct WebUI: Sendable {
    var api: DeploymentsAPI
    /// Reads need a session (the API's `requireTokenForReads`).
    var readsNeedSignIn: Bool
    /// The browsers' sessions, in the store.
    var sessions: WebSessionStore { WebSessionStore(store: store) }
    /// The Deploy History page's store reads until the next write (`HistoryReadCache`).
    var historyReads = HistoryReadCache()
    /// The deployment page's live status for a moment (`LiveStatusCache`).
    var liveStatuses = LiveStatusCache()
    /// The Deploy History rows as rendered, for a moment (`HistoryRowsCache`).
    var historyRows = HistoryRowsCache()

    static let pageSize = 50
    static let sessionCookie = "airlock_session"
    /// Double-submit cookie for the sign-in form (there is no session yet to hold its CSRF token).
    static let signInCookie = "airlock_signin"
    /// How often a running deploy's page reloads itself (no JavaScript needed).
    static let refreshSeconds = 3

    var store: any DeployHistoryStore { api.store }

    func register(on router: Router<BasicRequestContext>) {
        let ui = router.group().add(middleware: WebUIMiddleware())
        ui.get("ui/airlock.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                     body: .init(byteBuffer: ByteBuffer(string: WebTemplates.stylesheet)))
        }
        ui.get("ui/airlock.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "max-age=300"],
                     body: .init(byteBuffer: ByteBuffer(string: Self.script)))
        }
        ui.get("/") { request, _ in try await deploymentsPage(request) }
        ui.post("deployments") { request, _ in try await createDeployment(request) }
        ui.get("signin") { request, _ in signInPage(request, error: nil, status: .ok) }
        ui.post("signin") { request, _ in try await signIn(request) }
        ui.post("signout") { request, _ in try await signOut(request) }
        ui.get("deployments/:name") { request, context in try await deploymentPage(request, context) }
        ui.get("deployments/:name/settings") { request, context in
            try await settingsPage(request, context, saved: request.uri.queryParameters["saved"] != nil)
        }
        ui.post("deployments/:name/settings") { request, context in try await saveSettings(request, context) }
        ui.post("deployments/:name/settings/environment") { request, context in try await changeEnvironmentVariable(request, context) }
        ui.get("deployments/:name/deploys/:ref") { request, context in try await deployPage(request, context) }
        ui.get("deployments/:name/deploys/:ref/events") { request, context in try await deployEvents(request, context) }
        ui.get("deployments/:name/deploys/:ref/rollback") { request, context in try await rollbackPage(request, context) }
        ui.post("deployments/:name/deploys/:ref/rollback") { request, context in try await rollback(request, context) }
        ui.get("audit") { request, _ in try await auditPage(request) }
        ui.get("tokens") { request, _ in try await tokensPage(request) }
        ui.post("tokens") { request, _ in try await createToken(request) }
        ui.get("tokens/:id/revoke") { request, context in try await revokeTokenPage(request, context) }
        ui.post("tokens/:id/revoke") { request, context in try await revokeToken(request, context) }
        registerHistoryPages(on: ui)
    }

    // MARK: Sessions

    /// Who is asking: the live session of the request's cookie, if any. A session whose token was
    /// revoked ends here, at once.
    func session(_ request: Request) async throws -> WebSession? {
        guard let id = request.cookies[Self.sessionCookie]?.value else { return nil }
        return try await sessions.session(id: id)
    }

    /// The session for a read: none is fine on an open server; otherwise the browser goes to sign in.
    func reader(_ request: Request) async throws -> WebSession? {
        let session = try await session(request)
        if session == nil, readsNeedSignIn { throw WebRedirect.signIn(from: request) }
        return session
    }

    /// The session for a change: signed in, the form's CSRF token matches, and the role is enough.
    func writer(_ request: Request, form: [String: String], needs role: Role?) async throws -> WebSession {
        guard let session = try await session(request) else {
            throw WebPageError(.forbidden, "Sign in first: changes need a signed-in session")
        }
        guard let csrf = form["csrf"], Self.constantTimeEqual(csrf, session.csrf) else {
            throw WebPageError(.forbidden, "The form is missing its CSRF token or it is stale; reload the page and try again")
        }
        if let role, !session.role.satisfies(role) {
            throw WebPageError(.forbidden, "This needs the `\(role.rawValue)` role; you are signed in as `\(session.role.rawValue)`")
        }
        return session
    }

    func signInPage(_ request: Request, error: String?, status: HTTPResponse.Status) -> Response {
        let csrf = WebSessionStore.randomHex()
        let next = Self.localPath(request.uri.queryParameters["next"].map(String.init)) ?? "/"
        var response = WebTemplates.render("signin", SignInPage(frame: Frame(title: "Sign in", session: nil), csrf: csrf, next: next, error: error),
                                           status: status)
        response.setCookie(Self.cookie(request, name: Self.signInCookie, value: csrf, maxAge: 3600, path: "/signin"))
        return response
    }

    func signIn(_ request: Request) async throws -> Response {
        let form = try await WebForm.read(request)
        guard let csrf = form["csrf"], let cookie = request.cookies[Self.signInCookie]?.value, Self.constantTimeEqual(csrf, cookie) else {
            throw WebPageError(.forbidden, "The sign-in form is missing its CSRF token or it is stale; reload the page and try again")
        }
        let secret = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty, let token = try await store.token(matching: secret) else {
            return signInPage(request, error: "That API token is not valid (or it was revoked)", status: .unauthorized)
        }
        let id = try await sessions.create(for: token)
        var response = Response(status: .seeOther, headers: [.location: Self.localPath(form["next"]) ?? "/"])
        response.setCookie(Self.cookie(request, name: Self.sessionCookie, value: id, maxAge: Int(WebSessionStore.lifetime), path: "/"))
        response.setCookie(Self.cookie(request, name: Self.signInCookie, value: "", maxAge: 0, path: "/signin"))
        return response
    }

    func signOut(_ request: Request) async throws -> Response {
        let form = try await WebForm.read(request)
        _ = try await writer(request, form: form, needs: nil)
        if let id = request.cookies[Self.sessionCookie]?.value { try await sessions.end(id: id) }
        var response = Response(status: .seeOther, headers: [.location: "/signin"])
        response.setCookie(Self.cookie(request, name: Self.sessionCookie, value: "", maxAge: 0, path: "/"))
        return response
    }

    // MARK: Deployments

    func deploymentsPage(_ request: Request, error: String? = nil, typedName: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let session = try await reader(request)
        var rows: [DeploymentsPage.Row] = []
        for deployment in try await store.listDeployments() {
            let current = try await deployment.currentDeployId.asyncFlatMap { try await store.deploy(id: $0) }
            let live = await api.coordinator.status(of: deployment)
            rows.append(.init(name: deployment.name, pathName: Self.pathSegment(deployment.name), target: deployment.target.rawValue,
                              current: current.map { DeployLink($0) }, health: live.health.status,
                              rollbackEnabled: deployment.settings.rollbackEnabled, pinned: deployment.pinned.map(PinView.init)))
        }
        let page = DeploymentsPage(frame: Frame(title: "Deployments", session: session), deployments: rows, hasDeployments: !rows.isEmpty,
                                   canCreate: session?.role == .admin, csrf: session?.csrf, error: error, newName: typedName)
        return WebTemplates.render("deployments", page, status: status)
    }

    func createDeployment(_ request: Request) async throws -> Response {
        let form = try await WebForm.read(request)
        let session = try await writer(request, form: form, needs: .admin)
        let name = (form["name"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            try Deployment.validateName(name)
            if try await store.deployment(named: name) != nil { throw AirlockError.usage("A deployment named `\(name)` already exists") }
            let deployment = Deployment(id: UUID().uuidString.lowercased(), name: name, target: .local, settings: DeploymentSettings(),
                                        currentDeployId: nil, pinned: nil)
            let created = try await store.createDeployment(deployment)
            try await store.appendAudit(AuditEvent(id: UUID().uuidString.lowercased(), at: Date(), actor: session.tokenName,
                                                   action: AuditEvent.Action(rawValue: "deployment.create"), deploymentId: created.id,
                                                   beforeDeployId: nil, afterDeployId: nil, beforeRuntime: nil, afterRuntime: nil,
                                                   outcome: .succeeded, requestId: nil, detail: "created `\(created.name)` (web UI)"))
            return Response(status: .seeOther, headers: [.location: "/deployments/\(Self.pathSegment(created.name))"])
        } catch let error as AirlockError where error.kind == .usage {
            return try await deploymentsPage(request, error: error.message, typedName: name, status: .unprocessableContent)
        }
    }

    func deployment(_ context: BasicRequestContext) async throws -> Deployment {
        let name = try context.parameters.require("name")
        guard let deployment = try await store.deployment(named: name) else {
            throw WebPageError(.notFound, "No deployment named `\(name)`")
        }
        return deployment
    }

    func deploymentPage(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try await reader(request)
        let deployment = try await deployment(context)
        let offset = max(0, Int(request.uri.queryParameters["offset"].map(String.init) ?? "") ?? 0)
        let search = try WebHistory.search(request)
        let readsKey = HistoryReadCache.Key(deploymentId: deployment.id, offset: offset, search: search?.text)
        let reads = try await historyReads.reads(readsKey, pages: api.pages) {
            let page = try await store.listDeploys(deploymentId: deployment.id, offset: offset, limit: Self.pageSize, search: search)
            let total = search == nil ? page.totalCount : try await store.listDeploys(deploymentId: deployment.id, offset: 0, limit: 0).totalCount
            return HistoryReadCache.Reads(page: page.deploys, matching: page.totalCount, total: total,
                                          eligibility: try await eligibilityHistory(of: deployment, page: page.deploys, totalCount: total))
        }
        let page = (deploys: reads.page, totalCount: reads.matching), history = reads.eligibility
        let current = RollbackPolicy.currentDeploy(in: history, deployment: deployment)
        let live = await liveStatuses.status(of: deployment, pages: api.pages) { await api.coordinator.status(of: deployment) }
        let rowsHTML = try await historyRows.rows(.init(reads: readsKey, role: session?.role), pages: api.pages) {
            let bySequence = Dictionary(history.map { ($0.id, $0.sequence) }, uniquingKeysWith: { first, _ in first })
            let now = Date()
            var rows: [HistoryRow] = []
            for deploy in page.deploys {
                rows.append(HistoryRow(deploy, pathName: Self.pathSegment(deployment.name), isCurrent: deploy.id == current?.id,
                                       rollbackOf: try await rollbackOf(deploy, known: bySequence),
                                       availability: availability(of: deploy, history: history, deployment: deployment, now: now, session: session)))
            }
            return WebTemplates.text("history_rows", HistoryRowsView(rows: rows, query: search?.text))
        }
        let pathName = Self.pathSegment(deployment.name)
        let model = DeploymentPage(
            frame: Frame(title: deployment.name, session: session), name: deployment.name, pathName: pathName,
            target: deployment.target.rawValue, pinned: deployment.pinned.map(PinView.init), current: current.map { DeployLink($0) },
            health: live.health.status, components: live.health.components.sorted { $0.key < $1.key }.map { .init(name: $0.key, status: $0.value) },
            airflowUrl: live.airflowUrl, dbSchemaHead: live.dbSchemaHead, rollbackEnabled: deployment.settings.rollbackEnabled,
            rowsHTML: rowsHTML, rangeText: Self.rangeText(offset: offset, count: page.deploys.count, total: page.totalCount),
            previous: offset > 0 ? .init(href: WebHistory.href(pathName, offset: max(0, offset - Self.pageSize), search: search)) : nil,
            next: offset + page.deploys.count < page.totalCount ? .init(href: WebHistory.href(pathName, offset: offset + Self.pageSize, search: search)) : nil,
            query: search?.text, unpinRefusal: Self.pinRefusal(session))
        return WebTemplates.render("deployment", model)
    }

    /// "#X to #Y" of a rollback deploy, by sequence.
    func rollbackOf(_ deploy: Deploy, known: [String: Int]) async throws -> RollbackOf? {
        guard let toId = deploy.rollbackToId else { return nil }
        var from = deploy.rollbackFromId.flatMap { known[$0] }
        var to = known[toId]
        if from == nil, let id = deploy.rollbackFromId { from = try await store.deploy(id: id)?.sequence }
        if to == nil { to = try await store.deploy(id: toId)?.sequence }
        guard let from, let to else { return nil }
        return RollbackOf(from: from, to: to)
    }

    /// The deploys `RollbackPolicy.eligibility` needs for a page of the history: the page, the current
    /// deploy and the deploys just below it down to the newest one that reached `DEPLOYED` (the "latest
    /// earlier deploy" the retention rule keeps). Sequences are dense from 1 (newest first), so the deploy
    /// numbered s is at offset `total - s`. This keeps a page's cost independent of the history's length.
    func eligibilityHistory(of deployment: Deployment, page: [Deploy], totalCount: Int) async throws -> [Deploy] {
        var deploys = Dictionary(page.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        guard let currentId = deployment.currentDeployId else { return Array(deploys.values) }
        var found = deploys[currentId]
        if found == nil { found = try await store.deploy(id: currentId) }
        guard let current = found else { return Array(deploys.values) }
        deploys[current.id] = current
        var offset = totalCount - current.sequence + 1
        while offset < totalCount {
            let window = try await store.listDeploys(deploymentId: deployment.id, offset: offset, limit: Self.pageSize).deploys
            for deploy in window { deploys[deploy.id] = deploy }
            if window.isEmpty || window.contains(where: { $0.reachedDeployed && $0.sequence < current.sequence }) { break }
            offset += window.count
        }
        return Array(deploys.values)
    }

    /// Whether this viewer can roll back to `deploy`, or why not, in words: the policy's reasons first,
    /// then what the signed-in role lacks.
    func availability(of deploy: Deploy, history: [Deploy], deployment: Deployment, now: Date, session: WebSession?) -> Availability {
        let reasons = RollbackPolicy.eligibility(of: deploy, in: history, deployment: deployment, now: now).map(\.message)
        if !reasons.isEmpty { return Availability(canRollback: false, reasons: reasons) }
        if let reason = Self.roleReason(session) { return Availability(canRollback: false, reasons: [reason]) }
        return Availability(canRollback: true, reasons: [])
    }

    /// Why the viewer cannot roll back at all (no session, or a role with neither rollback permission).
    static func roleReason(_ session: WebSession?) -> String? {
        guard let session else { return "Sign in with a token that has the `rollback-images` or `rollback-dags` role to roll back" }
        if session.role.satisfies(.rollbackImages) || session.role.satisfies(.rollbackDags) { return nil }
        return "Your role `\(session.role.rawValue)` cannot roll back: it needs `rollback-images` or `rollback-dags`"
    }

    // MARK: One deploy

    func deployPage(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try await reader(request)
        let deployment = try await deployment(context)
        let deploy = try await api.deploy(reference: try context.parameters.require("ref"), in: deployment)
        let view = try await api.deployView(deploy, in: deployment)
        let total = try await store.listDeploys(deploymentId: deployment.id, offset: 0, limit: 1).totalCount
        let history = try await eligibilityHistory(of: deployment, page: [deploy], totalCount: total)
        let running = deploy.status == .initialized || deploy.status == .deploying
        let model = DeployPageView(
            frame: Frame(title: "\(deployment.name) \(deploy.label)", session: session, refreshSeconds: running ? Self.refreshSeconds : nil),
            deploymentName: deployment.name, pathName: Self.pathSegment(deployment.name), deploy: deploy,
            isCurrent: deploy.id == deployment.currentDeployId, running: running, statusMessage: view.statusMessage,
            failure: deploy.status == .failed ? (view.statusMessage ?? "no reason was recorded") : nil,
            rollbackOf: try await rollbackOf(deploy, known: [:]), steps: view.steps,
            availability: availability(of: deploy, history: history, deployment: deployment, now: Date(), session: session),
            refreshSeconds: Self.refreshSeconds)
        return WebTemplates.render("deploy", model)
    }

    // MARK: Settings

    func settingsPage(_ request: Request, _ context: BasicRequestContext, saved: Bool, refusal: EnvironmentVariablesRefusal? = nil,
                      numberRefusal: NumberRefusal? = nil,
                      status: HTTPResponse.Status = .ok) async throws -> Response {
        let session = try await reader(request)
        let deployment = try await deployment(context)
        let readOnly: String? = session?.role == .admin ? nil
            : "Changing settings needs the `admin` role; " + (session.map { "you are signed in as `\($0.role.rawValue)`" } ?? "sign in first")
        let model = SettingsPage(frame: Frame(title: "Settings of \(deployment.name)", session: session), name: deployment.name,
                                 pathName: Self.pathSegment(deployment.name), csrf: session?.csrf, saved: saved, readOnlyReason: readOnly,
                                 rollbackEnabled: deployment.settings.rollbackEnabled,
                                 dagDeployEnabled: deployment.settings.dagDeployEnabled, retentionDays: deployment.settings.retentionDays,
                                 retentionInput: numberRefusal?.typed(in: "retentionDays") ?? String(deployment.settings.retentionDays),
                                 retentionError: numberRefusal?.message(for: "retentionDays"),
                                 kubernetes: deployment.settings.kubernetes.map { kubernetes in
                                     StartTimeoutField(input: numberRefusal?.typed(in: "startTimeoutSeconds") ?? String(kubernetes.startTimeout),
                                                       error: numberRefusal?.message(for: "startTimeoutSeconds"))
                                 },
                                 environment: Self.environmentVariablesView(deployment.settings, canEdit: readOnly == nil && session != nil,
                                                                            refusal: refusal))
        return WebTemplates.render("settings", model, status: status)
    }

    func saveSettings(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let form = try await WebForm.read(request)
        let session = try await writer(request, form: form, needs: .admin)
        var deployment = try await deployment(context)
        if let value = form["rollbackEnabled"] { deployment.settings.rollbackEnabled = value == "true" }
        if let value = form["dagDeployEnabled"] { deployment.settings.dagDeployEnabled = value == "true" }
        // The bounds are the settings' own setters' (the API's PATCH uses the same); a refusal saves nothing.
        var refusal: NumberRefusal?
        func number(_ field: String, _ what: String, _ set: (Int) throws(AirlockError) -> Void) {
            guard refusal == nil, let typed = form[field] else { return }
            do throws(AirlockError) {
                guard let value = Int(typed.trimmingCharacters(in: .whitespaces)) else { throw .usage("Type \(what) (got `\(typed)`)") }
                try set(value)
            } catch {
                refusal = NumberRefusal(field: field, message: error.message, typed: typed)
            }
        }
        number("retentionDays", "the retention window as a whole number of days") { days throws(AirlockError) in
            try deployment.settings.setRetentionDays(days)
        }
        if deployment.settings.kubernetes != nil {
            number("startTimeoutSeconds", "the start timeout as a whole number of seconds") { seconds throws(AirlockError) in
                try deployment.settings.kubernetes?.setStartTimeout(seconds)
            }
        }
        if let refusal {
            return try await settingsPage(request, context, saved: false, numberRefusal: refusal, status: .unprocessableContent)
        }
        try await store.updateSettings(deploymentId: deployment.id, settings: deployment.settings, actor: session.tokenName)
        return Response(status: .seeOther, headers: [.location: "/deployments/\(Self.pathSegment(deployment.name))/settings?saved=1"])
    }

    /// A number typed on the Settings page that was refused: the form field, why, and what was typed (kept in the field).
    struct NumberRefusal {
        var field: String
        var message: String
        var typed: String

        func typed(in field: String) -> String? { field == self.field ? typed : nil }
        func message(for field: String) -> String? { field == self.field ? message : nil }
    }

    // MARK: Rollback

    func rollbackPage(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try await reader(request)
        let deployment = try await deployment(context)
        let reference = try context.parameters.require("ref")
        return try await renderRollback(deployment: deployment, reference: reference, session: session, form: [:], error: nil, status: .ok)
    }

    /// The preview (the planner's dry run) and, for a role that may roll back, the confirmation form.
    func renderRollback(deployment: Deployment, reference: String, session: WebSession?, form: [String: String], error: String?,
                        stale: String? = nil, status: HTTPResponse.Status) async throws -> Response {
        let target = try await api.deploy(reference: reference, in: deployment)
        let pathName = Self.pathSegment(deployment.name)
        var model = RollbackPage(frame: Frame(title: "Roll back \(deployment.name) to \(target.label)", session: session),
                                 deploymentName: deployment.name, pathName: pathName, toSequence: target.sequence, csrf: session?.csrf,
                                 refusal: nil, stale: stale, plan: nil)
        let plan: RollbackPlan
        do {
            plan = try await api.planRollback(deployment: deployment, reference: target.id, description: nil, dryRun: true,
                                              restoreBackup: form["database"] == DatabasePlan.Option.restoreBackup.rawValue,
                                              role: session?.role ?? .viewer)
        } catch let refusal as APIError {
            model.refusal = refusal.message
            return WebTemplates.render("rollback", model, status: refusal.status == .notFound ? .notFound : .conflict)
        }
        var cannotSubmit = Self.roleReason(session)
        if cannotSubmit == nil, let session, !session.role.satisfies(plan.requiredRole) {
            cannotSubmit = RollbackIneligibility.missingPermission(plan.requiredRole).message + "; you are signed in as `\(session.role.rawValue)`"
        }
        model.plan = RollbackPreview(plan, deploymentName: deployment.name, form: form, error: error, cannotSubmit: cannotSubmit)
        return WebTemplates.render("rollback", model, status: status)
    }

    /// Runs a confirmed rollback: the checks in the order a person needs them (who, which form, what it
    /// says), then the planner and the coordinator exactly as `POST …/rollback` runs them; lands on the
    /// new deploy's page, which follows it to `DEPLOYED` or `FAILED`.
    func rollback(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let form = try await WebForm.read(request)
        let session = try await writer(request, form: form, needs: nil)
        if let reason = Self.roleReason(session) { throw WebPageError(.forbidden, reason) }
        let deployment = try await deployment(context)
        let reference = try context.parameters.require("ref")
        let target = try await api.deploy(reference: reference, in: deployment)
        let preview: RollbackPlan
        do {
            preview = try await api.planRollback(deployment: deployment, reference: target.id, description: nil, dryRun: true,
                                                 restoreBackup: false, role: session.role)
        } catch let refusal as APIError {
            throw WebPageError(refusal.status == .notFound ? .notFound : .conflict, refusal.message)
        }
        guard session.role.satisfies(preview.requiredRole) else {
            throw WebPageError(.forbidden, RollbackIneligibility.missingPermission(preview.requiredRole).message)
        }
        func refuse(_ message: String) async throws -> Response {
            try await renderRollback(deployment: deployment, reference: target.id, session: session, form: form, error: message,
                                     status: .unprocessableContent)
        }
        do {
            try RollbackPolicy.validateDescription(form["description"])
        } catch {
            return try await refuse(error.message)
        }
        if preview.needsTypedConfirmation, (form["confirmName"] ?? "").trimmingCharacters(in: .whitespaces) != deployment.name {
            return try await refuse("Type the deployment name `\(deployment.name)` to confirm this rollback")
        }
        do {
            let plan = try await api.planRollback(deployment: deployment, reference: target.id, description: form["description"], dryRun: false,
                                                  restoreBackup: form["database"] == DatabasePlan.Option.restoreBackup.rawValue,
                                                  role: session.role)
            let deploy = try await api.startRollback(plan, deployment: deployment, expectedFromId: form["expectedFromId"],
                                                     actor: session.tokenName, pin: form["pin"] == "true")
            return Response(status: .seeOther, headers: [.location: "/deployments/\(Self.pathSegment(deployment.name))/deploys/\(deploy.sequence)"])
        } catch let refusal as APIError where refusal.code == "current_deploy_changed" {
            return try await renderRollback(deployment: deployment, reference: target.id, session: session, form: [:], error: nil,
                                            stale: refusal.message, status: .conflict)
        } catch let refusal as APIError where refusal.status == .conflict {
            throw WebPageError(.conflict, refusal.message)
        } catch let error as AirlockError {
            throw WebPageError(error.kind == .usage ? .conflict : .internalServerError, error.message)
        }
    }

    // MARK: Helpers

    /// A deployment name as a path segment (names are `[a-z0-9-]`, but never trust that in a URL).
    static func pathSegment(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? name
    }

    /// Only same-site paths (`/…`, not `//host`) are followed after signing in.
    static func localPath(_ path: String?) -> String? {
        guard let path, path.hasPrefix("/"), !path.hasPrefix("//"), !path.contains("\\") else { return nil }
        return path
    }

    static func rangeText(offset: Int, count: Int, total: Int) -> String {
        guard count > 0 else { return "0 of \(total) deploys" }
        return "\(offset + 1)–\(offset + count) of \(total) deploys"
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

extension Optional {
    func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
