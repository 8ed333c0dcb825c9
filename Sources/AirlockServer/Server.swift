import AirlockCore
import AirlockDeployer
import AirlockStorage
import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// How `airlock server` listens and where it keeps its data.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var dataDirectory: URL
    /// Reads need a token too. Always on when the server listens beyond loopback (SPEC §4.4).
    public var requireTokenForReads: Bool
    /// The folder or URL every deploy's constraints files come from (nil: Apache's); never a client's choice.
    public var constraintsSource: String?

    public init(host: String = "127.0.0.1", port: Int = 8765, dataDirectory: URL, requireTokenForReads: Bool = false,
                constraintsSource: String? = nil) {
        self.constraintsSource = constraintsSource
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.requireTokenForReads = requireTokenForReads || !Self.isLoopback(host)
    }

    /// `127.0.0.0/8`, `::1` and `localhost`: only this machine can connect.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}

/// Opens the store, makes sure an admin token exists, and assembles the application.
public enum AirlockServerBuilder {
    /// Creates `DIR/admin-token` (mode 0600) with a new admin token when the store has no tokens yet.
    public static func ensureAdminToken(store: any DeployHistoryStore, dataDirectory: URL) async throws(AirlockError) -> String? {
        guard try await store.listTokens().isEmpty else { return nil }
        let (secret, _) = try await store.createToken(name: "admin (first start)", role: .admin)
        let file = dataDirectory.appendingPathComponent("admin-token")
        guard FileManager.default.createFile(atPath: file.path, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw .environment("Cannot write the admin token to `\(file.path)`")
        }
        return file.path
    }

    /// The artifact store and deploy coordinator of a data folder; the server runs one of each.
    public static func coordinator(configuration: ServerConfiguration, store: any DeployHistoryStore) -> DeployCoordinator {
        DeployCoordinator(store: store, artifacts: ArtifactStore(root: configuration.dataDirectory.appendingPathComponent("artifacts")),
                          dataDirectory: configuration.dataDirectory, constraintsSource: configuration.constraintsSource)
    }

    public static func application(configuration: ServerConfiguration, store: any DeployHistoryStore,
                                   coordinator: DeployCoordinator) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        // The web UI first: the middleware added below (JSON errors, bearer tokens for reads) are the API's.
        let api = DeploymentsAPI(store: store, artifacts: ArtifactStore(root: configuration.dataDirectory.appendingPathComponent("artifacts")),
                                 coordinator: coordinator, readsNeedToken: configuration.requireTokenForReads,
                                 // Other servers on a shared (PostgreSQL) history write it too, unseen by this server's
                                 // write count: no page is reused there (one is only as fresh as the last local write).
                                 pages: (store as? ChangeCountingStore).flatMap { $0.isSharedByServers ? nil : $0.pages })
        WebUI(api: api, readsNeedSignIn: configuration.requireTokenForReads).register(on: router)
        router.add(middleware: UnroutedRequestMiddleware(routes: OpenAPIDocument.routes))
        if configuration.requireTokenForReads {
            router.add(middleware: ReadTokenMiddleware(authorizer: TokenAuthorizer(store: store)))
        }
        api.register(on: router.group("api/v1"))
        api.registerAuditAndTokens(on: router.group("api/v1"))
        return Application(router: router, configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                                                  // 1,000 clients connecting at once overflow the default 256
                                                                  // (dropped SYNs, retried after 1–7 s); the kernel caps it at somaxconn.
                                                                  serverName: "airlock", backlog: 4096),
                           services: [FreedMemoryReturner()],
                           onServerRunning: { channel in
                               // Accept a burst at once: NIO's default is 4 connections per read, and the
                               // next read waits for the accept loop's turn among every busy handler.
                               // Measured under load (issue 9): 840 of 1,000 connections sat in the
                               // accept queue for the whole 15 s run, drained at ~12/s, and wrk counted
                               // them as timeouts, /health as much as the history page.
                               try? await channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1024).get()
                           })
    }
}

/// Gives the heap that a burst of connections freed back to the system every few seconds. glibc keeps
/// freed memory in its per-thread arenas: without this, a 1,000-connection load left the server at
/// twice its resting size for good (issue 9: 47 → 98 MB).
struct FreedMemoryReturner: Service {
    var interval: Duration = .seconds(5)

    func run() async throws {
        #if canImport(Glibc)
        // `malloc_trim` is glibc's (malloc.h, which the Glibc module does not import).
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        let trim = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        try await cancelWhenGracefulShutdown { [interval] in
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                _ = trim(0)
            }
        }
        #endif
    }
}

/// Checks bearer tokens against the store: missing or unknown tokens get 401, too weak ones 403.
struct TokenAuthorizer: Sendable {
    var store: any DeployHistoryStore

    func authorize(_ request: Request, _ role: Role) async throws -> APIToken {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(.unauthorized, code: "unauthorized", "This call needs an API token (Authorization: Bearer …)")
        }
        let token: APIToken?
        do {
            token = try await store.token(matching: String(header.dropFirst("Bearer ".count)))
        } catch {
            throw APIError.from(error)
        }
        guard let token else { throw APIError(.unauthorized, code: "unauthorized", "The API token is not valid") }
        guard token.role.satisfies(role) else {
            throw APIError(.forbidden, code: "forbidden", "This call needs the `\(role.rawValue)` role; the token has `\(token.role.rawValue)`")
        }
        return token
    }
}

/// Makes reads need a (viewer) token as well, for servers reachable from other machines.
struct ReadTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    var authorizer: TokenAuthorizer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .get || request.method == .head {
            _ = try await authorizer.authorize(request, .viewer)
        }
        return try await next(request, context)
    }
}

/// Answers what no route takes as JSON errors: 405 with `Allow` for a method the OpenAPI document
/// does not list on a path it has (`TRACE`, `OPTIONS`, …), 404 for a path it does not have.
struct UnroutedRequestMiddleware<Context: RequestContext>: RouterMiddleware {
    var routes: APIRoutes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            if let allowed = routes.methods(at: request.uri.path), !allowed.contains(request.method) {
                let list = allowed.map(\.rawValue).sorted().joined(separator: ", ")
                throw APIError(.methodNotAllowed, code: "method_not_allowed", "`\(request.uri.path)` answers \(list), not \(request.method.rawValue)",
                               headers: [.allow: list])
            }
            throw APIError(.notFound, code: "not_found", "No API path `\(request.uri.path)`; the API is described at /api/v1/openapi.json")
        }
    }
}

/// The paths and methods of the API, as the OpenAPI document lists them (`{name}` matches one segment).
struct APIRoutes: Sendable {
    var routes: [(segments: [String], methods: Set<HTTPRequest.Method>)]

    /// Reads `paths` of an OpenAPI document whose servers entry is `prefix`.
    init(openAPI json: String, prefix: String) {
        let document = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
        let paths = document?["paths"] as? [String: [String: Any]] ?? [:]
        routes = paths.map { path, operations in
            // Operation keys are lowercase methods; `parameters`, `summary` and the like are not.
            let methods = operations.keys.filter { ["get", "put", "post", "delete", "options", "head", "patch", "trace"].contains($0) }
                .compactMap { HTTPRequest.Method($0.uppercased()) }
            return (Self.segments(prefix + path), Set(methods))
        }
    }

    /// The methods of the route `path` matches, or nil when none does.
    func methods(at path: String) -> Set<HTTPRequest.Method>? {
        let segments = Self.segments(path)
        return routes.first { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { template, segment in template.hasPrefix("{") || template == segment }
        }?.methods
    }

    private static func segments(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }
}

/// An API error: JSON `{"code": …, "message": …}` with a stable code (SPEC §4.4).
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    static func from(_ error: AirlockError) -> APIError {
        switch error.kind {
        case .usage:
            return error.isNotFound ? APIError(.notFound, code: "not_found", error.message)
                                    : APIError(.badRequest, code: "invalid_request", error.message)
        case .environment:
            return APIError(.internalServerError, code: "internal", error.message)
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder().encode(["code": code, "message": message])
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A JSON body for any `Encodable` value.
struct JSONBody<Value: Encodable & Sendable>: ResponseGenerator {
    var value: Value
    var status: HTTPResponse.Status = .ok

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Self.response(try Self.encode(value), status: status)
    }

    static func encode(_ value: Value) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return ByteBuffer(bytes: try encoder.encode(value))
    }

    static func response(_ body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }
}
