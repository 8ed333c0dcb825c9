import AirlockLocalTarget
import AirlockTestSupport
import AirlockToolchain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `airlock server` as a real process on loopback, with the tests' shared cache; its output goes
/// to `server.log` in its data folder.
final class RunningServer: @unchecked Sendable {
    let process = Process()
    let url: String
    let dataDirectory: URL
    let port: Int

    init(dataDirectory existing: URL? = nil, port: Int? = nil, environment extra: [String: String] = [:], arguments: [String] = []) throws {
        dataDirectory = try existing ?? TestSupport.scratchFolder("airlock-server")
        self.port = try port ?? LoopbackPort.free()
        url = "http://127.0.0.1:\(self.port)"
        process.executableURL = TestSupport.airlockBinary
        // The tests' deploys build with the repository's constraints mirror (the machine may not reach GitHub).
        process.arguments = ["server", "--data-dir", dataDirectory.path, "--port", String(self.port),
                             "--constraints-source", TestSupport.constraintsMirror.path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["AIRLOCK_CACHE_DIR"] = TestSupport.sharedCache.cacheRoot.path
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        let log = dataDirectory.appendingPathComponent("server.log")
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// Waits until the server is ready: its health is `ok` once it repaired what a killed server left
    /// (`DeployCoordinator.beginReconcile`; 503 `starting` before): on the Kubernetes target that stops the release
    /// and restores the DB, which took over 20 s in a loaded CI run, hence the long limit; a healthy start is ready
    /// in well under 1 s.
    func waitUntilUp(timeout: Double = 300) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            // 401: up, with reads that need a token (`--require-token-for-reads`).
            if let answer = try? await fetch("/api/v1/health"), answer.status == 200 || answer.status == 401 { return }
            if process.isRunning == false { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        Issue.record("the server did not start: \(log)")
    }

    var log: String { (try? String(contentsOf: dataDirectory.appendingPathComponent("server.log"), encoding: .utf8)) ?? "" }

    func fetch(_ path: String) async throws -> (data: Data, status: Int) {
        let (data, response) = try await URLSession.shared.data(from: try #require(URL(string: url + path)))
        return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
    }

    func json(_ path: String) async throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: try await fetch(path).data) as? [String: Any])
    }

    var adminToken: String {
        get throws { try String(contentsOf: dataDirectory.appendingPathComponent("admin-token"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    func upload(_ path: String, _ bytes: [UInt8], token: String?) async throws -> (data: Data, status: Int) {
        var request = URLRequest(url: try #require(URL(string: url + path)))
        request.httpMethod = "PUT"
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.upload(for: request, from: Data(bytes))
        return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
    }

    /// One API request with a JSON body and a bearer token; the response body and status.
    func send(_ method: String, _ path: String, json: String? = nil, token: String?) async throws -> (data: Data, status: Int) {
        var request = URLRequest(url: try #require(URL(string: url + path)))
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(json.utf8)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
    }

    /// Waits until the process is gone (after a fault-injected SIGKILL), without `waitUntilExit()`.
    func waitUntilGone(timeout: Double = 600) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !process.isRunning { return true }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        return false
    }

    /// Kills the server like a crash, then the Airflow processes its deployments left behind (a
    /// killed server cannot stop them; its next start would).
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        let deployments = dataDirectory.appendingPathComponent("deployments")
        for id in (try? FileManager.default.contentsOfDirectory(atPath: deployments.path)) ?? [] {
            AirflowSupervisor.killOrphans(home: deployments.appendingPathComponent(id).appendingPathComponent("home"))
        }
    }
}
