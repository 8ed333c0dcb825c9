import AirlockCore
import Foundation

/// Builds the runtime catalog from its sources in order (SPEC §2): the live feed (or `--runtime-feed`),
/// the cache of the last good feed, then the snapshot compiled into the binary. Apache Airflow
/// releases come from PyPI, cached the same way. Every failure is a warning and a fallback.
public struct CatalogLoader: Sendable {
    public static let defaultFeedURL = "https://updates.astronomer.io/astronomer-runtime"
    public static let pypiURL = "https://pypi.org/pypi/apache-airflow/json"
    /// How long a fetched feed is trusted before it is fetched again.
    public static let timeToLive: TimeInterval = 6 * 3600
    /// After a failed fetch, how long to use fallbacks without trying again.
    public static let retryAfterFailure: TimeInterval = 10 * 60

    public var paths: AirlockPaths
    public var feedLocation: String?
    public var offline: Bool

    /// - Parameters:
    ///   - feedLocation: `--runtime-feed FILE|URL`; nil means the live default.
    public init(paths: AirlockPaths, feedLocation: String? = nil, offline: Bool = false) {
        self.paths = paths
        self.feedLocation = feedLocation
        self.offline = offline
    }

    /// The catalog, where its runtime data came from, and warnings for every fallback taken.
    public struct Loaded: Sendable {
        public var catalog: RuntimeCatalog
        public var feedSource: String
        public var releasesSource: String
        public var warnings: [String]
    }

    /// - Parameter runtimes: whether Astro Runtime data is needed at all; projects on Apache Airflow
    ///   images tested against Airflow versions skip the feed (and its warnings).
    public func load(runtimes: Bool = true) async -> Loaded {
        var warnings: [String] = []
        let (feed, feedSource) = runtimes || feedLocation != nil
            ? await loadFeed(&warnings)
            : (RuntimeFeed.bundled, "bundled snapshot")
        let (releases, releasesSource) = await loadReleases(&warnings)
        return Loaded(catalog: RuntimeCatalog(feed: feed, airflowReleases: releases), feedSource: feedSource,
                      releasesSource: releasesSource, warnings: warnings)
    }

    private func loadFeed(_ warnings: inout [String]) async -> (RuntimeFeed, String) {
        let bundled = RuntimeFeed.bundled
        let cacheURL = paths.feeds.appendingPathComponent("astronomer-runtime.json")
        if let explicit = feedLocation {
            // An explicit feed is the user's choice: no cache in between, but still never a crash.
            do {
                switch try await HTTPFetcher.fetch(explicit) {
                case .found(let data):
                    return (try RuntimeFeed.decode(data), explicit)
                case .notFound:
                    warnings.append("Runtime feed `\(explicit)` does not exist; using the bundled snapshot")
                }
            } catch {
                warnings.append("Runtime feed `\(explicit)` is unusable (\(error.message)); using the bundled snapshot")
            }
            return (bundled, "bundled snapshot")
        }
        let cached = FileManager.default.contents(atPath: cacheURL.path).flatMap { try? RuntimeFeed.decode($0) }
        let age = CacheFile.age(of: cacheURL)
        if let cached, let age, age < CatalogLoader.timeToLive {
            return (cached, "cache (\(Int(age / 60)) min old)")
        }
        if !offline, shouldTry(marker: "feed") {
            do {
                if case .found(let data) = try await HTTPFetcher.fetch(CatalogLoader.defaultFeedURL, timeout: 5) {
                    let feed = try RuntimeFeed.decode(data)
                    try? CacheFile.writeAtomically(data, to: cacheURL)
                    return (feed, CatalogLoader.defaultFeedURL)
                }
                warnings.append("The runtime feed was not found at \(CatalogLoader.defaultFeedURL)")
            } catch {
                recordFailure(marker: "feed")
                warnings.append("The runtime feed is unreachable (\(error.message))")
            }
        }
        if let cached {
            if !offline { warnings.append("Using the cached runtime feed") }
            return (cached, "cache")
        }
        if !offline { warnings.append("Using the runtime catalog bundled with Airlock (Runtime 4.0.0–12.0.0); newer runtimes need the live feed or --runtime-feed") }
        return (bundled, "bundled snapshot")
    }

    private func loadReleases(_ warnings: inout [String]) async -> ([AirflowRelease], String) {
        let bundled = AirflowRelease.bundled
        let cacheURL = paths.feeds.appendingPathComponent("apache-airflow-releases.json")
        let cached = FileManager.default.contents(atPath: cacheURL.path).flatMap { try? JSONDecoder().decode([AirflowRelease].self, from: $0) }
        if let cached, let age = CacheFile.age(of: cacheURL), age < CatalogLoader.timeToLive {
            return (merge(bundled, cached), "PyPI (cached)")
        }
        if !offline, shouldTry(marker: "pypi") {
            do {
                if case .found(let data) = try await HTTPFetcher.fetch(CatalogLoader.pypiURL, timeout: 8) {
                    let releases = try AirflowRelease.parsePyPIJSON(data)
                    if let encoded = try? JSONEncoder().encode(releases) { try? CacheFile.writeAtomically(encoded, to: cacheURL) }
                    return (merge(bundled, releases), "PyPI")
                }
            } catch {
                recordFailure(marker: "pypi")
                warnings.append("The Airflow release list could not be fetched from PyPI (\(error.message)); using \(cached == nil ? "the bundled list" : "the cached list")")
            }
        }
        if let cached { return (merge(bundled, cached), "PyPI (cached)") }
        return (bundled, "bundled list")
    }

    /// Fetched releases win; bundled ones fill gaps (a mirror index may list fewer).
    private func merge(_ bundled: [AirflowRelease], _ fetched: [AirflowRelease]) -> [AirflowRelease] {
        var byVersion = Dictionary(bundled.map { ($0.version, $0) }, uniquingKeysWith: { a, _ in a })
        for release in fetched { byVersion[release.version] = release }
        return Array(byVersion.values)
    }

    private func markerURL(_ name: String) -> URL {
        paths.feeds.appendingPathComponent(".\(name)-failed")
    }

    private func shouldTry(marker name: String) -> Bool {
        guard let age = CacheFile.age(of: markerURL(name)) else { return true }
        return age > CatalogLoader.retryAfterFailure
    }

    private func recordFailure(marker name: String) {
        try? CacheFile.writeAtomically(Data(), to: markerURL(name))
    }
}
