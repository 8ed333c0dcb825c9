import AirlockCore
import AirlockStorage
import AirlockTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Deploy History search and paging, compare, and pin / unpin, in a real headless Chromium against the real
/// `airlock server` process, on a history seeded through the store (as `WebUITests` does). Screenshots land
/// in `AIRLOCK_TEST_OUTPUT_DIR/web-ui/history`.
@Suite(.serialized) struct WebUIHistoryTests {
    static var shots: URL { WebUITests.outputFolder.appendingPathComponent("history") }

    struct Seeded {
        var server: RunningServer
        var data: URL
        var admin: String
        var viewer: String
    }

    static let firstLock = "apache-airflow==2.10.5\napache-airflow-providers-http==4.0.0\nrequests==2.31.0\nsix==1.16.0\n"
    static let secondLock = "apache-airflow==3.0.6\napache-airflow-providers-http==5.0.0\nrequests==2.32.3\nattrs==23.1.0\n"

    /// Deployment `prod` with 120 deploys: #1 on Airflow 2.10.5 and #2 on 3.0.6 (with the release records and
    /// file manifests a real deploy leaves), then #3…#120 on 3.0.6 by `ci` ("Nightly build N") and every
    /// seventh by `bob` ("Hotfix N, 100% tested"). #120 is current. Tokens: an admin and a viewer.
    static func seededServer(pinned: Bool = false) async throws -> Seeded {
        let data = try TestSupport.scratchFolder("airlock-web-ui-history")
        let store = try SQLiteDeployHistoryStore(path: data.appendingPathComponent("airlock.sqlite").path)
        let deployment = try await store.createDeployment(Deployment(id: "d1", name: "prod"))
        let start = Date().addingTimeInterval(-86_400)
        let manifests = [["dags/a.py": "1", "dags/b.py": "2", "Dockerfile": "d"], ["dags/a.py": "1x", "dags/c.py": "3", "Dockerfile": "d"]]
        var deploys: [Deploy] = []
        for index in 1...120 {
            let airflow = index == 1 ? "2.10.5" : "3.0.6"
            let manifest = manifests[min(index, 2) - 1]
            let description = index <= 2 ? "Airflow \(airflow)" : (index % 7 == 0 ? "Hotfix \(index), 100% tested" : "Nightly build \(index)")
            deploys.append(Deploy(
                id: "deploy-\(index)", deploymentId: deployment.id, sequence: 0, type: .imageAndDag, status: .deployed,
                description: description, createdAt: start.addingTimeInterval(Double(index) * 60), createdBy: index % 7 == 0 ? "bob" : "ci",
                image: DeployImage(runtimeVersion: nil, airflowVersion: airflow, python: "3.11", lockHash: "lock-\(airflow)",
                                   projectDigest: BundleManifest(files: manifest).digest),
                dagBundleVersion: nil, dagDeployEnabled: true, dbSchemaHead: index == 1 ? "5f2621c13b39" : "fe199e1abd77",
                everDeployed: true))
        }
        try await store.createDeploys(deploys)
        _ = try await store.markDeployed(deployId: "deploy-120", deploymentId: deployment.id, dbSchemaHead: "fe199e1abd77", actor: "ci")
        if pinned {
            try await store.setPin(deploymentId: deployment.id, pin: Deployment.Pin(reason: "Incident 42 <b>freeze</b>", by: "carol", at: Date()),
                                   actor: "carol")
        }
        // What a real deploy leaves for #1 and #2: the image's file manifest and the release record (the lock).
        for (index, lock) in [(1, firstLock), (2, secondLock)] {
            let manifest = BundleManifest(files: manifests[index - 1])
            let folder = data.appendingPathComponent("artifacts/image/\(manifest.digest)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try JSONEncoder().encode(manifest).write(to: folder.appendingPathComponent(".airlock-manifest.json"))
            let release = data.appendingPathComponent("deployments/d1/releases/deploy-\(index)")
            try FileManager.default.createDirectory(at: release, withIntermediateDirectories: true)
            let record: [String: Any] = ["deployId": "deploy-\(index)", "airflowVersion": index == 1 ? "2.10.5" : "3.0.6", "python": "3.11",
                                         "indexOptions": [String](), "lock": lock, "lockHash": "lock-\(index)",
                                         "schemaHead": index == 1 ? "5f2621c13b39" : "fe199e1abd77"]
            try JSONSerialization.data(withJSONObject: record).write(to: release.appendingPathComponent(".airlock-release.json"))
        }
        let admin = try await store.createToken(name: "alice", role: .admin).token
        let viewer = try await store.createToken(name: "victor", role: .viewer).token
        let server = try RunningServer(dataDirectory: data)
        try await server.waitUntilUp()
        return Seeded(server: server, data: data, admin: admin, viewer: viewer)
    }

    static func rowNumbers(_ browser: WebDriverBrowser) async throws -> [Int] {
        var numbers: [Int] = []
        for link in try await browser.findAll("table.history tbody tr td:nth-child(2) a") {
            numbers.append(Int(try await browser.text(link).dropFirst()) ?? -1)
        }
        return numbers
    }

    /// Paging "1–50 of 120" with next/previous links, then searches typed into the search box: text, `#N`,
    /// an actor, a version, and a `%` that is literal; the pager keeps the search.
    @Test func searchAndPaging() async throws {
        let seeded = try await Self.seededServer()
        defer { seeded.server.stop() }
        let browser = try await WebDriverBrowser(javascript: false)
        do {
            let server = seeded.server
            try await browser.go(server.url + "/deployments/prod")
            #expect(try await browser.text(try await browser.find("#history-count")) == "1–50 of 120 deploys")
            #expect(try await Self.rowNumbers(browser) == Array((71...120).reversed()))
            try await browser.click(css: "nav.pager a[rel=next]")
            try await browser.waitUntil(timeout: 20, "page 2") { try await browser.text(try await browser.find("#history-count")) == "51–100 of 120 deploys" }
            #expect(try await Self.rowNumbers(browser) == Array((21...70).reversed()))
            try await browser.click(css: "nav.pager a[rel=next]")
            try await browser.waitUntil(timeout: 20, "page 3") { try await browser.text(try await browser.find("#history-count")) == "101–120 of 120 deploys" }
            #expect(!(try await browser.exists("nav.pager a[rel=next]")))
            try await browser.screenshot(to: Self.shots.appendingPathComponent("01-history-last-page.png"))
            try await browser.click(css: "nav.pager a[rel=prev]")
            try await browser.waitUntil(timeout: 20, "back to page 2") { try await browser.text(try await browser.find("#history-count")) == "51–100 of 120 deploys" }

            func search(_ text: String) async throws {
                try await browser.go(server.url + "/deployments/prod")
                try await browser.type(text, into: "#history-search")
                try await browser.click(css: "#history-search-form button[type=submit]")
                try await browser.waitUntil(timeout: 20, "the search for \(text)") { try await browser.url().contains("search=") }
            }
            // An actor: every seventh deploy, newest first, counted by the store.
            try await search("BOB")
            let hotfixes = Array(stride(from: 119, through: 7, by: -7))
            #expect(try await browser.text(try await browser.find("#history-count")) == "1–\(hotfixes.count) of \(hotfixes.count) deploys matching “BOB”")
            #expect(try await Self.rowNumbers(browser) == hotfixes)
            #expect(try await browser.attribute(try await browser.find("#history-search"), "value") == "BOB", "the box keeps the search")
            try await browser.screenshot(to: Self.shots.appendingPathComponent("02-search-actor.png"))
            // `#N` is that deploy only.
            try await search("#12")
            #expect(try await Self.rowNumbers(browser) == [12])
            // A version: #1 only runs 2.10.5.
            try await search("2.10.5")
            #expect(try await Self.rowNumbers(browser) == [1])
            // `%` is literal (every hotfix says "100% tested"; `%` as a wildcard would match all 120).
            try await search("100% t")
            #expect(try await Self.rowNumbers(browser) == hotfixes)
            // Text with many matches pages, and the pager keeps the search.
            try await search("nightly")
            #expect(try await browser.text(try await browser.find("#history-count")) == "1–50 of 101 deploys matching “nightly”")
            try await browser.click(css: "nav.pager a[rel=next]")
            try await browser.waitUntil(timeout: 20, "the search's page 2") { try await browser.url().contains("offset=50") }
            #expect(try await browser.url().contains("search=nightly"))
            #expect(try await browser.text(try await browser.find("#history-count")) == "51–100 of 101 deploys matching “nightly”")
            // No match says so; the API answers the same search with the same count.
            try await search("no such deploy")
            #expect(try await browser.pageText().contains("No deploy matches “no such deploy”."))
            let api = try await server.json("/api/v1/deployments/prod/deploys?search=nightly&limit=5")
            #expect(api["totalCount"] as? Int == 101)
            #expect((api["deploys"] as? [[String: Any]])?.map { $0["sequence"] as? Int } == [120, 118, 117, 116, 115])
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
    }

    /// Compare #1 with #2 from the deploy page: files, the package diff in `dependency_compare.txt`'s
    /// sections (the same engine), the Airflow upgrade and the DB direction; A == B is fine; a bad ref is 404.
    @Test func compareTwoDeploys() async throws {
        let seeded = try await Self.seededServer()
        defer { seeded.server.stop() }
        let browser = try await WebDriverBrowser(javascript: true)
        do {
            let server = seeded.server
            try await browser.go(server.url + "/deployments/prod/deploys/2")
            try await browser.click(css: "#compare-previous")
            try await browser.waitUntil(timeout: 20, "the compare page") { try await browser.url().hasSuffix("/compare/1...2") }
            let text = try await browser.pageText()
            #expect(text.contains("Compare #1 with #2"))
            #expect(try await browser.text(try await browser.find("#compare-versions")).contains("Airflow 3.0.6 upgrade"))
            #expect(try await browser.text(try await browser.find("#files-note")) == "1 added, 1 removed, 1 changed.")
            #expect(try await browser.text(try await browser.find("ul.files.added")) == "dags/c.py")
            #expect(try await browser.text(try await browser.find("ul.files.removed")) == "dags/b.py")
            #expect(try await browser.text(try await browser.find("ul.files.changed")) == "dags/a.py")
            // The package sections are the upgrade test's, computed by the same engine from the two locks.
            let expected = DependencyDiff(from: PinnedSet(freezeText: Self.firstLock), to: PinnedSet(freezeText: Self.secondLock)).compareSections
            #expect(expected.map(\.title).contains("Apache Airflow Update:"))
            let shown = try await browser.findAll("#packages-title ~ h3")
            #expect(try await shown.asyncMap { try await browser.text($0) } == expected.map(\.title))
            let entries = try await browser.findAll("ul.packages li").asyncMap { try await browser.text($0) }
            #expect(entries == expected.flatMap(\.entries))
            #expect(try await browser.text(try await browser.find("#db-direction")) == "Schema: upgrade from 5f2621c13b39 to fe199e1abd77")
            try await browser.screenshot(to: Self.shots.appendingPathComponent("03-compare.png"))

            // The form picks any two; A == B says nothing changes; a bad ref is a 404 page.
            try await browser.go(server.url + "/deployments/prod/compare/2...1")
            #expect(try await browser.text(try await browser.find("#compare-versions")).contains("downgrade"))
            try await browser.go(server.url + "/deployments/prod/compare/7...7")
            #expect(try await browser.pageText().contains("Both sides are deploy #7: nothing changes."))
            #expect(try await browser.text(try await browser.find("#db-direction")) == "Schema: none")
            for bad in ["1...999", "x...1", "12", "1..2"] {
                let (status, body) = try await Self.get(server, "/deployments/prod/compare/\(bad)")
                #expect(status == 404, "\(bad)")
                #expect(body.contains("404"))
            }
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
    }

    /// A pinned deployment shows who, when and why; a viewer sees why it cannot unpin and a forged POST gets
    /// 403; the admin confirms the unpin on its own page, the store records the audit event, and Settings
    /// pins again with a reason (an empty reason is refused).
    @Test func pinAndUnpin() async throws {
        let seeded = try await Self.seededServer(pinned: true)
        defer { seeded.server.stop() }
        let browser = try await WebDriverBrowser(javascript: false)
        do {
            let server = seeded.server
            try await WebUITests.signIn(browser, server, token: seeded.viewer)
            try await browser.go(server.url + "/deployments/prod")
            let notice = try await browser.text(try await browser.find("#pin-notice"))
            #expect(notice.contains("Pinned by carol") && notice.contains("Incident 42 <b>freeze</b>"))
            #expect(notice.contains("need the `admin` role; you are signed in as `viewer`"))
            #expect(!(try await browser.exists("#unpin-link")))
            let viewerCookie = try #require(try await browser.cookies()["airlock_session"])
            let forged = try await WebUITests.post(server, "/deployments/prod/pin", cookie: viewerCookie, fields: ["action": "unpin", "csrf": "x"])
            #expect(forged.status == 403)
            await browser.quit()

            let admin = try await WebDriverBrowser(javascript: false)
            do {
                try await WebUITests.signIn(admin, server, token: seeded.admin)
                try await admin.go(server.url + "/deployments/prod")
                try await admin.screenshot(to: Self.shots.appendingPathComponent("04-pinned.png"))
                let adminCookie = try #require(try await admin.cookies()["airlock_session"])
                let noCsrf = try await WebUITests.post(server, "/deployments/prod/pin", cookie: adminCookie, fields: ["action": "unpin"])
                #expect(noCsrf.status == 403)
                try await admin.click(css: "#unpin-link")
                try await admin.waitUntil(timeout: 20, "the unpin confirmation") { try await admin.url().hasSuffix("/deployments/prod/pin") }
                try await admin.screenshot(to: Self.shots.appendingPathComponent("05-unpin-confirm.png"))
                try await admin.click(css: "#confirm-unpin")
                try await admin.waitUntil(timeout: 20, "the unpinned deployment") { try await admin.url().hasSuffix("/deployments/prod") }
                #expect(!(try await admin.exists("#pin-notice")))
                #expect(try await Self.auditActions(server).contains("deployment.unpin by alice"))

                // Settings → pin, with the reason required.
                try await admin.go(server.url + "/deployments/prod/settings")
                try await admin.click(css: "#pin-settings-link")
                try await admin.waitUntil(timeout: 20, "the pin page") { try await admin.url().hasSuffix("/deployments/prod/pin") }
                try await admin.click(css: "#confirm-pin")
                try await admin.waitUntil(timeout: 20, "the refusal") { try await admin.exists("#pin-error") }
                #expect(!(try await server.json("/api/v1/deployments/prod")["pinned"] is [String: Any]), "nothing was pinned")
                try await admin.type("Holding 3.0.6 for the audit", into: "#pin-reason")
                try await admin.click(css: "#confirm-pin")
                try await admin.waitUntil(timeout: 20, "the pinned deployment") { try await admin.exists("#pin-notice") }
                #expect(try await admin.text(try await admin.find("#pin-notice")).contains("Pinned by alice"))
                let pin = try await server.json("/api/v1/deployments/prod")["pinned"] as? [String: Any]
                #expect(pin?["reason"] as? String == "Holding 3.0.6 for the audit" && pin?["by"] as? String == "alice")
                #expect(try await Self.auditActions(server).contains("deployment.pin by alice"))
                try await admin.screenshot(to: Self.shots.appendingPathComponent("06-pinned-again.png"))
            } catch {
                await admin.quit()
                throw error
            }
            await admin.quit()
        } catch {
            await browser.quit()
            throw error
        }
    }

    /// The deployment's audit events as "action by actor".
    static func auditActions(_ server: RunningServer) async throws -> [String] {
        let events = try await server.json("/api/v1/deployments/prod/audit-events")["events"] as? [[String: Any]] ?? []
        return events.map { "\($0["action"] as? String ?? "") by \($0["actor"] as? String ?? "")" }
    }

    static func get(_ server: RunningServer, _ path: String) async throws -> (status: Int, body: String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: server.url + path)!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
