import AirlockTestSupport
import AirlockToolchain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `airlock server` against bad input (issue 9): the API answers as its OpenAPI document says, reads of
/// deploy status and audit follow the token rule of every read, and a deployed project is a closed world.
@Suite struct ServerHardeningTests {
    /// One HTTP call with any method and raw body; the JSON error code when there is one.
    private func call(_ server: RunningServer, _ method: String, _ path: String, body: Data? = nil,
                      token: String? = nil) async throws -> (status: Int, code: String?, text: String, headers: [AnyHashable: Any]) {
        var request = URLRequest(url: try #require(URL(string: server.url + path)))
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = body
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        let code = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["code"] as? String
        return (http?.statusCode ?? 0, code, String(decoding: data, as: UTF8.self), http?.allHeaderFields ?? [:])
    }

    @Test func theAPIAnswersAsItsDocumentSays() async throws {
        let server = try RunningServer()
        defer { server.stop() }
        try await server.waitUntilUp()
        let admin = try server.adminToken
        func json(_ text: String) -> Data { Data(text.utf8) }

        #expect(try await call(server, "GET", "/api/v1/health").status == 200)
        let trace = try await call(server, "TRACE", "/api/v1/deployments")
        #expect(trace.status == 405 && trace.code == "method_not_allowed", "\(trace)")
        #expect((trace.headers["Allow"] as? String) == "GET, POST", "\(trace.headers)")
        #expect(try await call(server, "DELETE", "/api/v1/deployments/prod/deploys", token: admin).status == 405)
        let unknown = try await call(server, "GET", "/api/v1/nothing-here")
        #expect(unknown.status == 404 && unknown.code == "not_found")

        #expect(try await call(server, "POST", "/api/v1/deployments", body: json(#"{"name": "prod"}"#), token: admin).status == 201)
        let duplicate = try await call(server, "POST", "/api/v1/deployments", body: json(#"{"name": "prod"}"#), token: admin)
        #expect(duplicate.status == 409 && duplicate.code == "deployment_exists", "\(duplicate)")
        for bad in [#"{"name": null}"#, #"{"name": "other", "target": null}"#, #"{"name": "other", "nmae": "x"}"#, "[]", "not json",
                    #"{"name": "other", "metadataDatabaseUrl": "postgresql://user:secret@db/airflow"}"#] {
            let refused = try await call(server, "POST", "/api/v1/deployments", body: json(bad), token: admin)
            #expect(refused.status == 400 && refused.code == "invalid_body", "\(bad): \(refused)")
        }
        for query in ["offset=-1", "offset=x", "limit=0", "limit=501", "limit=1&limit=2"] {
            #expect(try await call(server, "GET", "/api/v1/deployments/prod/deploys?\(query)").status == 400, "\(query)")
        }
        #expect(try await call(server, "GET", "/api/v1/deployments/prod/audit-events?limit=1001").status == 400)

        // `git: {}` is valid (every field optional); a description over 500 code points is not.
        let empty = try await call(server, "POST", "/api/v1/deployments/prod/deploys", body: json(#"{"git": {}}"#), token: admin)
        #expect(empty.status == 201, "\(empty)")
        let combining = String(repeating: "e\u{301}", count: 300)  // 300 characters, 600 code points
        let long = try await call(server, "POST", "/api/v1/deployments/prod/deploys", body: json(#"{"description": "\#(combining)"}"#), token: admin)
        #expect(long.status == 400, "\(long)")

        // Oversized bodies are 413 (JSON and uploads alike); nesting beyond the parser's limit is 400; the server stays up.
        let big = try await call(server, "POST", "/api/v1/deployments", body: Data(repeating: 0x20, count: 10 * 1024 * 1024), token: admin)
        #expect(big.status == 413 && big.code == "body_too_large", "\(big.status)")
        let nested = "{\"name\": " + String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000) + "}"
        let deep = try await call(server, "POST", "/api/v1/deployments", body: json(nested), token: admin)
        #expect(deep.status == 400, "\(deep)")
        let finalize = try await call(server, "POST", "/api/v1/deployments/prod/deploys/1/finalize",
                                      body: json(#"{"imageDigest": "\#(String(repeating: "a", count: 64))"}"#), token: admin)
        #expect(finalize.status == 409 && finalize.code == "finalize_refused", "\(finalize)")
        #expect(try await call(server, "GET", "/api/v1/health").status == 200)
    }

    /// Deploy status, audit events and rollback previews are reads: open on loopback, a token when reads need one.
    @Test func statusAndAuditReadsFollowTheTokenRule() async throws {
        let server = try RunningServer(arguments: ["--require-token-for-reads"])
        defer { server.stop() }
        try await server.waitUntilUp()
        let admin = try server.adminToken
        #expect(try await call(server, "POST", "/api/v1/deployments", body: Data(#"{"name": "prod"}"#.utf8), token: admin).status == 201)
        #expect(try await call(server, "POST", "/api/v1/deployments/prod/deploys", body: Data("{}".utf8), token: admin).status == 201)
        for path in ["/api/v1/deployments/prod/deploys/1", "/api/v1/deployments/prod/status", "/api/v1/deployments/prod/audit-events",
                     "/api/v1/deployments/prod/deploys", "/api/v1/health"] {
            #expect(try await call(server, "GET", path).status == 401, "\(path)")
            #expect(try await call(server, "GET", path, token: "airlock_not-a-token").status == 401, "\(path)")
            #expect(try await call(server, "GET", path, token: admin).status == 200, "\(path)")
        }
        let preview = try await call(server, "POST", "/api/v1/deployments/prod/deploys/1/rollback", body: Data(#"{"dryRun": true}"#.utf8))
        #expect(preview.status == 401, "\(preview)")
    }

    /// The constraints source is the server's (`airlock server --constraints-source`), never a client's:
    /// a finalize or rollback naming another folder or a URL is refused with 400 naming the field, the
    /// deploy stays unqueued, and nothing is read or fetched (a listener at the URL sees no connection).
    @Test func aRequestCannotChooseTheConstraintsSource() async throws {
        let server = try RunningServer()
        defer { server.stop() }
        try await server.waitUntilUp()
        let admin = try server.adminToken
        // A real HTTP server at the URL a client might name: it logs every request it gets to stderr.
        let port = try LoopbackPort.free()
        let listenerLog = try TestSupport.scratchFolder("airlock-constraints-listener").appendingPathComponent("requests.log")
        FileManager.default.createFile(atPath: listenerLog.path, contents: nil)
        let listener = Process()
        // Debian's python3 itself, not through `env`: a pyenv shim would run Python as its child, and
        // terminating the shim left that Python serving after the test. SIGKILL: the test process may hand
        // its children an ignored SIGTERM.
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        listener.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", listenerLog.deletingLastPathComponent().path]
        listener.standardError = try FileHandle(forWritingTo: listenerLog)
        listener.standardOutput = FileHandle.nullDevice
        try listener.run()
        defer { kill(listener.processIdentifier, SIGKILL); listener.waitUntilExit() }
        for _ in 0..<400 {
            if LoopbackPort.accepts(port) { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        let url = "http://127.0.0.1:\(port)/constraints"
        #expect(try await call(server, "POST", "/api/v1/deployments", body: Data(#"{"name": "prod"}"#.utf8), token: admin).status == 201)
        #expect(try await call(server, "POST", "/api/v1/deployments/prod/deploys", body: Data("{}".utf8), token: admin).status == 201)
        let digest = String(repeating: "a", count: 64)
        for source in ["/etc", url, TestSupport.constraintsMirror.path] {
            let finalize = try await call(server, "POST", "/api/v1/deployments/prod/deploys/1/finalize",
                                          body: Data(#"{"imageDigest": "\#(digest)", "constraintsSource": "\#(source)"}"#.utf8), token: admin)
            #expect(finalize.status == 400 && finalize.code == "invalid_body" && finalize.text.contains("constraintsSource"), "\(source): \(finalize)")
            let rollback = try await call(server, "POST", "/api/v1/deployments/prod/deploys/1/rollback",
                                          body: Data(#"{"description": "back", "constraintsSource": "\#(source)"}"#.utf8), token: admin)
            #expect(rollback.status == 400 && rollback.text.contains("constraintsSource"), "\(source): \(rollback)")
        }
        let deploy = try await server.json("/api/v1/deployments/prod/deploys/1")
        #expect(deploy["status"] as? String == "INITIALIZED" && (deploy["steps"] as? [Any])?.isEmpty == true, "\(deploy)")
        let document = String(decoding: try await server.fetch("/api/v1/openapi.json").data, as: UTF8.self)
        #expect(!document.contains("\"constraintsSource\""))
        try await Task.sleep(nanoseconds: 1_000_000_000)
        #expect(try String(contentsOf: listenerLog, encoding: .utf8).isEmpty, "the server fetched the client's URL")
    }

    /// A deployed project's includes stay inside it: the deploy fails naming the line, and nothing read
    /// from the outside file reaches the deploy's status message, steps, the history or the audit log.
    @Test(arguments: ["-r /etc/passwd", "-r ../../outside.txt", "-c OUTSIDE"])
    func includesOutsideTheProjectAreRefusedWithoutEchoingThem(include: String) async throws {
        let server = try RunningServer()
        defer { server.stop() }
        try await server.waitUntilUp()
        let outside = try TestSupport.scratchFolder("airlock-outside")
        defer { try? FileManager.default.removeItem(at: outside) }
        let canary = "CANARY-\(UUID().uuidString) is not a requirement (((("
        let outsideFile = outside.appendingPathComponent("outside.txt")
        try Data("\(canary)\n".utf8).write(to: outsideFile)
        // `-r ../../outside.txt` leads out of the release folder on the server; `-c OUTSIDE` names the canary by its absolute path.
        let line = include.replacingOccurrences(of: "OUTSIDE", with: outsideFile.path)
        let project = outside.appendingPathComponent("project")
        try TestSupport.writeTree(["Dockerfile": "FROM apache/airflow:2.10.5-python3.11\n", "dags/a.py": "print(1)\n",
                                   "requirements.txt": "\(line)\n"], under: project)
        let env = ["AIRLOCK_SERVER": server.url, "AIRLOCK_TOKEN": try server.adminToken]
        #expect(try await TestSupport.airlock(["deployment", "create", "prod"], environment: env).status == 0)
        let deploy = try await TestSupport.airlock(["deploy", "--deployment", "prod", "--project", project.path, "--description", "Outside"],
                                                   environment: env)
        #expect(deploy.status == 1, "\(deploy.stdout)\n\(deploy.stderr)")

        let detail = try await server.json("/api/v1/deployments/prod/deploys/1")
        #expect(detail["status"] as? String == "FAILED")
        let message = detail["statusMessage"] as? String ?? ""
        #expect(message.contains("requirements.txt:1") && message.contains("outside the project"), "\(message)")
        var published = deploy.stdout + deploy.stderr
        for path in ["/api/v1/deployments/prod/deploys/1", "/api/v1/deployments/prod/deploys", "/api/v1/deployments/prod/status",
                     "/api/v1/deployments/prod/audit-events"] {
            published += String(decoding: try await server.fetch(path).data, as: UTF8.self)
        }
        #expect(!published.contains("CANARY"), "\(published)")
        #expect(!published.contains("root:x:0:0"), "\(published)")
    }
}
