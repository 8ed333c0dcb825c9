import AirlockCore
import AirlockStorage
import AirlockTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The web UI's progressive enhancement and accessibility, in a real headless Chromium against the real
/// `airlock server` (the seeded store of `WebUITests`): live progress over Server-Sent Events with the
/// `<noscript>` refresh as the fallback, the rollback page as a modal `<dialog>`, axe-core on every page
/// (light and dark), every page at 360 px wide, the rollback flow with JavaScript off, `Secure` cookies
/// behind TLS. Screenshots land in `WebUITests.outputFolder/accessibility`.
@Suite(.serialized) struct WebUIAccessibilityTests {
    static var shots: URL { WebUITests.outputFolder.appendingPathComponent("accessibility") }

    /// Rollback Deploy on, through the API (what Settings does is `WebUITests`' part).
    static func enableRollback(_ seeded: WebUITests.Seeded) async throws {
        var request = URLRequest(url: URL(string: seeded.server.url + "/api/v1/deployments/prod/settings")!)
        request.httpMethod = "PATCH"
        request.setValue("Bearer \(seeded.admin)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"rollbackEnabled": true}"#.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
    }

    /// A seeded server with a third deploy created but never run (`INITIALIZED`): its page is a running
    /// deploy's page until the deploy is cancelled through the API.
    static func serverWithRunningDeploy() async throws -> WebUITests.Seeded {
        let seeded = try await WebUITests.seededServer()
        let store = try SQLiteDeployHistoryStore(path: seeded.server.dataDirectory.appendingPathComponent("airlock.sqlite").path)
        _ = try await store.createDeploy(Deploy(
            id: "deploy-running", deploymentId: "d1", sequence: 0, type: .imageAndDag, status: .initialized, description: "in flight",
            createdAt: Date(), createdBy: "ci",
            image: DeployImage(runtimeVersion: nil, airflowVersion: "3.0.6", python: "3.11", lockHash: "lock-running",
                               projectDigest: "sha256:" + String(repeating: "9", count: 64)),
            dagBundleVersion: nil, dagDeployEnabled: true, dbSchemaHead: nil, everDeployed: false))
        return seeded
    }

    static func cancel(_ seeded: WebUITests.Seeded, deploy: Int, reason: String) async throws -> Int {
        var request = URLRequest(url: URL(string: seeded.server.url + "/api/v1/deployments/prod/deploys/\(deploy)/cancel")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(seeded.admin)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: ["reason": reason])
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }

    /// A running deploy's page with JavaScript on follows the event stream (no refresh) and reloads when
    /// the deploy ends; with JavaScript off the `<noscript>` meta refresh does it. The stream itself:
    /// `text/event-stream`, steps with ids (a reconnect resumes after `Last-Event-ID`), a final `end`.
    @Test func liveProgressOverServerSentEvents() async throws {
        let seeded = try await Self.serverWithRunningDeploy()
        let server = seeded.server
        defer { server.stop() }
        let withScript = try await WebDriverBrowser(javascript: true)
        let withoutScript = try await WebDriverBrowser(javascript: false)
        do {
            try await withScript.go(server.url + "/deployments/prod/deploys/3")
            try await withScript.waitUntil(timeout: 15, "the event stream to connect") { try await withScript.exists("[data-live=connected]") }
            #expect(!(try await withScript.exists("meta[http-equiv=refresh]")), "with JavaScript the page does not refresh itself")
            // Looked up afresh each time: if the stream errors under load the script falls back to reloading the
            // page (its `error` handler), which leaves an element found before the reload stale (seen in CI).
            try await withScript.waitUntil(timeout: 30, "the live region to show the deploy's state and the script's note") {
                let text = try await withScript.text(try await withScript.find("[role=status]"))
                return text.contains("INITIALIZED") && text.contains("Steps appear here as they happen")
            }
            try await withScript.screenshot(to: Self.shots.appendingPathComponent("deploy-running-live.png"))

            try await withoutScript.go(server.url + "/deployments/prod/deploys/3")
            #expect(try await withoutScript.exists("meta[http-equiv=refresh]"), "without JavaScript the <noscript> refresh is parsed")
            #expect(try await withoutScript.pageText().contains("refreshes itself every"))

            // The deploy ends: the scripted page reloads on `end`, the other on its next refresh.
            #expect(try await Self.cancel(seeded, deploy: 3, reason: "the upload failed") == 200)
            for browser in [withScript, withoutScript] {
                try await browser.waitUntil(timeout: 30, "the page to show the end") {
                    try await browser.pageText().contains("Failed: the upload failed")
                }
                #expect(!(try await browser.exists("meta[http-equiv=refresh]")))
                #expect(!(try await browser.exists("[data-events]")))
            }
            try await withScript.screenshot(to: Self.shots.appendingPathComponent("deploy-ended.png"))
        } catch {
            Issue.record("\(error)\n\(server.log)")
        }
        await withScript.quit()
        await withoutScript.quit()

        // A rollback that fails at once (this store has no artifacts): its stream replays the steps the
        // coordinator recorded, each with its id, then `end`; `Last-Event-ID` skips what was seen.
        try await Self.enableRollback(seeded)
        let cookie = try await Self.signedInCookie(server, token: seeded.admin)
        let form = try await Self.rollbackForm(server, cookie: cookie)
        let posted = try await WebUITests.post(server, "/deployments/prod/deploys/1/rollback", cookie: cookie,
                                               fields: ["csrf": form.csrf, "expectedFromId": form.expectedFromId,
                                                        "description": "events", "confirmName": "prod"])
        #expect(posted.status == 200 && posted.body.contains("Deploy #4"), "the redirect lands on the new deploy")
        var ended = false
        for _ in 0..<120 where !ended {
            ended = try await server.json("/api/v1/deployments/prod/deploys/4")["status"] as? String == "FAILED"
            if !ended { try await Task.sleep(nanoseconds: 250_000_000) }
        }
        #expect(ended)
        let (head, stream) = try await Self.events(server, "/deployments/prod/deploys/4/events", lastEventId: nil)
        #expect(head.contains("text/event-stream"))
        let stepIds = stream.components(separatedBy: "\n").filter { $0.hasPrefix("id: ") }
        #expect(!stepIds.isEmpty, "the rollback's steps: \(stream)")
        #expect(stepIds.first == "id: 1")
        #expect(stream.hasSuffix("event: end\ndata: FAILED\n\n"), "\(stream)")
        // Its page lists the same steps, each but the last (where it ended) with how long it took.
        let page = try await WebUIHistoryTests.get(server, "/deployments/prod/deploys/4").body
        let items = page.components(separatedBy: "<ol class=\"steps\">").dropFirst().first?.components(separatedBy: "</ol>").first?
            .components(separatedBy: "<li>").dropFirst().map { $0.replacingOccurrences(of: "</li>", with: "") } ?? []
        let timed = #/ <span class="muted">\((\d+ ms|\d+\.\d s)\)</span>$/#
        #expect(items.count == stepIds.count, "\(items)")
        #expect(items.dropLast().allSatisfy { $0.firstMatch(of: timed) != nil } && items.last?.contains("muted") == false, "\(items)")
        let (_, resumed) = try await Self.events(server, "/deployments/prod/deploys/4/events", lastEventId: stepIds.count)
        #expect(!resumed.contains("event: step"), "nothing after the last step seen: \(resumed)")
        #expect(resumed.hasSuffix("event: end\ndata: FAILED\n\n"))
        // A deploy that already ended answers at once; an unknown one is a 404 page.
        let (missing, _) = try await Self.events(server, "/deployments/prod/deploys/99/events", lastEventId: nil)
        #expect(missing.hasPrefix("HTTP/1.1 404"))
    }

    /// With JavaScript, "Rollback to" opens the rollback page as a modal dialog: the URL follows, focus is
    /// on Cancel, Esc and Cancel close it (focus back on the link, URL back), and its form confirms a
    /// rollback as the page does.
    @Test func rollbackDialog() async throws {
        let seeded = try await WebUITests.seededServer()
        let server = seeded.server
        defer { server.stop() }
        try await Self.enableRollback(seeded)
        let browser = try await WebDriverBrowser()
        do {
            try await WebUITests.signIn(browser, server, token: seeded.admin)
            try await browser.go(server.url + "/deployments/prod")
            let link = "a[href='/deployments/prod/deploys/1/rollback']"
            for closeWith in ["Escape", "Cancel"] {
                try await browser.click(css: link)
                try await browser.waitUntil(timeout: 15, "the dialog") { try await browser.exists("dialog[open]") }
                #expect(try await browser.url().hasSuffix("/deployments/prod/deploys/1/rollback"))
                #expect(try await browser.execute("return document.activeElement.textContent.trim()") as? String == "Cancel",
                        "focus starts on the safe button")
                #expect(try await browser.execute("return document.querySelector('dialog[open]').getAttribute('aria-labelledby')") as? String
                    == "rollback-title")
                #expect(try await browser.text(try await browser.find("dialog[open]")).contains("Danger: a last resort"))
                if closeWith == "Escape" {
                    try await browser.screenshot(to: Self.shots.appendingPathComponent("rollback-dialog.png"))
                    try await browser.press("\u{E00C}")
                } else {
                    try await browser.click(css: "dialog[open] [data-cancel]")
                }
                try await browser.waitUntil(timeout: 10, "the dialog to close (\(closeWith))") { !(try await browser.exists("dialog")) }
                try await browser.waitUntil(timeout: 10, "the URL to go back") { try await browser.url().hasSuffix("/deployments/prod") }
                #expect(try await browser.execute("return document.activeElement.getAttribute('href')") as? String
                    == "/deployments/prod/deploys/1/rollback", "focus returns to the link")
            }
            // Keyboard only: Enter on the focused link opens it; Tab moves within the dialog.
            try await browser.execute("document.querySelector(\"\(link)\").focus()")
            try await browser.press("\u{E007}")
            try await browser.waitUntil(timeout: 15, "the dialog by keyboard") { try await browser.exists("dialog[open]") }
            try await browser.press("\u{E004}")
            #expect(try await browser.execute("return document.querySelector('dialog[open]').contains(document.activeElement)") as? Bool == true)
            // Confirm from the dialog: a refusal comes back as the page, a valid form lands on the new deploy.
            try await browser.type("Airflow 3 broke our DAGs", into: "dialog #description")
            try await browser.type("prod", into: "dialog #confirmName")
            try await browser.click(css: "dialog form.confirm button[type=submit]")
            try await browser.waitUntil(timeout: 15, "the new deploy's page") { try await browser.url().hasSuffix("/deployments/prod/deploys/3") }
            #expect(try await browser.pageText().contains("rollback of #2 to #1"))
        } catch {
            Issue.record("\(error)\n\(server.log)")
        }
        await browser.quit()
    }

    /// The rollback flow with JavaScript off on the seeded store: the link is a page, the form validates
    /// on the server (what was typed stays), and a confirmed rollback redirects to the new deploy, whose
    /// page refreshes itself until it ends.
    @Test func rollbackWithoutJavaScript() async throws {
        let seeded = try await WebUITests.seededServer()
        let server = seeded.server
        defer { server.stop() }
        try await Self.enableRollback(seeded)
        let browser = try await WebDriverBrowser(javascript: false)
        do {
            try await WebUITests.signIn(browser, server, token: seeded.admin)
            try await browser.go(server.url + "/deployments/prod")
            try await browser.click(css: "a[href='/deployments/prod/deploys/1/rollback']")
            try await browser.waitUntil(timeout: 10, "the rollback page") { try await browser.url().hasSuffix("/deploys/1/rollback") }
            #expect(!(try await browser.exists("dialog")))
            try await browser.type("Airflow 3 broke our DAGs", into: "#description")
            try await browser.type("staging", into: "#confirmName")
            try await browser.click(css: "form.confirm button[type=submit]")
            try await browser.waitUntil(timeout: 10, "the refusal") { try await browser.exists("#form-error") }
            #expect(try await browser.text(try await browser.find("#form-error")).contains("Type the deployment name"))
            #expect(try await browser.property(try await browser.find("#description"), "value") as? String == "Airflow 3 broke our DAGs",
                    "what was typed stays")
            #expect(try await WebUITests.deployCount(server) == 2)
            try await browser.screenshot(to: Self.shots.appendingPathComponent("no-js-rollback-refused.png"))
            try await browser.type("prod", into: "#confirmName")
            try await browser.click(css: "form.confirm button[type=submit]")
            try await browser.waitUntil(timeout: 15, "the new deploy's page") { try await browser.url().hasSuffix("/deployments/prod/deploys/3") }
            try await browser.waitUntil(timeout: 60, "the rollback to end (the page refreshes itself)") {
                ["DEPLOYED", "FAILED"].contains(try await browser.text(try await browser.find("h1 .status")))
            }
            #expect(!(try await browser.exists("meta[http-equiv=refresh]")), "a finished deploy stops refreshing")
            #expect(try await browser.pageText().contains("rollback of #2 to #1"))
        } catch {
            Issue.record("\(error)\n\(server.log)")
        }
        await browser.quit()
    }

    /// axe-core on every page, in light and dark mode, finds no serious or critical violation; every page
    /// fits 360 px without sideways scrolling of the page itself (wide tables scroll in their own box).
    @Test func axeOnEveryPage() async throws {
        let axe = try Self.axeSource()
        let seeded = try await Self.serverWithRunningDeploy()
        let server = seeded.server
        defer { server.stop() }
        try await Self.enableRollback(seeded)
        var pages = ["/signin", "/", "/deployments/prod", "/deployments/prod/deploys/2", "/deployments/prod/deploys/3",
                     "/deployments/prod/deploys/1/rollback", "/deployments/prod/settings", "/deployments/nothing-here"]
        // The other Web UI pages, where they exist in this build.
        for path in ["/audit", "/tokens", "/deployments/prod/compare/1...2"] where try await server.fetch(path).status == 200 {
            pages.append(path)
        }
        for (width, height) in [(1280, 1000), (360, 800)] {
            let browser = try await WebDriverBrowser(width: width, height: height)
            do {
                // The viewport exactly (a headless window may keep a larger minimum width).
                _ = try await browser.cdp("Emulation.setDeviceMetricsOverride",
                                          ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600])
                try await browser.go(server.url + "/signin")
                var report: [String] = []
                report += try await Self.audit(browser, axe: axe, page: "/signin (signed out)", width: width)
                try await WebUITests.signIn(browser, server, token: seeded.admin)
                for scheme in ["light", "dark"] {
                    _ = try await browser.cdp("Emulation.setEmulatedMedia", ["features": [["name": "prefers-color-scheme", "value": scheme]]])
                    for path in pages {
                        try await browser.go(server.url + path)
                        report += try await Self.audit(browser, axe: axe, page: "\(path) (\(scheme), \(width) px)", width: width)
                        let name = path == "/" ? "deployments" : path.split(separator: "/").joined(separator: "-").replacingOccurrences(of: ".", with: "")
                        try await browser.screenshot(to: Self.shots.appendingPathComponent("\(width)px-\(scheme)-\(name).png"))
                    }
                    // The dialog over the history page.
                    try await browser.go(server.url + "/deployments/prod")
                    try await browser.click(css: "a[href='/deployments/prod/deploys/1/rollback']")
                    try await browser.waitUntil(timeout: 15, "the dialog") { try await browser.exists("dialog[open]") }
                    report += try await Self.audit(browser, axe: axe, page: "rollback dialog (\(scheme), \(width) px)", width: width)
                    try await browser.screenshot(to: Self.shots.appendingPathComponent("\(width)px-\(scheme)-rollback-dialog.png"))
                }
                #expect(report.isEmpty, "\(report.joined(separator: "\n"))")
            } catch {
                Issue.record("\(error)\n\(server.log)")
            }
            await browser.quit()
        }
    }

    /// Cookies are `Secure` when the request arrived over TLS (a proxy's `X-Forwarded-Proto: https` or
    /// `Forwarded: proto=https`), and not on plain loopback HTTP, where a browser would drop them.
    @Test func cookiesAreSecureBehindTLS() async throws {
        let seeded = try await WebUITests.seededServer()
        let server = seeded.server
        defer { server.stop() }
        for (header, value, secure) in [("X-Forwarded-Proto", "https", true), ("Forwarded", "for=10.0.0.1;proto=https", true),
                                        ("X-Forwarded-Proto", "http", false), ("", "", false)] {
            var request = URLRequest(url: URL(string: server.url + "/signin")!)
            if !header.isEmpty { request.setValue(value, forHTTPHeaderField: header) }
            let (_, response) = try await URLSession.shared.data(for: request)
            let cookie = try #require((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Set-Cookie"))
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            #expect(cookie.contains("; Secure") == secure, "\(header): \(value) → \(cookie)")
        }
    }

    // MARK: Helpers

    /// axe-core's `axe.min.js` from the pinned PyPI wheel (`scripts/axe-core` downloads it once into the CI cache).
    static func axeSource() throws -> String {
        let script = TestSupport.repositoryRoot.appendingPathComponent("scripts/axe-core")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let path = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "scripts/axe-core failed")
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    /// Runs axe on the current page (injected over WebDriver, which the page's CSP does not govern) and
    /// returns its serious and critical violations, plus a line if the page scrolls sideways.
    static func audit(_ browser: WebDriverBrowser, axe: String, page: String, width: Int) async throws -> [String] {
        let loaded = try await browser.execute(axe + "\n;return typeof window.axe;") as? String
        try #require(loaded == "object", "axe did not load on \(page)")
        let result = try await browser.executeAsync("""
            var done = arguments[arguments.length - 1];
            window.axe.run(document, { resultTypes: ['violations'] }).then(function (r) {
              done(r.violations.filter(function (v) { return v.impact === 'serious' || v.impact === 'critical'; })
                .map(function (v) { return v.impact + ' ' + v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(function (n) { return n.target.join(' '); }).join(', '); }));
            }, function (e) { done(['axe failed: ' + e]); });
            """) as? [String] ?? ["axe returned nothing"]
        var found = result.map { "\(page): \($0)" }
        let overflow = try await browser.execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth") as? Int ?? 0
        if overflow > 0 {
            let widest = try await browser.execute("""
                var w = document.documentElement.clientWidth, out = [];
                document.querySelectorAll('body *').forEach(function (e) {
                  var r = e.getBoundingClientRect();
                  if (r.right > w + 1 && !(e.parentElement && e.parentElement.closest('.scroll'))) {
                    out.push(e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + '@' + Math.round(r.right));
                  }
                });
                return out.slice(0, 5).join(', ');
                """) as? String ?? ""
            found.append("\(page): the page is \(overflow) px wider than the \(width) px window (\(widest))")
        }
        return found
    }

    /// A signed-in session cookie, made through the sign-in form as a browser would (no redirect following).
    static func signedInCookie(_ server: RunningServer, token: String) async throws -> String {
        let browser = try await WebDriverBrowser(javascript: false)
        let cookie: String?
        do {
            try await WebUITests.signIn(browser, server, token: token)
            cookie = try await browser.cookies()["airlock_session"]
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
        return try #require(cookie)
    }

    static func rollbackForm(_ server: RunningServer, cookie: String) async throws -> (csrf: String, expectedFromId: String) {
        var request = URLRequest(url: URL(string: server.url + "/deployments/prod/deploys/1/rollback")!)
        request.setValue("airlock_session=\(cookie)", forHTTPHeaderField: "Cookie")
        let html = String(decoding: try await URLSession.shared.data(for: request).0, as: UTF8.self)
        func value(_ name: String) throws -> String {
            let marker = "name=\"\(name)\" value=\""
            let start = try #require(html.range(of: marker), "no \(name) in the rollback form").upperBound
            return String(html[start...].prefix { $0 != "\"" })
        }
        return (try value("csrf"), try value("expectedFromId"))
    }

    /// The raw answer to a GET of an event stream that ends by itself (the deploy ended): head and body.
    static func events(_ server: RunningServer, _ path: String, lastEventId: Int?) async throws -> (head: String, body: String) {
        let port = server.port
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result {
                    let extra = lastEventId.map { "Last-Event-ID: \($0)\r\n" } ?? ""
                    let raw = try RawHTTP.get(port: port, path: path, headers: "Accept: text/event-stream\r\n" + extra)
                    let parts = raw.components(separatedBy: "\r\n\r\n")
                    return (parts[0], Self.dechunk(parts.dropFirst().joined(separator: "\r\n\r\n")))
                })
            }
        }
    }

    /// The body of a `Transfer-Encoding: chunked` answer (sizes count bytes, so this works on bytes).
    static func dechunk(_ body: String) -> String {
        let bytes = Array(body.utf8)
        var position = 0, text = [UInt8]()
        while let end = (position..<max(position, bytes.count - 1)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }),
              let size = Int(String(decoding: bytes[position..<end], as: UTF8.self), radix: 16), size > 0, end + 2 + size <= bytes.count {
            text += bytes[(end + 2)..<(end + 2 + size)]
            position = end + 2 + size + 2
        }
        return text.isEmpty ? body : String(decoding: text, as: UTF8.self)
    }
}

/// A GET over a loopback socket, read to the close (an event stream has no `Content-Length`).
enum RawHTTP {
    static func get(port: Int, path: String, headers: String) throws -> String {
        let fd = try LoopbackHTTP.connect(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\(headers)\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { throw LoopbackHTTP.Failure(message: "send failed") }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }
}

extension WebDriverBrowser {
    /// Runs `script` in the page (WebDriver's "execute script": not subject to the page's CSP) and returns its result.
    @discardableResult
    func execute(_ script: String, _ arguments: [Any] = []) async throws -> Any? {
        try await session("POST", "/execute/sync", ["script": script, "args": arguments])
    }

    /// Runs `script`, which calls its last argument with the result (a promise's outcome).
    func executeAsync(_ script: String) async throws -> Any? {
        _ = try await session("POST", "/timeouts", ["script": 120_000])
        return try await session("POST", "/execute/async", ["script": script, "args": []])
    }

    func property(_ element: String, _ name: String) async throws -> Any? {
        try await session("GET", "/element/\(element)/property/\(name)")
    }

    /// A key press on the focused element (`\u{E00C}` Escape, `\u{E007}` Enter, `\u{E004}` Tab).
    func press(_ key: String) async throws {
        _ = try await session("POST", "/actions", ["actions": [["type": "key", "id": "keyboard", "actions": [
            ["type": "keyDown", "value": key], ["type": "keyUp", "value": key]]]]])
    }

    /// A Chrome DevTools command through chromedriver (e.g. emulating `prefers-color-scheme: dark`).
    func cdp(_ command: String, _ parameters: [String: Any]) async throws -> Any? {
        try await session("POST", "/goog/cdp/execute", ["cmd": command, "params": parameters])
    }
}
