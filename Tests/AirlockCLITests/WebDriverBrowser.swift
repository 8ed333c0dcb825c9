import AirlockTestSupport
import AirlockToolchain
import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// A real headless Chromium, driven over chromedriver's W3C WebDriver HTTP API (JSON over loopback).
///
/// Why not Selenium: the protocol is a dozen JSON calls; speaking it from Swift keeps the browser tests in
/// the Swift test run (one process tree, one report) with no Python environment to build or cache.
/// `scripts/test` installs Debian's `chromium` and `chromium-driver`; without them these tests fail
/// with that instruction rather than skipping silently.
final class WebDriverBrowser: @unchecked Sendable {
    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let driver = Process()
    let port: Int
    private(set) var sessionId = ""

    /// Starts chromedriver and a browser session; `javascript: false` starts Chromium with scripts blocked.
    init(javascript: Bool = true, width: Int = 1280, height: Int = 1600) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.chromedriver), FileManager.default.isExecutableFile(atPath: Self.chromium) else {
            throw Failure(description: "Chromium is not installed: apt-get install -y chromium chromium-driver (scripts/test does)")
        }
        port = try LoopbackPort.free()
        driver.executableURL = URL(fileURLWithPath: Self.chromedriver)
        driver.arguments = ["--port=\(port)", "--allowed-ips=127.0.0.1"]
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("chromedriver-\(port).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        driver.standardOutput = try FileHandle(forWritingTo: log)
        driver.standardError = driver.standardOutput
        try driver.run()
        for attempt in 0..<200 {
            if let status = try? await call("GET", "/status"), Self.isTrue((status as? [String: Any])?["ready"]) { break }
            if attempt == 199 { kill(driver.processIdentifier, SIGKILL); throw Failure(description: "chromedriver did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")") }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        var options: [String: Any] = [
            "binary": Self.chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=\(width),\(height)",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking"],
        ]
        if !javascript { options["prefs"] = ["profile.managed_default_content_settings.javascript": 2] }
        let capabilities: [String: Any] = ["capabilities": ["alwaysMatch": ["browserName": "chrome", "goog:chromeOptions": options]]]
        let session: [String: Any]?
        do {
            session = try await call("POST", "/session", capabilities) as? [String: Any]
        } catch {
            kill(driver.processIdentifier, SIGKILL)
            throw error
        }
        guard let id = session?["sessionId"] as? String else { throw Failure(description: "no WebDriver session: \(String(describing: session))") }
        sessionId = id
    }

    /// Ends the session (Chromium quits) and chromedriver. SIGKILL: the test process may block SIGTERM,
    /// and its children inherit that mask.
    func quit() async {
        if !sessionId.isEmpty { _ = try? await call("DELETE", "/session/\(sessionId)") }
        kill(driver.processIdentifier, SIGKILL)
    }

    // MARK: Pages

    func go(_ url: String) async throws { _ = try await session("POST", "/url", ["url": url]) }
    func url() async throws -> String { try await session("GET", "/url") as? String ?? "" }
    func title() async throws -> String { try await session("GET", "/title") as? String ?? "" }
    func source() async throws -> String { try await session("GET", "/source") as? String ?? "" }
    /// The visible text of the whole page.
    func pageText() async throws -> String { try await text(try await find("body")) }

    /// A PNG of the viewport, written to `file`.
    func screenshot(to file: URL) async throws {
        guard let base64 = try await session("GET", "/screenshot") as? String, let png = Data(base64Encoded: base64) else {
            throw Failure(description: "no screenshot")
        }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try png.write(to: file)
    }

    /// The browser's cookies for the current page, HttpOnly ones included (WebDriver sees them all).
    func cookies() async throws -> [String: String] {
        let list = try await session("GET", "/cookie") as? [[String: Any]] ?? []
        return Dictionary(list.compactMap { cookie in
            (cookie["name"] as? String).map { ($0, cookie["value"] as? String ?? "") }
        }, uniquingKeysWith: { first, _ in first })
    }

    func cookieDetails(_ name: String) async throws -> [String: Any]? {
        (try await session("GET", "/cookie") as? [[String: Any]] ?? []).first { $0["name"] as? String == name }
    }

    // MARK: Elements

    func find(_ css: String) async throws -> String {
        let value = try await session("POST", "/element", ["using": "css selector", "value": css]) as? [String: Any]
        guard let id = value?[Self.elementKey] as? String else {
            throw Failure(description: "no element `\(css)` on \((try? await url()) ?? "?"):\n\((try? await source()) ?? "")")
        }
        return id
    }

    func findAll(_ css: String) async throws -> [String] {
        let value = try await session("POST", "/elements", ["using": "css selector", "value": css]) as? [[String: Any]] ?? []
        return value.compactMap { $0[Self.elementKey] as? String }
    }

    func exists(_ css: String) async throws -> Bool { !(try await findAll(css)).isEmpty }

    func text(_ element: String) async throws -> String { try await session("GET", "/element/\(element)/text") as? String ?? "" }
    func attribute(_ element: String, _ name: String) async throws -> String? {
        try await session("GET", "/element/\(element)/attribute/\(name)") as? String
    }
    func click(_ element: String) async throws { _ = try await session("POST", "/element/\(element)/click", [:]) }
    func click(css: String) async throws { try await click(try await find(css)) }
    func type(_ text: String, into css: String) async throws {
        let element = try await find(css)
        _ = try await session("POST", "/element/\(element)/clear", [:])
        _ = try await session("POST", "/element/\(element)/value", ["text": text])
    }

    /// Polls until `condition` holds (a page that refreshes itself, a redirect), or fails after `timeout` seconds.
    func waitUntil(timeout: Double, _ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        throw Failure(description: "timed out after \(Int(timeout)) s waiting for \(what)")
    }

    // MARK: Protocol

    /// A JSON `true` (Foundation on Linux may hand it over as an `NSNumber`).
    static func isTrue(_ value: Any?) -> Bool {
        (value as? Bool) ?? (value as? NSNumber)?.boolValue ?? false
    }

    func session(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
        try await call(method, "/session/\(sessionId)" + path, body)
    }

    /// One WebDriver command: the `value` of its JSON answer; WebDriver errors are thrown with their message.
    private func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let (status, data) = try await LoopbackHTTP.send(port: port, method: method, path: path, body: payload)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        let value = json?["value"]
        if status >= 400 {
            let error = (value as? [String: Any]).map { "\($0["error"] ?? ""): \($0["message"] ?? "")" } ?? String(decoding: data, as: UTF8.self)
            throw Failure(description: "WebDriver \(method) \(path): \(error)")
        }
        return value is NSNull ? nil : value
    }
}

/// HTTP/1.1 over a loopback TCP socket, one request per connection. chromedriver writes headers without
/// a space after the colon (`Content-Length:251`), which Foundation's URLSession on Linux rejects
/// ("Failed writing header"); its answers always carry `Content-Length`, which is all this needs.
enum LoopbackHTTP {
    static func send(port: Int, method: String, path: String, body: Data?) async throws -> (status: Int, body: Data) {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try exchange(port: port, method: method, path: path, body: body) })
            }
        }
    }

    struct Failure: Error { var message: String }

    /// A TCP socket connected to `127.0.0.1:port`; the caller closes it.
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(message: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(message: "connect to 127.0.0.1:\(port) failed")
        }
        return fd
    }

    static func exchange(port: Int, method: String, path: String, body: Data?) throws -> (status: Int, body: Data) {
        let fd = try connect(port: port)
        defer { close(fd) }
        var request = Data("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n".utf8)
        if let body {
            request.append(Data("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8))
            request.append(body)
        } else {
            request.append(Data("Content-Length: 0\r\n\r\n".utf8))
        }
        try request.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw Failure(message: "send failed") }
                sent += n
            }
        }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
            if let (status, body) = complete(response) { return (status, body) }
        }
        guard let (status, body) = complete(response, closed: true) else { throw Failure(message: "incomplete HTTP answer") }
        return (status, body)
    }

    /// The status and body once the whole answer (by `Content-Length`, or up to the close) has arrived.
    static func complete(_ response: Data, closed: Bool = false) -> (Int, Data)? {
        guard let end = response.range(of: Data("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: response[..<end.lowerBound], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        let body = response[end.upperBound...]
        let length = lines.dropFirst().compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }.first
        if let length { return body.count >= length ? (status, Data(body.prefix(length))) : nil }
        return closed ? (status, Data(body)) : nil
    }
}
