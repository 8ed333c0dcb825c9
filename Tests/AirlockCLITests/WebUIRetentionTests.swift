import AirlockCore
import AirlockStorage
import AirlockTestSupport
import Foundation
import Testing

/// Settings → Retention in a real headless Chromium (no JavaScript) against the real `airlock server`:
/// the window is saved through the form, audited, and Deploy History then gives "older than the N-day
/// retention window" as the reason a deploy cannot be rolled back to; a value out of
/// `DeploymentSettings.retentionDaysRange` is refused with the message, what was typed kept and nothing
/// saved — and the API's PATCH refuses it with the same rule.
@Suite(.serialized) struct WebUIRetentionTests {
    /// Deploys #1 (40 days ago), #2 (20 days ago), #3 (an hour ago, current); Rollback Deploy on.
    static func serverWithOldDeploys() async throws -> WebUITests.Seeded {
        let data = try TestSupport.scratchFolder("airlock-web-retention")
        let store = try SQLiteDeployHistoryStore(path: data.appendingPathComponent("airlock.sqlite").path)
        let deployment = try await store.createDeployment(Deployment(id: "d1", name: "prod", settings: DeploymentSettings(rollbackEnabled: true)))
        for (index, daysAgo) in [40.0, 20.0, 0.04].enumerated() {
            let deploy = try await store.createDeploy(Deploy(
                id: "deploy-\(index + 1)", deploymentId: deployment.id, sequence: 0, type: .imageAndDag, status: .deploying,
                description: "deploy \(index + 1)", createdAt: Date().addingTimeInterval(-daysAgo * 86_400), createdBy: "ci",
                image: DeployImage(runtimeVersion: nil, airflowVersion: "2.10.5", python: "3.11", lockHash: "lock-\(index)",
                                   projectDigest: "sha256:" + String(repeating: "\(index + 1)", count: 64)),
                dagBundleVersion: "sha256:" + String(repeating: "b\(index)", count: 32), dagDeployEnabled: true, dbSchemaHead: nil,
                everDeployed: false))
            _ = try await store.markDeployed(deployId: deploy.id, deploymentId: deployment.id, dbSchemaHead: "5f2621c13b39", actor: "ci")
        }
        let admin = try await store.createToken(name: "alice", role: .admin).token
        let viewer = try await store.createToken(name: "victor", role: .viewer).token
        let server = try RunningServer(dataDirectory: data)
        try await server.waitUntilUp()
        return WebUITests.Seeded(server: server, admin: admin, viewer: viewer)
    }

    static func retentionAudit(_ server: RunningServer) async throws -> [String] {
        let audit = try await server.json("/api/v1/deployments/prod/audit-events?action=deployment.settings")
        return (audit["events"] as? [[String: Any]] ?? []).compactMap { $0["detail"] as? String }
    }

    static func retentionDays(_ server: RunningServer) async throws -> Int? {
        let deployment = try await server.json("/api/v1/deployments/prod")
        return (deployment["settings"] as? [String: Any])?["retentionDays"] as? Int
    }

    @Test func retentionWindowIsSetInSettingsAndShownInTheHistory() async throws {
        let seeded = try await Self.serverWithOldDeploys()
        let server = seeded.server
        defer { server.stop() }
        let browser = try await WebDriverBrowser(javascript: false)
        do {
            try await WebUITests.signIn(browser, server, token: seeded.admin)
            // Within the default 90 days, #1 can be rolled back to.
            try await browser.go(server.url + "/deployments/prod")
            #expect(try await browser.exists("a[href='/deployments/prod/deploys/1/rollback']"))

            try await browser.go(server.url + "/deployments/prod/settings")
            #expect(try await browser.attribute(try await browser.find("#retention-days"), "value") == "90")
            #expect(try await browser.exists("label[for='retention-days']"))

            // Out of bounds: refused in the page, typed value kept, nothing saved. (`novalidate` is not on the
            // form, so the browser's own min/max check would stop the submit; the server's is what is tested.)
            for typed in ["0", "36501"] {
                let cookie = try #require(try await browser.cookies()["airlock_session"])
                let csrf = try #require(try await browser.attribute(try await browser.find("form[action$='/settings'] input[name=csrf]"), "value"))
                let refused = try await WebUITests.post(server, "/deployments/prod/settings", cookie: cookie,
                                                        fields: ["csrf": csrf, "rollbackEnabled": "true", "dagDeployEnabled": "true",
                                                                 "retentionDays": typed])
                #expect(refused.status == 422)
                #expect(refused.body.contains("The retention window is from 1 to 36500 days (got \(typed))"))
                #expect(refused.body.contains("id=\"retention-error\"") && refused.body.contains("value=\"\(typed)\""))
            }
            #expect(try await Self.retentionDays(server) == 90)
            #expect(try await Self.retentionAudit(server).isEmpty, "a refusal changes nothing")

            // A window of 30 days: #1 (40 days old) falls out of it; #2 stays eligible (the latest earlier deploy).
            try await browser.type("30", into: "#retention-days")
            try await browser.click(css: "form[action$='/settings'] button[type=submit]")
            try await browser.waitUntil(timeout: 20, "the saved settings") { try await browser.url().contains("saved=1") }
            #expect(try await browser.attribute(try await browser.find("#retention-days"), "value") == "30")
            try await browser.screenshot(to: WebUISettingsTests.shots.appendingPathComponent("retention.png"))
            #expect(try await Self.retentionDays(server) == 30)
            #expect(try await Self.retentionAudit(server) == ["retentionDays: 90 → 30"])

            try await browser.go(server.url + "/deployments/prod")
            #expect(!(try await browser.exists("a[href='/deployments/prod/deploys/1/rollback']")))
            #expect(try await browser.exists("a[href='/deployments/prod/deploys/2/rollback']"))
            #expect(try await browser.pageText().contains("older than the 30-day retention window"))
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()

        // The API's PATCH: the same bounds (400, nothing saved), and a valid change is audited too.
        let refused = try await WebUIAdminTests.api(server, "PATCH", "/deployments/prod/settings", token: seeded.admin,
                                                    json: #"{"retentionDays": 0}"#)
        #expect(refused.status == 400 && (refused.body["message"] as? String)?.contains("The retention window is from 1 to 36500 days") == true)
        let patched = try await WebUIAdminTests.api(server, "PATCH", "/deployments/prod/settings", token: seeded.admin,
                                                    json: #"{"retentionDays": 45}"#)
        #expect(patched.status == 200 && (patched.body["settings"] as? [String: Any])?["retentionDays"] as? Int == 45)
        #expect(try await Self.retentionAudit(server).first == "retentionDays: 30 → 45")
    }

    /// Settings → Kubernetes → Start timeout, for a Kubernetes deployment only: shown (900 by default), refused
    /// outside `KubernetesSettings.startTimeoutRange` with the message and what was typed kept, saved and audited.
    @Test func startTimeoutIsSetInSettingsForAKubernetesDeployment() async throws {
        let data = try TestSupport.scratchFolder("airlock-web-start-timeout")
        let store = try SQLiteDeployHistoryStore(path: data.appendingPathComponent("airlock.sqlite").path)
        let kubernetes = KubernetesSettings(kubeconfig: "/k", namespace: "airflow", release: "prod", chart: "/c", registry: "localhost:5000/a/prod")
        _ = try await store.createDeployment(Deployment(id: "d1", name: "prod", target: .kubernetes,
                                                        settings: DeploymentSettings(metadataDatabaseUrl: "postgresql://u@h/d", kubernetes: kubernetes)))
        _ = try await store.createDeployment(Deployment(id: "d2", name: "local"))
        let admin = try await store.createToken(name: "alice", role: .admin).token
        let server = try RunningServer(dataDirectory: data)
        try await server.waitUntilUp()
        defer { server.stop() }
        func stored() async throws -> Int? {
            let deployment = try await server.json("/api/v1/deployments/prod")
            return ((deployment["settings"] as? [String: Any])?["kubernetes"] as? [String: Any])?["startTimeoutSeconds"] as? Int
        }
        let browser = try await WebDriverBrowser(javascript: false)
        do {
            try await WebUITests.signIn(browser, server, token: admin)
            try await browser.go(server.url + "/deployments/local/settings")
            #expect(!(try await browser.exists("#start-timeout")), "a local deployment has no start timeout")
            try await browser.go(server.url + "/deployments/prod/settings")
            #expect(try await browser.attribute(try await browser.find("#start-timeout"), "value") == "900")
            #expect(try await browser.exists("label[for='start-timeout']"))

            for typed in ["59", "86401", "soon"] {
                let cookie = try #require(try await browser.cookies()["airlock_session"])
                let csrf = try #require(try await browser.attribute(try await browser.find("form[action$='/settings'] input[name=csrf]"), "value"))
                let refused = try await WebUITests.post(server, "/deployments/prod/settings", cookie: cookie,
                                                        fields: ["csrf": csrf, "rollbackEnabled": "false", "dagDeployEnabled": "true",
                                                                 "retentionDays": "90", "startTimeoutSeconds": typed])
                #expect(refused.status == 422, "\(typed)")
                let message = typed == "soon" ? "Type the start timeout as a whole number of seconds (got `soon`)"
                    : "is from 60 to 86400 seconds (got \(typed))"
                #expect(refused.body.contains(message) || refused.body.contains(message.replacingOccurrences(of: "`", with: "&#96;")), "\(refused.body)")
                #expect(refused.body.contains("id=\"start-timeout-error\"") && refused.body.contains("value=\"\(typed)\""))
            }
            #expect(try await stored() == nil, "a refusal saves nothing")

            try await browser.type("1200", into: "#start-timeout")
            try await browser.click(css: "form[action$='/settings'] button[type=submit]")
            try await browser.waitUntil(timeout: 20, "the saved settings") { try await browser.url().contains("saved=1") }
            #expect(try await browser.attribute(try await browser.find("#start-timeout"), "value") == "1200")
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
        #expect(try await stored() == 1200)
        let audit = try await server.json("/api/v1/deployments/prod/audit-events?action=deployment.settings")
        #expect((audit["events"] as? [[String: Any]] ?? []).compactMap { $0["detail"] as? String } == ["startTimeoutSeconds: 900 → 1200"])
    }

    @Test func aViewerSeesTheWindowButCannotChangeIt() async throws {
        let seeded = try await Self.serverWithOldDeploys()
        let server = seeded.server
        defer { server.stop() }
        let browser = try await WebDriverBrowser(javascript: false)
        do {
            try await WebUITests.signIn(browser, server, token: seeded.viewer)
            try await browser.go(server.url + "/deployments/prod/settings")
            let field = try await browser.find("#retention-days")
            #expect(try await browser.attribute(field, "value") == "90")
            #expect(try await browser.exists("fieldset[disabled] #retention-days"))
            let csrf = try #require(try await browser.attribute(try await browser.find("form[action='/signout'] input[name=csrf]"), "value"))
            let cookie = try #require(try await browser.cookies()["airlock_session"])
            let forged = try await WebUITests.post(server, "/deployments/prod/settings", cookie: cookie,
                                                   fields: ["csrf": csrf, "retentionDays": "1"])
            #expect(forged.status == 403)
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
        #expect(try await Self.retentionDays(server) == 90)
    }
}
