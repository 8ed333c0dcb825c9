import AirlockCore
import AirlockTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The admin pages in a real headless Chromium against the real `airlock server`: the Audit log's
/// filters, and a token's whole life (created in the browser, used on the API and to sign in, revoked:
/// 401 at once and its browser session gone); the same through `airlock token`. Screenshots land in
/// the web UI's output folder under `admin/`.
@Suite(.serialized) struct WebUIAdminTests {
    static var shots: URL { WebUITests.outputFolder.appendingPathComponent("admin") }

    static func api(_ server: RunningServer, _ method: String, _ path: String, token: String?, json: String? = nil) async throws -> (status: Int, body: [String: Any]) {
        let (data, status) = try await server.send(method, "/api/v1" + path, json: json, token: token)
        return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    @Test func auditLogFiltersByDeploymentActorAndAction() async throws {
        let seeded = try await WebUITests.seededServer()
        let server = seeded.server
        defer { server.stop() }
        // One settings change by alice (the admin) next to the two deploys `ci` recorded.
        #expect(try await Self.api(server, "PATCH", "/deployments/prod/settings", token: seeded.admin, json: #"{"rollbackEnabled": true}"#).status == 200)

        let browser = try await WebDriverBrowser(javascript: false)
        do {
            try await WebUITests.signIn(browser, server, token: seeded.admin)
            try await browser.click(css: "nav a[href='/audit']")
            try await browser.waitUntil(timeout: 20, "the audit log") { try await browser.url().hasSuffix("/audit") }
            #expect(try await browser.findAll("main table tbody tr").count == 3)
            #expect(try await browser.text(try await browser.find("#audit-range")) == "1–3 of 3 events")
            try await browser.screenshot(to: Self.shots.appendingPathComponent("audit-all.png"))

            // The filter form (a GET): action deploy.create → the two deploys, newest first, each linked to its deploy.
            try await browser.click(css: "#audit-action option[value='deploy.create']")
            try await browser.click(css: "form[action='/audit'] button[type=submit]")
            try await browser.waitUntil(timeout: 20, "the filtered log") { try await browser.url().contains("action=deploy.create") }
            let rows = try await browser.findAll("main table tbody tr")
            #expect(rows.count == 2)
            #expect(try await browser.exists("main table a[href='/deployments/prod/deploys/2']"))
            #expect(try await browser.exists("main table a[href='/deployments/prod/deploys/1']"))
            #expect(try await browser.text(rows[0]).contains("#2"))
            try await browser.screenshot(to: Self.shots.appendingPathComponent("audit-deploy-create.png"))

            try await browser.go(server.url + "/audit?actor=alice&deployment=prod")
            let alice = try await browser.findAll("main table tbody tr")
            #expect(alice.count == 1)
            #expect(try await browser.text(alice[0]).contains("deployment.settings"))
            #expect(try await browser.text(alice[0]).contains("rollbackEnabled: false → true"), "the change itself is in the log")
            try await browser.go(server.url + "/audit?actor=nobody")
            #expect(try await browser.pageText().contains("No audit events match these filters"))
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()

        // The API takes the same filters; the store counts what matches.
        let page = try await Self.api(server, "GET", "/audit-events?actor=ci&action=deploy.create&limit=1", token: nil)
        #expect(page.status == 200 && page.body["totalCount"] as? Int == 2 && (page.body["events"] as? [Any])?.count == 1)
        let perDeployment = try await Self.api(server, "GET", "/deployments/prod/audit-events?actor=alice", token: nil)
        #expect(perDeployment.body["totalCount"] as? Int == 1)
        #expect(try await Self.api(server, "GET", "/audit-events?deployment=nope", token: nil).status == 404)
        #expect(try await Self.api(server, "GET", "/audit-events?offset=-1", token: nil).status == 400)
    }

    @Test func aTokenCreatedInTheBrowserWorksUntilRevokedAndItsSessionEnds() async throws {
        let seeded = try await WebUITests.seededServer()
        let server = seeded.server
        defer { server.stop() }
        let admin = try await WebDriverBrowser(javascript: true)
        let viewer = try await WebDriverBrowser(javascript: false)
        do {
            try await WebUITests.signIn(admin, server, token: seeded.admin)
            try await admin.click(css: "nav a[href='/tokens']")
            try await admin.waitUntil(timeout: 20, "the tokens page") { try await admin.url().hasSuffix("/tokens") }
            try await admin.type("ops viewer", into: "#token-name")
            try await admin.click(css: "form[action='/tokens'] button[type=submit]")
            try await admin.waitUntil(timeout: 20, "the created token") { try await admin.exists("#created-secret") }
            let secret = try #require(try await admin.attribute(try await admin.find("#created-secret"), "value"))
            #expect(secret.hasPrefix("airlock_"))
            #expect(!(try await admin.url()).contains(secret), "the secret is never in a URL")
            try await admin.screenshot(to: Self.shots.appendingPathComponent("token-created.png"))
            // Shown once: the list page never shows it again.
            try await admin.go(server.url + "/tokens")
            #expect(!(try await admin.source()).contains(secret))

            // The viewer token works: on the API (authenticated; 403 for an admin call, not 401) and to sign in.
            #expect(try await Self.api(server, "GET", "/tokens", token: secret).status == 403)
            try await WebUITests.signIn(viewer, server, token: secret)
            #expect(try await viewer.pageText().contains("Signed in as ops viewer"))
            #expect(!(try await viewer.exists("nav a[href='/tokens']")), "no Tokens link for a viewer")
            try await viewer.go(server.url + "/tokens")
            #expect(try await viewer.pageText().contains("Tokens are managed by admins"))
            try await viewer.screenshot(to: Self.shots.appendingPathComponent("tokens-as-viewer.png"))
            // A forged create from the viewer's session, with its own CSRF token: 403, nothing created.
            try await viewer.go(server.url + "/")
            let csrf = try #require(try await viewer.attribute(try await viewer.find("form[action='/signout'] input[name=csrf]"), "value"))
            let cookie = try #require(try await viewer.cookies()["airlock_session"])
            let forged = try await WebUITests.post(server, "/tokens", cookie: cookie, fields: ["csrf": csrf, "name": "mine", "role": "admin"])
            #expect(forged.status == 403)
            let tokens = try await Self.api(server, "GET", "/tokens", token: seeded.admin)
            #expect((tokens.body["tokens"] as? [[String: Any]])?.map { $0["name"] as? String } == ["alice", "victor", "ops viewer"])
            let used = (tokens.body["tokens"] as? [[String: Any]])?.last?["lastUsedAt"]
            #expect(used is String, "signing in and calling the API record a use")

            // Revoke, confirmed on its own page.
            try await admin.go(server.url + "/tokens")
            #expect(try await admin.pageText().contains("the token you are signed in with"), "no revoke for the admin's own token")
            try await admin.click(css: "a[href$='/revoke']")
            try await admin.waitUntil(timeout: 20, "the confirmation") { try await admin.url().hasSuffix("/revoke") }
            #expect(try await admin.pageText().contains("Revoke token “ops viewer”?"))
            try await admin.screenshot(to: Self.shots.appendingPathComponent("token-revoke-confirm.png"))
            try await admin.click(css: "button.danger")
            try await admin.waitUntil(timeout: 20, "the revoked notice") { try await admin.url().hasSuffix("/tokens?revoked=1") }
            #expect(try await admin.pageText().contains("Revoked"))
            try await admin.screenshot(to: Self.shots.appendingPathComponent("token-revoked.png"))

            // At once: the API answers 401, and the viewer's browser session is gone.
            #expect(try await Self.api(server, "GET", "/tokens", token: secret).status == 401)
            try await viewer.go(server.url + "/")
            let text = try await viewer.pageText()
            #expect(!text.contains("Signed in as"), "the session ended with its token")
            #expect(try await WebUITests.post(server, "/signout", cookie: cookie, fields: ["csrf": csrf]).status == 403)

            let audit = try await Self.api(server, "GET", "/audit-events?actor=alice", token: nil)
            let actions = (audit.body["events"] as? [[String: Any]])?.compactMap { $0["action"] as? String }
            #expect(actions == ["token.revoke", "token.create"])
        } catch {
            await admin.quit()
            await viewer.quit()
            throw error
        }
        await admin.quit()
        await viewer.quit()
    }

    @Test func tokensThroughTheCLI() async throws {
        let server = try RunningServer()
        defer { server.stop() }
        try await server.waitUntilUp()
        let env = ["AIRLOCK_SERVER": server.url, "AIRLOCK_TOKEN": try server.adminToken]

        let created = try await TestSupport.airlock(["token", "create", "--name", "ci-prod", "--role", "deployer"], environment: env)
        #expect(created.status == 0, "\(created.stderr)")
        let secret = try #require(created.stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix("airlock_") })
        let id = try #require(created.stdout.firstMatch(of: #/id ([0-9a-f-]{36})/#)?.1).description

        let list = try await TestSupport.airlock(["token", "list"], environment: env)
        #expect(list.status == 0 && list.stdout.contains("ci-prod") && list.stdout.contains("deployer") && !list.stdout.contains(secret))
        // The new token authenticates (403: creating deployments and listing tokens need admin), then is revoked: 401 at once.
        #expect(try await Self.api(server, "POST", "/deployments", token: secret, json: #"{"name": "prod"}"#).status == 403)
        #expect(try await Self.api(server, "GET", "/tokens", token: secret).status == 403)
        let revoked = try await TestSupport.airlock(["token", "revoke", id], environment: env)
        #expect(revoked.status == 0 && revoked.stdout.contains("Revoked token ci-prod"), "\(revoked.stderr)")
        #expect(try await Self.api(server, "GET", "/tokens", token: secret).status == 401)
        #expect(try await TestSupport.airlock(["token", "list"], environment: env).stdout.contains("revoked"))

        // Refusals exit 2 with the reason.
        let badRole = try await TestSupport.airlock(["token", "create", "--name", "x", "--role", "boss"], environment: env)
        #expect(badRole.status == 2 && badRole.stderr.contains("not a role"), "\(badRole.stderr)")
        let noToken = try await TestSupport.airlock(["token", "list"], environment: ["AIRLOCK_SERVER": server.url])
        #expect(noToken.status == 2 && noToken.stderr.contains("token"))
        let adminId = try #require((try await Self.api(server, "GET", "/tokens", token: try server.adminToken).body["tokens"] as? [[String: Any]])?
            .first { $0["role"] as? String == "admin" }?["id"] as? String)
        let itself = try await TestSupport.airlock(["token", "revoke", adminId], environment: env)
        #expect(itself.status == 2 && itself.stderr.contains("cannot revoke itself"), "\(itself.stderr)")
        let unknown = try await TestSupport.airlock(["token", "revoke", "nope"], environment: env)
        #expect(unknown.status == 2 && unknown.stderr.contains("No API token"), "\(unknown.stderr)")
    }
}
