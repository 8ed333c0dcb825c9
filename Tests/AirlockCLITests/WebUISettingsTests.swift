import AirlockCore
import AirlockTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Settings → Environment variables in a real headless Chromium (no JavaScript: plain forms) against the
/// real `airlock server`: add, change, remove; a secret's value never reaches the page source, the API
/// JSON or the audit log; a bad name is refused with the message and nothing saved; a viewer gets no
/// form and a forged POST from its session gets 403. Screenshots under `settings/`.
@Suite(.serialized) struct WebUISettingsTests {
    static var shots: URL { WebUITests.outputFolder.appendingPathComponent("settings") }
    static let secret = "pw-\(UUID().uuidString)"

    static func environment(_ server: RunningServer) async throws -> [String: String] {
        let deployment = try await server.json("/api/v1/deployments/prod")
        return try #require((deployment["settings"] as? [String: Any])?["environmentVariables"] as? [String: String])
    }

    static func settingsAudit(_ server: RunningServer) async throws -> [String] {
        let audit = try await server.json("/api/v1/deployments/prod/audit-events?action=deployment.settings")
        return (audit["events"] as? [[String: Any]] ?? []).compactMap { $0["detail"] as? String }
    }

    @Test func addChangeRemoveWithSecretsMaskedEverywhere() async throws {
        let seeded = try await WebUITests.seededServer()
        let server = seeded.server
        defer { server.stop() }
        let settingsURL = server.url + "/deployments/prod/settings"
        let browser = try await WebDriverBrowser(javascript: false)
        do {
            try await WebUITests.signIn(browser, server, token: seeded.admin)
            try await browser.go(settingsURL)
            #expect(try await browser.pageText().contains("No environment variables."))

            // Add a plain variable and a connection URI with a password (secret by its value, not its name).
            let connection = "postgresql://etl:\(Self.secret)@db.internal:5432/dw"
            for (key, value) in [("REGION", "eu-west-1"), ("AIRFLOW_CONN_WAREHOUSE", connection), ("API_KEY", Self.secret + "-key")] {
                try await browser.type(key, into: "#env-new-key")
                try await browser.type(value, into: "#env-new-value")
                try await browser.click(css: "#env-add button[type=submit]")
                try await browser.waitUntil(timeout: 20, "the saved settings") { try await browser.url().contains("saved=1") }
            }
            #expect(try await browser.findAll("#environment-variables tbody tr").count == 3)
            let source = try await browser.source()
            #expect(source.contains("eu-west-1"))
            #expect(!source.contains(Self.secret), "no secret value is ever sent to the browser")
            #expect(try await browser.text(try await browser.find("#environment-variables tbody tr:nth-child(1) td")) == EnvironmentVariables.maskedValue)
            #expect(try await browser.exists("label[for='env-value-REGION']"))
            #expect(try await browser.exists("button[aria-label='Remove API_KEY']"))
            try await browser.screenshot(to: Self.shots.appendingPathComponent("environment-variables.png"))

            // Change: the plain one in place, the secret by typing a new value.
            try await browser.type("us-east-2", into: "#env-value-REGION")
            try await browser.click(css: "form:has(#env-value-REGION) button[type=submit]")
            try await browser.waitUntil(timeout: 20, "the changed value") { try await browser.pageText().contains("us-east-2") }
            try await browser.type(Self.secret + "-rotated", into: "#env-value-API_KEY")
            try await browser.click(css: "form:has(#env-value-API_KEY) button[type=submit]")
            try await browser.waitUntil(timeout: 20, "the saved settings") { try await browser.url().contains("saved=1") }

            // A bad name is refused in the page, what was typed kept, nothing saved.
            let before = try await Self.settingsAudit(server).count
            try await browser.type("9-LIVES", into: "#env-new-key")
            try await browser.type("nine", into: "#env-new-value")
            try await browser.click(css: "#env-add button[type=submit]")
            try await browser.waitUntil(timeout: 20, "the refusal") { try await browser.exists("#env-error") }
            #expect(try await browser.text(try await browser.find("#env-error")).contains("is not a valid environment variable name"))
            #expect(try await browser.attribute(try await browser.find("#env-new-key"), "value") == "9-LIVES")
            #expect(try await browser.text(try await browser.find("#env-new-value")) == "nine")
            // A name Airlock owns, with a secret-looking value: refused, and the value is not sent back.
            try await browser.type("AIRFLOW_HOME", into: "#env-new-key")
            try await browser.type("postgres://u:\(Self.secret)@h/db", into: "#env-new-value")
            try await browser.click(css: "#env-add button[type=submit]")
            try await browser.waitUntil(timeout: 20, "the refusal") { try await browser.pageText().contains("is set by Airlock") }
            #expect(!(try await browser.source()).contains(Self.secret))
            try await browser.screenshot(to: Self.shots.appendingPathComponent("environment-variable-refused.png"))

            #expect(try await Self.settingsAudit(server).count == before, "a refusal changes nothing")

            // Remove one.
            try await browser.go(settingsURL)
            try await browser.click(css: "button[aria-label='Remove REGION']")
            try await browser.waitUntil(timeout: 20, "the removal") { !(try await browser.exists("#env-value-REGION")) }
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
        try await Self.axeOnSettingsWithVariables(server, token: seeded.admin)

        // The API: same field, secret values masked (the stored values are the typed ones: the server runs with them).
        let environment = try await Self.environment(server)
        #expect(environment == ["AIRFLOW_CONN_WAREHOUSE": EnvironmentVariables.maskedValue, "API_KEY": EnvironmentVariables.maskedValue])
        let list = try await server.json("/api/v1/deployments")
        #expect(!String(describing: list).contains(Self.secret))
        // The audit log names what was added (+), changed (~) and removed (-), never a value.
        let audit = try await Self.settingsAudit(server)
        #expect(audit.reversed() == ["environmentVariables: +REGION", "environmentVariables: +AIRFLOW_CONN_WAREHOUSE",
                                     "environmentVariables: +API_KEY", "environmentVariables: ~REGION", "environmentVariables: ~API_KEY",
                                     "environmentVariables: -REGION"])
        let all = try await server.json("/api/v1/audit-events?limit=1000")
        #expect(!String(describing: all).contains(Self.secret))

        // The API's PATCH uses the same rule: a deploy-owned name → 400, nothing saved; a valid change → masked answer.
        let refused = try await WebUIAdminTests.api(server, "PATCH", "/deployments/prod/settings", token: seeded.admin,
                                                    json: #"{"environmentVariables": {"PATH": "/evil"}}"#)
        #expect(refused.status == 400 && (refused.body["message"] as? String)?.contains("set by Airlock") == true)
        let patched = try await WebUIAdminTests.api(server, "PATCH", "/deployments/prod/settings", token: seeded.admin,
                                                    json: #"{"environmentVariables": {"DB_PASSWORD": "x"}, "removeEnvironmentVariables": ["API_KEY"]}"#)
        #expect(patched.status == 200)
        let settings = (patched.body["settings"] as? [String: Any])?["environmentVariables"] as? [String: String]
        #expect(settings == ["AIRFLOW_CONN_WAREHOUSE": EnvironmentVariables.maskedValue, "DB_PASSWORD": EnvironmentVariables.maskedValue])
    }

    /// axe (it needs JavaScript) finds no serious or critical violation in the table, the forms and a
    /// refusal, at 1280 and 360 px.
    static func axeOnSettingsWithVariables(_ server: RunningServer, token: String) async throws {
        let axe = try WebUIAccessibilityTests.axeSource()
        let browser = try await WebDriverBrowser(javascript: true)
        do {
            try await WebUITests.signIn(browser, server, token: token)
            try await browser.go(server.url + "/deployments/prod/settings")
            try await browser.type("BAD NAME", into: "#env-new-key")
            try await browser.click(css: "#env-add button[type=submit]")
            try await browser.waitUntil(timeout: 20, "the refusal") { try await browser.exists("#env-error") }
            var report = try await WebUIAccessibilityTests.audit(browser, axe: axe, page: "settings with variables", width: 1280)
            _ = try await browser.cdp("Emulation.setDeviceMetricsOverride", ["width": 360, "height": 800, "deviceScaleFactor": 1, "mobile": true])
            report += try await WebUIAccessibilityTests.audit(browser, axe: axe, page: "settings with variables", width: 360)
            try await browser.screenshot(to: Self.shots.appendingPathComponent("environment-variables-360px.png"))
            #expect(report.isEmpty, "\(report.joined(separator: "\n"))")
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
    }

    @Test func aViewerSeesNoFormAndAForgedPostIsRefused() async throws {
        let seeded = try await WebUITests.seededServer()
        let server = seeded.server
        defer { server.stop() }
        #expect(try await WebUIAdminTests.api(server, "PATCH", "/deployments/prod/settings", token: seeded.admin,
                                              json: #"{"environmentVariables": {"REGION": "eu", "SECRET_KEY": "\#(Self.secret)"}}"#).status == 200)
        let browser = try await WebDriverBrowser(javascript: false)
        do {
            try await WebUITests.signIn(browser, server, token: seeded.viewer)
            try await browser.go(server.url + "/deployments/prod/settings")
            #expect(try await browser.findAll("#environment-variables tbody tr").count == 2)
            #expect(!(try await browser.exists("form[action$='/settings/environment']")), "no form for a viewer")
            let source = try await browser.source()
            #expect(source.contains("<code>eu</code>") && !source.contains(Self.secret))
            try await browser.screenshot(to: Self.shots.appendingPathComponent("environment-variables-viewer.png"))
            let csrf = try #require(try await browser.attribute(try await browser.find("form[action='/signout'] input[name=csrf]"), "value"))
            let cookie = try #require(try await browser.cookies()["airlock_session"])
            let forged = try await WebUITests.post(server, "/deployments/prod/settings/environment", cookie: cookie,
                                                   fields: ["csrf": csrf, "action": "remove", "key": "REGION"])
            #expect(forged.status == 403)
            let noCSRF = try await WebUITests.post(server, "/deployments/prod/settings/environment", cookie: nil,
                                                   fields: ["action": "add", "key": "X", "value": "1"])
            #expect(noCSRF.status == 403)
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
        #expect(try await Self.environment(server) == ["REGION": "eu", "SECRET_KEY": EnvironmentVariables.maskedValue])
    }
}
