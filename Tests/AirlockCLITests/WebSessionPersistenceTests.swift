import AirlockCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Web UI sessions live in the deploy-history store: a server restart signs no one out, sign-out still ends a
/// session at once, and the store keeps only the SHA-256 of the cookie value.
struct WebSessionPersistenceTests {
    /// Does not follow redirects, so the `Set-Cookie` of the sign-in's 303 can be read.
    final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }

    static let client: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }()

    static func send(_ url: String, method: String = "GET", cookies: [String: String] = [:], form: [String: String]? = nil) async throws
        -> (status: Int, body: String, setCookies: [String: String]) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if !cookies.isEmpty { request.setValue(cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "), forHTTPHeaderField: "Cookie") }
        if let form {
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            request.httpBody = Data(form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
                .joined(separator: "&").utf8)
        }
        let (data, response) = try await client.data(for: request)
        let http = response as? HTTPURLResponse
        var setCookies: [String: String] = [:]
        for cookie in HTTPCookie.cookies(withResponseHeaderFields: http?.allHeaderFields as? [String: String] ?? [:], for: URL(string: url)!) {
            setCookies[cookie.name] = cookie.value
        }
        return (http?.statusCode ?? 0, String(decoding: data, as: UTF8.self), setCookies)
    }

    /// The value of the first `name="csrf"` input of a page.
    static func csrf(in html: String) throws -> String {
        let marker = try #require(html.range(of: #"name="csrf" value=""#))
        return String(html[marker.upperBound...].prefix { $0 != "\"" })
    }

    @Test func aSignedInBrowserStaysSignedInAcrossAServerRestart() async throws {
        let seeded = try await WebUITests.seededServer()
        var server = seeded.server
        defer { server.stop() }
        let signInPage = try await Self.send(server.url + "/signin")
        let signInCookie = try #require(signInPage.setCookies["airlock_signin"])
        let signedIn = try await Self.send(server.url + "/signin", method: "POST", cookies: ["airlock_signin": signInCookie],
                                           form: ["csrf": try Self.csrf(in: signInPage.body), "token": seeded.admin, "next": "/"])
        #expect(signedIn.status == 303)
        let session = try #require(signedIn.setCookies["airlock_session"], "\(signedIn)")
        #expect(try await Self.send(server.url + "/", cookies: ["airlock_session": session]).body.contains("Signed in as <strong>alice</strong>"))

        // A restart of the server on the same data folder: the same cookie is still signed in.
        let data = server.dataDirectory
        server.stop()
        _ = try await server.waitUntilGone(timeout: 30)
        server = try RunningServer(dataDirectory: data)
        try await server.waitUntilUp()
        let page = try await Self.send(server.url + "/", cookies: ["airlock_session": session])
        #expect(page.body.contains("Signed in as <strong>alice</strong>"), "signed out by a restart")

        // Only the cookie value's SHA-256 is stored.
        let database = try Data(contentsOf: data.appendingPathComponent("airlock.sqlite"))
            + ((try? Data(contentsOf: data.appendingPathComponent("airlock.sqlite-wal"))) ?? Data())
        #expect(database.range(of: Data(session.utf8)) == nil, "the cookie value reached the disk")
        #expect(database.range(of: Data(SHA256.hex(session).utf8)) != nil)

        // Sign-out ends it, for this server and the next.
        let signOut = try await Self.send(server.url + "/signout", method: "POST", cookies: ["airlock_session": session],
                                          form: ["csrf": try Self.csrf(in: page.body)])
        #expect(signOut.status == 303)
        #expect(!(try await Self.send(server.url + "/", cookies: ["airlock_session": session]).body.contains("Signed in as")))
        #expect(try await Self.send(server.url + "/signout", method: "POST", cookies: ["airlock_session": session],
                                    form: ["csrf": try Self.csrf(in: page.body)]).status == 403)
    }
}
