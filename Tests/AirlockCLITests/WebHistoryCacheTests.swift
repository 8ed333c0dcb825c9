import AirlockCore
@testable import AirlockServer
import Foundation
import Testing

/// The Deploy History page's store reads are reused only until a store write: a write after the read,
/// or one that finished while the read ran, makes the next view read again.
struct WebHistoryCacheTests {
    final class Counter: @unchecked Sendable {
        var reads = 0
    }

    static func reads(_ count: Int) -> HistoryReadCache.Reads {
        HistoryReadCache.Reads(page: [], matching: count, total: count, eligibility: [])
    }

    @Test func readsLastUntilTheNextWrite() async throws {
        let cache = HistoryReadCache(), pages = HistoryPageCache(), counter = Counter()
        let key = HistoryReadCache.Key(deploymentId: "d", offset: 0, search: nil)
        func view() async throws -> Int {
            try await cache.reads(key, pages: pages) {
                counter.reads += 1
                return Self.reads(counter.reads)
            }.matching
        }
        #expect(try await view() == 1)
        #expect(try await view() == 1, "reused while nothing was written")
        #expect(try await cache.reads(.init(deploymentId: "d", offset: 0, search: "x"), pages: pages) { Self.reads(99) }.matching == 99,
                "a searched page is another page")
        pages.invalidate()
        #expect(try await view() == 2, "read again after a write")

        // A write that finishes while the read runs: the read is used once, never kept.
        pages.invalidate()
        let during = try await cache.reads(key, pages: pages) {
            counter.reads += 1
            pages.invalidate()
            return Self.reads(counter.reads)
        }
        #expect(during.matching == 3)
        #expect(try await view() == 4)
    }

    @Test func withoutAChangeCountingStoreNothingIsKept() async throws {
        let cache = HistoryReadCache(), counter = Counter()
        for expected in 1...2 {
            let reads = try await cache.reads(.init(deploymentId: "d", offset: 0, search: nil), pages: nil) {
                counter.reads += 1
                return Self.reads(counter.reads)
            }
            #expect(reads.matching == expected)
        }
    }

    /// Rendered rows are kept per role (a viewer's rows offer no rollback, an admin's do) and only until a write.
    @Test func renderedRowsArePerRoleAndEndWithAWrite() async throws {
        let cache = HistoryRowsCache(), pages = HistoryPageCache(), counter = Counter()
        let reads = HistoryReadCache.Key(deploymentId: "d", offset: 0, search: nil)
        func rows(_ role: Role?) async throws -> String {
            try await cache.rows(.init(reads: reads, role: role), pages: pages) {
                counter.reads += 1
                return "\(role?.rawValue ?? "signed out") \(counter.reads)"
            }
        }
        #expect(try await rows(.admin) == "admin 1")
        #expect(try await rows(.admin) == "admin 1", "reused for the same role")
        #expect(try await rows(.viewer) == "viewer 2", "another role renders its own")
        #expect(try await rows(nil) == "signed out 3")
        pages.invalidate()
        #expect(try await rows(.admin) == "admin 4", "rendered again after a write")
        #expect(HistoryRowsCache.maximumAge <= .seconds(60), "the relative time hints have minutes")
    }
}
