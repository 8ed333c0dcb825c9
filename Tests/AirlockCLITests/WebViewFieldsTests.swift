import AirlockCore
@testable import AirlockServer
import Foundation
import Mustache
import Testing

/// The Deploy History view models read by name (`WebHistoryFields.swift`, for speed) must give exactly
/// what Mustache's reflection gave: every stored property reachable under its own name, with the same
/// value (`nil` for an absent optional), and nothing for a name they do not have.
struct WebViewFieldsTests {
    /// Each stored property of `value` (by `Mirror`) against `child(named:)`.
    static func expectSameAsReflection(_ value: some MustacheParent) {
        let mirror = Mirror(reflecting: value)
        #expect(!mirror.children.isEmpty)
        for child in mirror.children {
            let label = try! #require(child.label)
            let reflected = Mirror(reflecting: child.value).displayStyle == .optional
                ? Mirror(reflecting: child.value).children.first.map { String(describing: $0.value) }
                : String(describing: child.value)
            let named = value.child(named: label).map { String(describing: $0) }
            #expect(named == reflected, "\(type(of: value)).\(label)")
        }
        #expect(value.child(named: "noSuchField") == nil)
    }

    @Test func historyPageModelsMatchReflection() {
        let base = Date(timeIntervalSince1970: 1_700_000_000)
        let deploy = WebUIBenchmark.deploy(7, base: base)
        let session = WebSession(tokenId: "t", tokenName: "ci", role: .admin, csrf: "c", expiresAt: base)
        for (rollbackOf, availability) in [(RollbackOf(from: 3, to: 1), Availability(canRollback: true, reasons: [])),
                                           (nil, Availability(canRollback: false, reasons: ["pinned"]))] {
            let row = HistoryRow(deploy, pathName: "bench", isCurrent: rollbackOf != nil, rollbackOf: rollbackOf, availability: availability)
            Self.expectSameAsReflection(row)
            Self.expectSameAsReflection(row.time)
            if let rollbackOf { Self.expectSameAsReflection(rollbackOf) }
            Self.expectSameAsReflection(HistoryRowsView(rows: [row], query: rollbackOf == nil ? "x" : nil))
            for frame in [Frame(title: "bench", session: session, refreshSeconds: 5), Frame(title: "bench", session: nil)] {
                Self.expectSameAsReflection(frame)
                Self.expectSameAsReflection(DeploymentPage(
                    frame: frame, name: "bench", pathName: "bench", target: "local", pinned: nil, current: DeployLink(deploy),
                    health: "stopped", components: [.init(name: "scheduler", status: "healthy")], airflowUrl: rollbackOf == nil ? nil : "http://x",
                    dbSchemaHead: nil, rollbackEnabled: true, rowsHTML: "<tr></tr>", rangeText: "1 to 1 of 1",
                    previous: nil, next: LinkView(href: "/deployments/bench?offset=50"), query: rollbackOf == nil ? "x" : nil, unpinRefusal: nil))
            }
        }
    }
}
