import AirlockCore
import AirlockStorage
import AirlockTestSupport
import AirlockToolchain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The web UI in a real headless Chromium against the real `airlock server` process. The history is
/// seeded through the store (a 2.10.5 → 3.0.6 story), so these checks take seconds; the rollback on real
/// Airflow through the browser is `DeployEndToEndTests`' territory (see `browserRollbackOnRealAirflow`).
/// Screenshots of every page land in `AIRLOCK_TEST_OUTPUT_DIR` (default `.build/test-output`)`/web-ui`.
@Suite(.serialized) struct WebUITests {
    static var outputFolder: URL {
        let root = ProcessInfo.processInfo.environment["AIRLOCK_TEST_OUTPUT_DIR"].map { URL(fileURLWithPath: $0) }
            ?? TestSupport.repositoryRoot.appendingPathComponent(".build/test-output")
        return root.appendingPathComponent("web-ui")
    }

    struct Seeded {
        var server: RunningServer
        var admin: String
        var viewer: String
    }

    /// A server whose history is deploy #1 (Airflow 2.10.5) then #2 (3.0.6, current, with a script in its
    /// description); Rollback Deploy is off. Tokens: an admin and a viewer.
    static func seededServer() async throws -> Seeded {
        let data = try TestSupport.scratchFolder("airlock-web-ui")
        let store = try SQLiteDeployHistoryStore(path: data.appendingPathComponent("airlock.sqlite").path)
        let deployment = try await store.createDeployment(Deployment(id: "d1", name: "prod"))
        let start = Date().addingTimeInterval(-3600)
        for (index, (airflow, head, description)) in [("2.10.5", "5f2621c13b39", "Airflow 2.10.5"),
                                                       ("3.0.6", "fe199e1abd77", "Airflow 3 <script>alert(1)</script>")].enumerated() {
            let deploy = try await store.createDeploy(Deploy(
                id: "deploy-\(airflow)", deploymentId: deployment.id, sequence: 0, type: .imageAndDag, status: .deploying,
                description: description, createdAt: start.addingTimeInterval(Double(index) * 600), createdBy: "ci",
                image: DeployImage(runtimeVersion: nil, airflowVersion: airflow, python: "3.11", lockHash: "lock-\(airflow)",
                                   projectDigest: "sha256:" + String(repeating: "\(index + 1)", count: 64)),
                dagBundleVersion: "sha256:" + String(repeating: "a\(index)", count: 32), dagDeployEnabled: true, dbSchemaHead: nil,
                everDeployed: false))
            _ = try await store.markDeployed(deployId: deploy.id, deploymentId: deployment.id, dbSchemaHead: head, actor: "ci")
        }
        let admin = try await store.createToken(name: "alice", role: .admin).token
        let viewer = try await store.createToken(name: "victor", role: .viewer).token
        let server = try RunningServer(dataDirectory: data)
        try await server.waitUntilUp()
        return Seeded(server: server, admin: admin, viewer: viewer)
    }

    static func signIn(_ browser: WebDriverBrowser, _ server: RunningServer, token: String) async throws {
        try await browser.go(server.url + "/signin")
        try await browser.type(token, into: "#token")
        try await browser.click(css: "form[action='/signin'] button[type=submit]")
        try await browser.waitUntil(timeout: 10, "the deployments page") { try await browser.url().hasSuffix("/") }
    }

    /// A form POST as a browser would send it, with the session cookie `cookie` (nil: signed out).
    static func post(_ server: RunningServer, _ path: String, cookie: String?, fields: [String: String]) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: server.url + path)!)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        if let cookie { request.setValue("airlock_session=\(cookie)", forHTTPHeaderField: "Cookie") }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        request.httpBody = Data(fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
            .joined(separator: "&").utf8)
        let (data, response) = try await formSession.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// Sends exactly the `Cookie` given: `URLSession.shared` keeps cookies per host, not per port, so a
    /// session cookie another test's server set on 127.0.0.1 would otherwise ride along.
    static let formSession: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        return URLSession(configuration: configuration)
    }()

    static func deployCount(_ server: RunningServer) async throws -> Int? {
        try await server.json("/api/v1/deployments/prod/deploys")["totalCount"] as? Int
    }

    /// The seed's walk-through up to the confirmation, in the browser, with JavaScript on and off: sign in,
    /// the list, Deploy History with the reason "Rollback to" is unavailable, Settings, the preview, a
    /// refused submit that records nothing, then a confirmed rollback the browser follows to its end.
    @Test(arguments: [true, false]) func adminWalkThrough(javascript: Bool) async throws {
        let seeded = try await Self.seededServer()
        let server = seeded.server
        defer { server.stop() }
        let browser = try await WebDriverBrowser(javascript: javascript)
        let shots = Self.outputFolder.appendingPathComponent(javascript ? "js-on" : "js-off")
        do {
            try await browser.go(server.url + "/signin")
            try await browser.screenshot(to: shots.appendingPathComponent("01-sign-in.png"))
            try await Self.signIn(browser, server, token: seeded.admin)
            // The session cookie: HttpOnly, SameSite=Strict, and the token is nowhere in the URL.
            let cookie = try #require(try await browser.cookieDetails("airlock_session"))
            #expect(WebDriverBrowser.isTrue(cookie["httpOnly"]))
            #expect(cookie["sameSite"] as? String == "Strict")
            #expect(!(try await browser.url()).contains(seeded.admin))

            // Deployments list.
            let list = try await browser.pageText()
            #expect(list.contains("prod"))
            #expect(list.contains("Signed in as alice"))
            #expect(list.contains("stopped"), "health as a word")
            try await browser.screenshot(to: shots.appendingPathComponent("02-deployments.png"))

            // Deploy History: both deploys, newest first, with the reason #1 cannot be a target yet.
            try await browser.click(css: "a[href='/deployments/prod']")
            try await browser.waitUntil(timeout: 10, "the deployment page") { try await browser.url().hasSuffix("/deployments/prod") }
            let rows = try await browser.findAll("table.history tbody tr")
            #expect(rows.count == 2)
            let newest = try await browser.text(rows[0]), oldest = try await browser.text(rows[1])
            #expect(newest.contains("#2") && newest.contains("3.0.6") && newest.contains("Current"))
            #expect(oldest.contains("#1") && oldest.contains("2.10.5"))
            #expect(oldest.contains("Rollback is disabled for this deployment"))
            #expect(!(try await browser.exists("a[href='/deployments/prod/deploys/1/rollback']")))
            let time = try await browser.find("table.history tbody tr time")
            #expect(try await browser.attribute(time, "datetime")?.hasSuffix("Z") == true)
            // The description with a script is text: shown literally, no script element anywhere.
            #expect(newest.contains("Airflow 3 <script>alert(1)</script>"))
            #expect(try await browser.findAll("script:not([src='/ui/airlock.js'])").isEmpty, "the only script is the UI's own file")
            #expect(try await browser.text(try await browser.find("#history-count")) == "1–2 of 2 deploys")
            try await browser.screenshot(to: shots.appendingPathComponent("03-deploy-history.png"))

            // One deploy's page.
            try await browser.go(server.url + "/deployments/prod/deploys/2")
            let deployText = try await browser.pageText()
            #expect(deployText.contains("Deploy #2") && deployText.contains("DEPLOYED") && deployText.contains("fe199e1abd77"))
            try await browser.screenshot(to: shots.appendingPathComponent("04-deploy.png"))

            // Settings → Rollback Deploy → Enable.
            try await browser.go(server.url + "/deployments/prod/settings")
            try await browser.click(css: "input[name=rollbackEnabled][value=true]")
            try await browser.click(css: "form button[type=submit].primary")
            try await browser.waitUntil(timeout: 10, "the saved settings") { try await browser.pageText().contains("Saved.") }
            try await browser.screenshot(to: shots.appendingPathComponent("05-settings.png"))

            // "Rollback to #1" is offered now; its page is the planner's preview.
            try await browser.go(server.url + "/deployments/prod")
            try await browser.click(css: "a[href='/deployments/prod/deploys/1/rollback']")
            try await browser.waitUntil(timeout: 10, "the rollback page") { try await browser.url().hasSuffix("/deploys/1/rollback") }
            let preview = try await browser.pageText()
            #expect(preview.contains("Danger: a last resort"))
            #expect(preview.contains(RollbackPlanner.lastResortWarning))
            #expect(preview.contains("Airflow 3.0.6") && preview.contains("Airflow 2.10.5"))
            #expect(preview.contains("Airflow: downgrade"))
            #expect(preview.contains("fe199e1abd77 → 5f2621c13b39"))
            #expect(preview.contains("Not rolled back"))
            #expect(try await browser.exists("#confirmName"), "a downgrade needs the deployment's name typed in")
            try await browser.screenshot(to: shots.appendingPathComponent("06-rollback-preview.png"))

            // A blank description is refused by the server (whitespace passes the browser's `required`);
            // what was typed stays, and nothing is recorded.
            try await browser.type("   ", into: "#description")
            try await browser.type("prod", into: "#confirmName")
            try await browser.click(css: "form.confirm button[type=submit]")
            try await browser.waitUntil(timeout: 10, "the refusal") { try await browser.exists("#form-error") }
            #expect(try await browser.text(try await browser.find("#form-error")).contains("A description is required"))
            #expect(try await Self.deployCount(server) == 2)
            try await browser.screenshot(to: shots.appendingPathComponent("07-rollback-refused.png"))

            // The wrong name is refused too.
            try await browser.type("Airflow 3 broke our DAGs", into: "#description")
            try await browser.type("staging", into: "#confirmName")
            try await browser.click(css: "form.confirm button[type=submit]")
            try await browser.waitUntil(timeout: 10, "the refusal") { try await browser.pageText().contains("Type the deployment name") }
            #expect(try await Self.deployCount(server) == 2)

            // A POST without the CSRF token is refused, with the admin's own session.
            let session = try #require(try await browser.cookies()["airlock_session"])
            let forged = try await Self.post(server, "/deployments/prod/deploys/1/rollback", cookie: session,
                                             fields: ["description": "no csrf", "confirmName": "prod"])
            #expect(forged.status == 403)
            #expect(try await Self.deployCount(server) == 2)

            // Confirmed: the browser lands on the new deploy #3, which refreshes itself until it ends. (This
            // server has no artifacts for #1, so the rollback fails — and stays in the history as FAILED.)
            try await browser.type("Airflow 3 broke our DAGs", into: "#description")
            try await browser.type("prod", into: "#confirmName")
            try await browser.click(css: "form.confirm button[type=submit]")
            try await browser.waitUntil(timeout: 10, "the new deploy's page") { try await browser.url().hasSuffix("/deployments/prod/deploys/3") }
            try await browser.waitUntil(timeout: 60, "the rollback to end") {
                ["DEPLOYED", "FAILED"].contains(try await browser.text(try await browser.find("h1 .status")))
            }
            let ended = try await browser.pageText()
            #expect(ended.contains("rollback of #2 to #1"))
            #expect(!(try await browser.exists("meta[http-equiv=refresh]")), "a finished deploy stops refreshing")
            try await browser.screenshot(to: shots.appendingPathComponent("08-rollback-deploy.png"))
            try await browser.go(server.url + "/deployments/prod")
            let history = try await browser.text(try await browser.find("table.history tbody tr"))
            #expect(history.contains("#3") && history.contains("rollback of #2 to #1"))
        } catch {
            Issue.record("\(error)\n\(server.log)")
        }
        await browser.quit()
    }

    /// The seed's whole rollback, in the browser only, on real Airflow: the CLI deploys 2.10.5 then 3.0.6
    /// (as a CI pipeline would); then sign in, enable Rollback Deploy in Settings, open the rollback of
    /// #1, read the downgrade and its migrations, a refused blank description, confirm with the typed
    /// name, and follow #3 to `DEPLOYED`; Airflow answers as 2.10.5 on the deployment's URL.
    /// About 7 minutes (two real deploys and the rollback).
    @Test(.timeLimit(.minutes(40))) func browserRollbackOnRealAirflow() async throws {
        let session = try await DeployEndToEndTests.start()
        let server = session.server
        defer { server.stop() }
        #expect(try await session.airlock(["deployment", "create", "prod", "--target", "local"]).status == 0)
        let project = try DeployEndToEndTests.project(airflow: "2.10.5")
        let first = try await session.deploy(project, "Airflow 2.10.5")
        try #require(first.status == 0, "\(first.stderr)\n\(server.log)")
        _ = try DeployEndToEndTests.project(airflow: "3.0.6", into: project)
        let second = try await session.deploy(project, "Airflow 3")
        try #require(second.status == 0, "\(second.stderr)\n\(server.log)")

        let browser = try await WebDriverBrowser()
        let shots = Self.outputFolder.appendingPathComponent("real-airflow")
        do {
            try await Self.signIn(browser, server, token: try server.adminToken)
            try await browser.go(server.url + "/deployments/prod")
            let rows = try await browser.findAll("table.history tbody tr")
            #expect(rows.count == 2)
            #expect(try await browser.text(rows[1]).contains("Rollback is disabled for this deployment"))
            #expect(try await browser.pageText().contains("healthy"))
            try await browser.screenshot(to: shots.appendingPathComponent("01-deploy-history.png"))

            try await browser.click(css: "a[href='/deployments/prod/settings']")
            try await browser.click(css: "input[name=rollbackEnabled][value=true]")
            try await browser.click(css: "form button[type=submit].primary")
            try await browser.waitUntil(timeout: 10, "the saved settings") { try await browser.pageText().contains("Saved.") }

            try await browser.go(server.url + "/deployments/prod")
            try await browser.click(css: "a[href='/deployments/prod/deploys/1/rollback']")
            try await browser.waitUntil(timeout: 30, "the rollback preview") { try await browser.exists("form.confirm") }
            let preview = try await browser.pageText()
            #expect(preview.contains("Airflow: downgrade"))
            #expect(preview.contains("\(DeployEndToEndTests.head3) → \(DeployEndToEndTests.head2)"))
            #expect(try await browser.findAll("ol.migrations li").count == 42, "the migrations between the two heads")
            #expect(preview.contains("apache-airflow"), "the package diff")
            try await browser.screenshot(to: shots.appendingPathComponent("02-rollback-preview.png"))

            try await browser.type(" ", into: "#description")
            try await browser.type("prod", into: "#confirmName")
            try await browser.click(css: "form.confirm button[type=submit]")
            try await browser.waitUntil(timeout: 30, "the refusal") { try await browser.exists("#form-error") }
            #expect(try await Self.deployCount(server) == 2)

            try await browser.type("Airflow 3 broke our DAGs", into: "#description")
            try await browser.type("prod", into: "#confirmName")
            try await browser.click(css: "form.confirm button[type=submit]")
            try await browser.waitUntil(timeout: 30, "the new deploy's page") { try await browser.url().hasSuffix("/deployments/prod/deploys/3") }
            try await browser.screenshot(to: shots.appendingPathComponent("03-rollback-running.png"))
            // The status badge, not the page text: a running deploy's page says it "never reached `DEPLOYED`".
            try await browser.waitUntil(timeout: 900, "the rollback to end") {
                ["DEPLOYED", "FAILED"].contains(try await browser.text(try await browser.find("h1 .status")))
            }
            #expect(try await browser.text(try await browser.find("h1 .status")) == "DEPLOYED", "\(server.log)")
            try await browser.screenshot(to: shots.appendingPathComponent("04-rollback-deployed.png"))
            try await browser.go(server.url + "/deployments/prod")
            let newest = try await browser.text(try await browser.find("table.history tbody tr"))
            #expect(newest.contains("#3") && newest.contains("rollback of #2 to #1") && newest.contains("2.10.5"))
        } catch {
            Issue.record("\(error)\n\(server.log)")
        }
        await browser.quit()
        let status = try await session.status()
        #expect(DeployEndToEndTests.health(status) == "healthy")
        #expect(status["dbSchemaHead"] as? String == DeployEndToEndTests.head2)
        let url = try #require(status["airflowUrl"] as? String)
        let (health, _) = try await URLSession.shared.data(from: try #require(URL(string: url + "/health")))
        #expect(String(decoding: health, as: UTF8.self).contains("\"metadatabase\""), "Airflow 2.x answers /health")
    }

    /// A viewer sees no usable rollback, with the reason; a forged rollback POST from its session gets
    /// 403; signed-out POSTs are refused; pages carry the CSP and other security headers.
    @Test func viewerAndForgedRequests() async throws {
        let seeded = try await Self.seededServer()
        let server = seeded.server
        defer { server.stop() }
        // Rollback on, so the only thing missing is the role.
        let enable = try await Self.post(server, "/deployments/prod/settings", cookie: nil, fields: ["rollbackEnabled": "true"])
        #expect(enable.status == 403, "signed out: refused")
        var request = URLRequest(url: URL(string: server.url + "/api/v1/deployments/prod/settings")!)
        request.httpMethod = "PATCH"
        request.setValue("Bearer \(seeded.admin)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"rollbackEnabled": true}"#.utf8)
        _ = try await URLSession.shared.data(for: request)

        let browser = try await WebDriverBrowser()
        do {
            try await Self.signIn(browser, server, token: seeded.viewer)
            try await browser.go(server.url + "/deployments/prod")
            let oldest = try await browser.text(try await browser.findAll("table.history tbody tr")[1])
            #expect(oldest.contains("Your role `viewer` cannot roll back"))
            #expect(!(try await browser.exists("a[href='/deployments/prod/deploys/1/rollback']")))
            try await browser.go(server.url + "/deployments/prod/deploys/1/rollback")
            #expect(!(try await browser.exists("form.confirm")), "no confirmation form for a viewer")
            #expect(try await browser.pageText().contains("Your role `viewer` cannot roll back"))
            try await browser.screenshot(to: Self.outputFolder.appendingPathComponent("viewer-rollback.png"))
            try await browser.go(server.url + "/deployments/prod/settings")
            #expect(try await browser.pageText().contains("Changing settings needs the `admin` role"))

            // Forged: the viewer's own session and CSRF token, a complete form.
            let session = try #require(try await browser.cookies()["airlock_session"])
            let csrf = try #require(try await browser.attribute(try await browser.find("input[name=csrf]"), "value"))
            let forged = try await Self.post(server, "/deployments/prod/deploys/1/rollback", cookie: session,
                                             fields: ["csrf": csrf, "description": "forged", "confirmName": "prod"])
            #expect(forged.status == 403)
            let settings = try await Self.post(server, "/deployments/prod/settings", cookie: session,
                                               fields: ["csrf": csrf, "rollbackEnabled": "false"])
            #expect(settings.status == 403)
            #expect(try await Self.deployCount(server) == 2)

            // Signing out ends the session: the old cookie no longer acts.
            try await browser.click(css: "form[action='/signout'] button")
            try await browser.waitUntil(timeout: 10, "the sign-in page") { try await browser.url().hasSuffix("/signin") }
            let replayed = try await Self.post(server, "/signout", cookie: session, fields: ["csrf": csrf])
            #expect(replayed.status == 403)
        } catch {
            Issue.record("\(error)\n\(server.log)")
        }
        await browser.quit()

        // Security headers on every page.
        let (_, response) = try await URLSession.shared.data(from: URL(string: server.url + "/deployments/prod")!)
        let headers = try #require(response as? HTTPURLResponse)
        let csp = try #require(headers.value(forHTTPHeaderField: "Content-Security-Policy"))
        #expect(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"))
        #expect(headers.value(forHTTPHeaderField: "Referrer-Policy") == "same-origin")
        #expect(headers.value(forHTTPHeaderField: "Content-Type")?.hasPrefix("text/html") == true)
    }
}
