import AirlockCore
import AirlockDeployer
import AirlockStorage
import Foundation
import Hummingbird

/// Deploy History search and paging on the deployment page: the query (`?search=`, the same parameter
/// as `GET /api/v1/deployments/{name}/deploys`) goes to the store, which filters, counts and pages in SQL.
enum WebHistory {
    /// The page's search, if any; a search longer than `DeploySearch.maximumLength` is a 400 page. Read as
    /// an HTML form sends it (`application/x-www-form-urlencoded`: `+` is a space), which the query
    /// parameters of the URI do not decode.
    static func search(_ request: Request) throws -> DeploySearch? {
        do {
            return try DeploySearch(WebForm.parse(request.uri.query ?? "")["search"])
        } catch {
            throw WebPageError(.badRequest, error.message)
        }
    }

    /// A page of the deployment's history: `offset` and the search (percent-encoded) in the query.
    static func href(_ pathName: String, offset: Int, search: DeploySearch?) -> String {
        var items: [String] = []
        if let search { items.append("search=" + queryValue(search.text)) }
        if offset > 0 { items.append("offset=\(offset)") }
        return "/deployments/\(pathName)" + (items.isEmpty ? "" : "?" + items.joined(separator: "&"))
    }

    /// A query-string value: only unreserved characters stay as they are.
    static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? ""
    }
}

extension DeploySearch {
    /// `?search=` as the API and the pages read it: absent or blank is no search; given twice is refused.
    static func query<S: StringProtocol>(_ values: [S]) throws(AirlockError) -> DeploySearch? {
        guard values.count <= 1 else { throw .usage("`search` must be given at most once") }
        return try DeploySearch(values.first.map { String($0) })
    }
}

/// The store reads of a Deploy History page (the page, the counts, the deploys its rows' eligibility
/// needs), reused until the store changes — the same rule as the JSON API's `HistoryPageCache`: a read
/// is kept only if no write finished while it ran (the cache's generation), so a page is never older
/// than a write the viewer was answered. Why: a search reads every row twice (count and page), ~0.4 s
/// on 100,000 deploys, and everyone looks at the same newest page (benchmarks/ui). The rows are still
/// rendered per request: eligibility depends on the time and the viewer's role. Bounded: cleared at
/// `maximumEntries`.
final class HistoryReadCache: @unchecked Sendable {
    struct Key: Hashable {
        var deploymentId: String
        var offset: Int
        var search: String?
    }

    struct Reads {
        var page: [Deploy]
        /// Deploys matching the search (the whole history without one).
        var matching: Int
        /// Deploys in the history.
        var total: Int
        /// What `RollbackPolicy.eligibility` needs for the page's rows (`WebUI.eligibilityHistory`).
        var eligibility: [Deploy]
    }

    static let maximumEntries = 64
    private let entries = StoreGenerationEntries<Key, Reads>(maximumEntries: maximumEntries)

    /// The reads for `key` made under the current generation, or `read()`'s (kept if still current).
    func reads(_ key: Key, pages: HistoryPageCache?, read: () async throws -> Reads) async throws -> Reads {
        try await entries.value(key, pages: pages, read: read)
    }
}

/// Deploy History's rows as rendered for one kind of viewer, for at most `maximumAge` and only until the next
/// store write. Why: with the store's reads cached (`HistoryReadCache`), rendering 50 rows was what was left
/// of a page's time, ~10 ms in a debug build against ~1 ms for the JSON API's cached page (benchmarks/ui),
/// and everyone looks at the same newest page. What a row shows beyond the store depends only on the
/// viewer's role (which actions it offers, the reasons it gives) and on the time (the relative hint
/// "3 min ago", the retention window), hence the key and the age limit. The server checks every rule
/// again when an action is taken, so a row at most `maximumAge` old can never let one through.
final class HistoryRowsCache: @unchecked Sendable {
    struct Key: Hashable {
        var reads: HistoryReadCache.Key
        /// The viewer's role; nil when signed out.
        var role: Role?
    }

    static let maximumAge: Duration = .seconds(10)
    private let entries = StoreGenerationEntries<Key, String>(maximumEntries: 64, maximumAge: maximumAge)

    func rows(_ key: Key, pages: HistoryPageCache?, render: () async throws -> String) async throws -> String {
        try await entries.value(key, pages: pages, read: render)
    }
}

/// A deployment's live status (health, Airflow URL, DB schema head) as the deployment page last read
/// it, for at most `maximumAge` and only until the next store write. Why: on the local target the DB
/// schema head is read by starting Python (`MetadataDatabase.currentRevision`, a few hundred ms), on
/// every view of the page; a deploy or rollback that finishes writes the store, so its new head shows
/// at once, and health that changes on its own shows within `maximumAge`.
final class LiveStatusCache: @unchecked Sendable {
    static let maximumAge: Duration = .seconds(2)
    private let entries = StoreGenerationEntries<String, LiveStatus>(maximumEntries: .max, maximumAge: maximumAge)

    func status(of deployment: Deployment, pages: HistoryPageCache?, read: () async -> LiveStatus) async -> LiveStatus {
        await entries.value(deployment.id, pages: pages, read: read)
    }
}

/// Values kept under the store generation (`HistoryPageCache.generation`) they were read at, and served only
/// while it is still current (and, with `maximumAge`, while young enough): the one rule behind the web UI's
/// read caches. A value whose read overlapped a write is returned but not kept. Without a generation source
/// (`pages == nil`) nothing is cached. Cleared when `maximumEntries` is reached.
final class StoreGenerationEntries<Key: Hashable, Value>: @unchecked Sendable {
    private let maximumEntries: Int
    private let maximumAge: Duration?
    private let lock = NSLock()
    private var entries: [Key: (generation: UInt64, at: ContinuousClock.Instant, value: Value)] = [:]

    init(maximumEntries: Int, maximumAge: Duration? = nil) {
        self.maximumEntries = maximumEntries
        self.maximumAge = maximumAge
    }

    func value(_ key: Key, pages: HistoryPageCache?, read: () async throws -> Value) async rethrows -> Value {
        guard let pages else { return try await read() }
        let generation = pages.generation, now = ContinuousClock.now
        if let hit = lock.withLock({ entries[key] }), hit.generation == generation,
           maximumAge.map({ now - hit.at < $0 }) ?? true {
            return hit.value
        }
        let value = try await read()
        lock.withLock {
            guard pages.generation == generation else { return }
            if entries.count >= maximumEntries { entries.removeAll(keepingCapacity: true) }
            entries[key] = (generation, now, value)
        }
        return value
    }
}
