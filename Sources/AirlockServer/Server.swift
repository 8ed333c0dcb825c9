import AirlockCore
import AirlockDeployer
import AirlockStorage
import Foundation
import Hummingbird

/// How `airlock server` listens and where it keeps its data.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var dataDirectory: URL

    public init(host: String = "127.0.0.1", port: Int = 8765, dataDirectory: URL) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
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
                          dataDirectory: configuration.dataDirectory)
    }

    public static func application(configuration: ServerConfiguration, store: any DeployHistoryStore,
                                   coordinator: DeployCoordinator) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        let artifacts = ArtifactStore(root: configuration.dataDirectory.appendingPathComponent("artifacts"))
        DeploymentsAPI(store: store, artifacts: artifacts, coordinator: coordinator).register(on: router.group("api/v1"))
        return Application(router: router, configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                                                  serverName: "airlock"))
    }
}

/// An API error: JSON `{"code": …, "message": …}` with a stable code (SPEC §4.4).
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func from(_ error: AirlockError) -> APIError {
        switch error.kind {
        case .usage:
            let notFound = error.message.hasPrefix("No deployment") || error.message.contains("not found")
            return APIError(notFound ? .notFound : .badRequest, code: notFound ? "not_found" : "invalid_request", error.message)
        case .environment:
            return APIError(.internalServerError, code: "internal", error.message)
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder().encode(["code": code, "message": message])
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A JSON body for any `Encodable` value.
struct JSONBody<Value: Encodable & Sendable>: ResponseGenerator {
    var value: Value
    var status: HTTPResponse.Status = .ok

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
