/// An image reference as the Kubernetes target deploys it, `REPOSITORY@DIGEST`, split once for the chart's
/// values and for telling the deploy's own containers (same repository) from the chart's others.
struct ImageByDigest: Equatable {
    var repository: String
    var digest: String

    /// nil when `reference` has no `@`.
    init?(_ reference: String) {
        guard let at = reference.firstIndex(of: "@") else { return nil }
        repository = String(reference[..<at])
        digest = String(reference[reference.index(after: at)...])
    }

    /// Whether `other` is an image of this repository by digest (this one or another deploy's).
    func isSameRepository(_ other: String) -> Bool { other.hasPrefix(repository + "@") }
}
