// libFuzzer target: PEP 440 versions, specifiers and specifier sets (see scripts/fuzz).
// Properties: parsing never crashes; the normalised text parses back to the same value and prints
// the same; comparisons and matching never crash and agree with equality.
import PythonPackaging

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVersion(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let halves = text.split(separator: "\u{1}", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)

    if let version = Version(text) {
        guard let again = Version(version.description) else { fatalError("Version(\(version.description.debugDescription)) does not parse back (from \(text.debugDescription))") }
        guard again == version, again.description == version.description, again.hashValue == version.hashValue else {
            fatalError("Version round trip changed \(text.debugDescription): \(version) -> \(again)")
        }
        _ = version.publicVersion.description + version.baseVersion.description
    }
    if let specifier = try? Specifier(parsing: text) {
        guard let again = try? Specifier(parsing: specifier.description) else {
            fatalError("Specifier(\(specifier.description.debugDescription)) does not parse back (from \(text.debugDescription))")
        }
        guard again == specifier, again.description == specifier.description else {
            fatalError("Specifier round trip changed \(text.debugDescription): \(specifier) -> \(again)")
        }
    }
    if let set = try? SpecifierSet(parsing: text) {
        guard let again = try? SpecifierSet(parsing: set.description) else {
            fatalError("SpecifierSet(\(set.description.debugDescription)) does not parse back (from \(text.debugDescription))")
        }
        guard again == set, again.description == set.description else {
            fatalError("SpecifierSet round trip changed \(text.debugDescription): \(set) -> \(again)")
        }
    }
    // "specifier \x01 version": matching and ordering.
    if halves.count == 2, let version = Version(halves[1]) {
        if let set = try? SpecifierSet(parsing: halves[0]) {
            _ = set.contains(version)
            _ = set.contains(version, prereleases: true)
            _ = set.filter([version], prereleases: false)
        }
        if let other = Version(halves[0]) {
            let order = Version.compare(other, version)
            guard (order == 0) == (other == version), order == -Version.compare(version, other) else {
                fatalError("Inconsistent ordering of \(other) and \(version)")
            }
        }
    }
    return 0
}
