import AirlockCore
import Foundation

/// `[http(s)://]host[:port]/repository[:tag][@sha256:…]`, e.g. `localhost:5000/airlock/python:3.11-bookworm`.
///
/// The registry is always explicit (no Docker Hub default: Airlock pushes to the deployment's own
/// registry). Without a scheme, loopback hosts (`localhost`, `127.0.0.1`, `[::1]`) are spoken to
/// over plain HTTP and every other host over HTTPS.
public struct RegistryReference: Hashable, Sendable, CustomStringConvertible {
    /// `host[:port]`.
    public var registry: String
    public var repository: String
    public var tag: String?
    /// `sha256:…`
    public var digest: String?
    /// `http` or `https`.
    public var scheme: String

    public init(registry: String, repository: String, tag: String? = nil, digest: String? = nil, scheme: String? = nil) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
        self.scheme = scheme ?? (Self.isLoopback(registry) ? "http" : "https")
    }

    /// - Throws: `.usage` naming the reference when it cannot be parsed.
    public static func parse(_ text: String) throws(AirlockError) -> RegistryReference {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var scheme: String?
        for candidate in ["http", "https"] where rest.lowercased().hasPrefix(candidate + "://") {
            scheme = candidate
            rest = rest.dropFirst(candidate.count + 3)
        }
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            digest = String(rest[rest.index(after: at)...])
            rest = rest[..<at]
            guard let value = digest, value.hasPrefix("sha256:"), value.count == 71,
                  value.dropFirst(7).allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw .usage("`\(text)` has an invalid digest (expected `@sha256:` and 64 lowercase hex digits)")
            }
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw .usage("`\(text)` does not name a registry (expected HOST[:PORT]/REPOSITORY[:TAG])")
        }
        let registry = String(rest[..<slash])
        var repository = String(rest[rest.index(after: slash)...])
        var tag: String?
        if let colon = repository.lastIndex(of: ":"), !repository[colon...].contains("/") {
            tag = String(repository[repository.index(after: colon)...])
            repository = String(repository[..<colon])
        }
        let repositoryValid = !repository.isEmpty && repository.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.allSatisfy { ($0.isLowercase && $0.isASCII) || $0.isNumber || "._-".contains($0) }
        }
        guard !registry.isEmpty, repositoryValid else {
            throw .usage("`\(text)` is not a valid image reference (expected HOST[:PORT]/REPOSITORY[:TAG], lowercase repository)")
        }
        if let tag, tag.isEmpty || tag.count > 128 || !tag.allSatisfy({ ($0.isLetter || $0.isNumber) && $0.isASCII || "._-".contains($0) }) {
            throw .usage("`\(text)` has an invalid tag `\(tag)`")
        }
        return RegistryReference(registry: registry, repository: repository, tag: tag, digest: digest, scheme: scheme)
    }

    /// The tag or digest a manifest is fetched by (`latest` when neither is given).
    public var manifestReference: String { digest ?? tag ?? "latest" }

    /// The same image, addressed by `digest` (what deploys record and rollbacks redeploy).
    public func pinned(to digest: String) -> RegistryReference {
        RegistryReference(registry: registry, repository: repository, tag: nil, digest: digest, scheme: scheme)
    }

    /// Without the scheme, as Kubernetes and Helm want it: `host:port/repo@sha256:…` or `host:port/repo:tag`.
    public var description: String {
        registry + "/" + repository + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0 } ?? "")
    }

    /// `http(s)://host:port/v2/<repository>`.
    var apiBase: String { "\(scheme)://\(registry)/v2/\(repository)" }

    static func isLoopback(_ registry: String) -> Bool {
        let host = registry.hasPrefix("[") ? String(registry.prefix { $0 != "]" }) + "]" : String(registry.prefix { $0 != ":" })
        return host == "localhost" || host.hasPrefix("127.") || host == "[::1]"
    }
}
