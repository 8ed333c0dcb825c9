import AirlockCore
import AirlockStorage
import AirlockTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `benchmarks/ui`: the Deploy History page of a deployment with 100,000 deploys on SQLite, served by the
/// real `airlock server` process, next to the JSON API for the same rows in the same run: p50/p99 of
/// sequential requests on loopback (client included, so an upper bound of the server's time) and the
/// page's size. Skipped unless `AIRLOCK_BENCHMARK=1`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["AIRLOCK_BENCHMARK"] == "1"))
struct WebUIBenchmark {
    static let deployCount = Int(ProcessInfo.processInfo.environment["AIRLOCK_BENCHMARK_DEPLOYS"] ?? "") ?? 100_000
    static let iterations = Int(ProcessInfo.processInfo.environment["AIRLOCK_BENCHMARK_ITERATIONS"] ?? "") ?? 300

    static func deploy(_ index: Int, base: Date) -> Deploy {
        let image = DeployImage(runtimeVersion: nil, airflowVersion: index % 2 == 0 ? "2.10.5" : "3.0.6", python: "3.11",
                                lockHash: SHA256.hex("lock-\(index / 100)"), projectDigest: "sha256:" + SHA256.hex("digest-\(index / 10)"))
        let status: DeployStatus = index % 10 == 0 ? .failed : .deployed
        return Deploy(id: "deploy-\(index)", deploymentId: "dep-bench", sequence: 0, type: index % 3 == 0 ? .dagOnly : .imageAndDag,
                      status: status, description: "Deploy number \(index) from CI <with markup & quotes \"x\">",
                      createdAt: base.addingTimeInterval(Double(index) * 60), createdBy: "ci-token", image: image,
                      dagBundleVersion: "sha256:" + SHA256.hex("dags-\(index)"), dagDeployEnabled: true, dbSchemaHead: "5f2621c13b39",
                      git: GitMetadata(commit: SHA256.hex("commit-\(index)"), branch: "main", author: "CI"), everDeployed: status == .deployed)
    }

    /// `first`: the pass's first request, which finds no cached page or store reads (the store's own cost).
    struct Sample { var p50: Double; var p99: Double; var bytes: Int; var first: Double }

    static func measure(_ url: URL) async throws -> Sample {
        var times: [Double] = []
        var bytes = 0
        let clock = ContinuousClock()
        for _ in 0..<Self.iterations {
            var status = 0
            let elapsed = try await clock.measure {
                let (data, response) = try await URLSession.shared.data(from: url)
                bytes = data.count
                status = (response as? HTTPURLResponse)?.statusCode ?? 0
            }
            #expect(status == 200)
            times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        }
        let first = times[0]
        times.sort()
        func percentile(_ q: Double) -> Double { times[min(times.count - 1, max(0, Int((Double(times.count) * q).rounded(.up)) - 1))] }
        return Sample(p50: percentile(0.5), p99: percentile(0.99), bytes: bytes, first: first)
    }

    @Test func historyPageHundredThousandDeploys() async throws {
        let data = try TestSupport.scratchFolder("airlock-web-ui-bench")
        defer { try? FileManager.default.removeItem(at: data) }
        let store = try SQLiteDeployHistoryStore(path: data.appendingPathComponent("airlock.sqlite").path)
        try await store.createDeployment(Deployment(id: "dep-bench", name: "bench"))
        let base = Date().addingTimeInterval(-Double(Self.deployCount) * 60)
        var next = 1
        while next <= Self.deployCount {
            let upper = min(Self.deployCount, next + 4_999)
            try await store.createDeploys((next...upper).map { Self.deploy($0, base: base) })
            next = upper + 1
        }
        // The newest deploy is current, so every row gets its eligibility worked out.
        try await store.markDeployed(deployId: "deploy-\(Self.deployCount - 1)", deploymentId: "dep-bench", dbSchemaHead: nil, actor: "ci")
        var settings = DeploymentSettings()
        settings.rollbackEnabled = true
        try await store.updateSettings(deploymentId: "dep-bench", settings: settings, actor: "bench")
        let admin = try await store.createToken(name: "bench-admin", role: .admin).token

        let server = try RunningServer(dataDirectory: data)
        defer { server.stop() }
        try await server.waitUntilUp()
        let deep = Self.deployCount / 2
        let cases: [(String, String)] = [
            ("HTML first page", "/deployments/bench"),
            ("JSON first page", "/api/v1/deployments/bench/deploys?limit=50"),
            ("HTML deep page", "/deployments/bench?offset=\(deep)"),
            ("JSON deep page", "/api/v1/deployments/bench/deploys?offset=\(deep)&limit=50"),
            // A rare text (11 of 100,000 match): the store scans every row to count and to fill the page.
            ("HTML search", "/deployments/bench?search=number%204242"),
            ("JSON search", "/api/v1/deployments/bench/deploys?search=number%204242&limit=50"),
            // A common version (half match): counting scans everything, the page stops after 50.
            ("HTML version", "/deployments/bench?search=3.0.6"),
            ("JSON version", "/api/v1/deployments/bench/deploys?search=3.0.6&limit=50"),
        ]
        var results: [String: Sample] = [:]
        for (label, path) in cases {
            let url = try #require(URL(string: server.url + path))
            let warmUp = try await Self.measure(url)  // warm-up pass (first-use allocations, page cache)
            results[label] = try await Self.measure(url)
            results[label]?.first = warmUp.first
        }
        print("WebUIBenchmark: \(Self.deployCount) deploys (SQLite), \(Self.iterations) sequential requests per case after a warm-up pass")
        for (label, _) in cases {
            let sample = results[label]!
            print(String(format: "  %-16@ p50 %7.2f ms   p99 %7.2f ms   %7d bytes   first (uncached) %7.2f ms", label as NSString,
                         sample.p50, sample.p99, sample.bytes, sample.first))
        }
        for page in ["first page", "deep page", "search", "version"] {
            let html = results["HTML \(page)"]!, json = results["JSON \(page)"]!
            print(String(format: "  %@: HTML/JSON p99 %.2f× (goal ≤ 2×), HTML p99 %.2f ms (goal ≤ 20 ms), %d KB (goal ≤ 60 KB)",
                         page as NSString, html.p99 / json.p99, html.p99, html.bytes / 1024))
        }

        // The first search after a write: every write ends the server's cached pages, so this is the store's
        // search itself. With the search index (schema v3), then without it (dropped with the sqlite3 CLI,
        // when installed: the store then scans, as before v3), in the same run.
        let searches = [("HTML search", "/deployments/bench?search=number%204242"),
                        ("JSON search", "/api/v1/deployments/bench/deploys?search=number%204242&limit=50"),
                        ("HTML version", "/deployments/bench?search=3.0.6"),
                        ("JSON version", "/api/v1/deployments/bench/deploys?search=3.0.6&limit=50")]
        let writes = max(10, Self.iterations / 10)
        var retention = 90
        func afterWrites(_ path: String) async throws -> Sample {
            let url = URL(string: server.url + path)!
            var times: [Double] = []
            let clock = ContinuousClock()
            for _ in 0..<writes {
                retention = retention == 90 ? 91 : 90
                let write = try await WebUIAdminTests.api(server, "PATCH", "/deployments/bench/settings", token: admin,
                                                          json: #"{"retentionDays": \#(retention)}"#)
                #expect(write.status == 200)
                let elapsed = try await clock.measure { _ = try await URLSession.shared.data(from: url) }
                times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
            }
            times.sort()
            return Sample(p50: times[times.count / 2], p99: times[min(times.count - 1, Int(Double(times.count) * 0.99))], bytes: 0, first: times[0])
        }
        var indexed: [String: Sample] = [:]
        for (label, path) in searches { indexed[label] = try await afterWrites(path) }
        var scanned: [String: Sample] = [:]
        let sqlite = URL(fileURLWithPath: "/usr/bin/sqlite3")
        if FileManager.default.isExecutableFile(atPath: sqlite.path) {
            let drop = Process()
            drop.executableURL = sqlite
            drop.arguments = [data.appendingPathComponent("airlock.sqlite").path,
                              "DROP TRIGGER deploys_search_insert; DROP TRIGGER deploys_search_update; DROP TRIGGER deploys_search_delete; "
                              + "DROP TABLE deploys_search; DROP TABLE deploys_search_keys;"]
            try drop.run()
            drop.waitUntilExit()
            #expect(drop.terminationStatus == 0)
            for (label, path) in searches { scanned[label] = try await afterWrites(path) }
        }
        print("  first search after a write (\(writes) writes each), p50/p99 ms, with the search index | without (scan):")
        for (label, _) in searches {
            let with = indexed[label]!
            print(String(format: "  %-16@ %7.2f / %7.2f", label as NSString, with.p50, with.p99)
                  + (scanned[label].map { String(format: "   |   %7.2f / %7.2f", $0.p50, $0.p99) } ?? "   |   (no sqlite3 CLI)"))
        }
    }
}
