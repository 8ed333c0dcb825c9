import AirlockCore
import Testing

@Suite struct MigrationLinkTests {
    func link(_ revision: String, _ parents: [String]) -> MigrationLink {
        MigrationLink(revision: revision, downRevisions: parents, migration: DatabaseMigration(revision: revision, description: revision, airflowVersion: nil))
    }

    /// Newest first, as alembic walks it: e ← d ← (b, c merge) ← a.
    var chain: [MigrationLink] { [link("e", ["d"]), link("d", ["b", "c"]), link("c", ["a"]), link("b", ["a"]), link("a", [])] }

    @Test func linearRange() {
        #expect(MigrationLink.path(from: "e", downTo: "d", in: chain).map(\.revision) == ["e"])
        #expect(MigrationLink.path(from: "e", downTo: "a", in: chain).map(\.revision) == ["e", "d", "c", "b"])
    }

    @Test func mergeFollowsEveryParent() {
        #expect(MigrationLink.path(from: "d", downTo: "b", in: chain).map(\.revision) == ["d", "c"])
    }

    @Test func unknownOrEqualRevisionsGiveNothing() {
        #expect(MigrationLink.path(from: "e", downTo: "zzz", in: chain).isEmpty)
        #expect(MigrationLink.path(from: "e", downTo: "e", in: chain).isEmpty)
    }
}
