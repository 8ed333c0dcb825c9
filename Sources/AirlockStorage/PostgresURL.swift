import AirlockCore
import Foundation
import PostgresNIO

/// A parsed `postgresql://` URL. The password never appears in `redacted` (used in every message).
struct PostgresURL: Sendable {
    enum SSLMode: String, Sendable { case disable, allow, prefer, require, verifyCA = "verify-ca", verifyFull = "verify-full" }

    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String
    var sslMode: SSLMode
    var redacted: String

    static let usageHint = "use postgresql://user[:password]@host[:port]/database"

    init(parsing raw: String) throws(AirlockError) {
        let shown = Self.redact(raw)
        func refuse(_ why: String) -> AirlockError {
            .usage("`\(shown)` is not a usable PostgreSQL URL: \(why)", hint: Self.usageHint)
        }
        guard let components = URLComponents(string: raw) else { throw refuse("it does not parse as a URL") }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgresql" || scheme == "postgres" else {
            throw refuse("the scheme must be postgresql:// or postgres://")
        }
        guard let host = components.host, !host.isEmpty else { throw refuse("it names no host") }
        guard let user = components.user, !user.isEmpty else { throw refuse("it names no user") }
        let database = String(components.path.drop(while: { $0 == "/" })).removingPercentEncoding ?? ""
        guard !database.isEmpty, !database.contains("/") else { throw refuse("it names no database (…/database at the end)") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw refuse("the port must be between 1 and 65535") }
        var sslMode = SSLMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw refuse("sslmode must be disable, allow, prefer, require, verify-ca or verify-full")
                }
                sslMode = mode
            default:
                throw refuse("unsupported parameter `\(item.name)` (only sslmode is understood)")
            }
        }
        // Brackets of IPv6 literals are URL syntax, not part of the address.
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = port
        self.user = user
        self.password = components.password
        self.database = database
        self.sslMode = sslMode
        self.redacted = "\(scheme)://\(components.percentEncodedUser ?? user)@\(host):\(port)/\(database)"
    }

    /// The URL with any password replaced by `***`, even when the rest does not parse.
    static func redact(_ raw: String) -> String {
        guard let schemeEnd = raw.range(of: "://") else { return raw }
        let rest = raw[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@") else { return raw }
        let userInfo = authority[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return raw }
        return String(raw[..<colon]) + ":***" + String(raw[at...])
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .allow, .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration()))
        case .require, .verifyCA, .verifyFull: tls = .require(try NIOSSLContext(configuration: tlsConfiguration()))
        }
        return PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
    }

    func clientConfiguration() -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .allow, .prefer: tls = .prefer(tlsConfiguration())
        case .require, .verifyCA, .verifyFull: tls = .require(tlsConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
        // Enough for a server's concurrent requests; several Airlock processes can share one PostgreSQL.
        configuration.options.maximumConnections = 10
        configuration.options.connectionIdleTimeout = .seconds(30)
        return configuration
    }

    /// libpq semantics: `require` encrypts without checking the certificate; `verify-*` checks it.
    private func tlsConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .verifyFull: break
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        default: configuration.certificateVerification = .none
        }
        return configuration
    }
}
