import Foundation

/// The JSON document Astronomer publishes at `updates.astronomer.io/astronomer-runtime`.
///
/// Decoded leniently: unknown keys are ignored and every metadata field but `airflowVersion`
/// is optional, because the live feed fills them unevenly across runtime generations.
public struct RuntimeFeed: Codable, Sendable, Hashable {
    public struct Metadata: Codable, Sendable, Hashable {
        public var airflowVersion: String
        public var channel: String?
        public var releaseDate: String?
        public var pythonVersions: [String]?
        public var defaultPythonVersion: String?
        public var yanked: Bool?
        public var yankedReason: String?
        public var endOfMaintenance: String?
        public var endOfBasicSupport: String?
    }

    public struct Migrations: Codable, Sendable, Hashable {
        public var airflowDatabase: Bool?
    }

    public struct Entry: Codable, Sendable, Hashable {
        public var metadata: Metadata
        public var migrations: Migrations?
    }

    public var runtimeVersions: [String: Entry]?
    public var runtimeVersionsV3: [String: Entry]?

    public init(runtimeVersions: [String: Entry]? = nil, runtimeVersionsV3: [String: Entry]? = nil) {
        self.runtimeVersions = runtimeVersions
        self.runtimeVersionsV3 = runtimeVersionsV3
    }

    /// Decodes a feed; a document without either runtime map is rejected, so an HTML error page or
    /// an unrelated JSON body never passes for an empty catalog.
    public static func decode(_ data: Data) throws(AirlockError) -> RuntimeFeed {
        let feed: RuntimeFeed
        do {
            feed = try JSONDecoder().decode(RuntimeFeed.self, from: data)
        } catch {
            throw .environment("The runtime feed is not valid JSON in the expected format: \(Self.describe(error))")
        }
        guard feed.runtimeVersions != nil || feed.runtimeVersionsV3 != nil else {
            throw .environment("The runtime feed has neither `runtimeVersions` nor `runtimeVersionsV3`")
        }
        return feed
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case let .keyNotFound(key, context)?:
            return "missing `\(key.stringValue)` at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case let .typeMismatch(_, context)?, let .valueNotFound(_, context)?, let .dataCorrupted(context)?:
            return "\(context.debugDescription) at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default:
            return "\(error)"
        }
    }
}
