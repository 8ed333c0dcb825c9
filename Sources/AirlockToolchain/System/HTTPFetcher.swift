import AirlockCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Fetches a document by URL, or reads it when the "URL" is a local path or `file:` URL.
public enum HTTPFetcher {
    /// A fetch that found nothing (HTTP 404) as opposed to one that failed.
    public enum Outcome: Sendable {
        case found(Data)
        case notFound
    }

    public static func isRemote(_ location: String) -> Bool {
        location.hasPrefix("http://") || location.hasPrefix("https://")
    }

    /// - Throws: `AirlockError.environment` when the location cannot be reached or read.
    public static func fetch(_ location: String, timeout: TimeInterval = 10) async throws(AirlockError) -> Outcome {
        if !isRemote(location) {
            let path = location.hasPrefix("file://") ? String(location.dropFirst(7)) : location
            guard FileManager.default.fileExists(atPath: path) else { return .notFound }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .environment("Cannot read `\(path)`")
            }
            return .found(data)
        }
        guard let url = URL(string: location) else { throw .usage("`\(location)` is not a valid URL") }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.setValue("application/json, text/plain, */*", forHTTPHeaderField: "Accept")
        request.setValue("airlock/\(AirlockVersion.current)", forHTTPHeaderField: "User-Agent")
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout * 3
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        do {
            let (data, response) = try await session.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode ?? 200
            if status == 404 { return .notFound }
            guard (200..<300).contains(status) else {
                throw AirlockError.environment("`\(location)` answered HTTP \(status)")
            }
            return .found(data)
        } catch let error as AirlockError {
            throw error
        } catch {
            throw .environment("Cannot reach `\(location)`: \(error.localizedDescription)")
        }
    }
}
