// libFuzzer target: the requirements.txt reader (see scripts/fuzz).
// The input is split on NUL into files: the first is `requirements.txt`, the others `a.txt`, `b.txt`,
// … so includes, cycles and constraints are exercised. Properties: reading never crashes; every
// entry has a line inside its file; every requirement's normalised text parses back to the same value.
import PythonPackaging

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequirementsFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parts = text.split(separator: "\0", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
    var files: [String: String] = ["requirements.txt": parts[0]]
    for (index, part) in parts.dropFirst().enumerated() {
        files[["a.txt", "b.txt", "sub/c.txt", "../d.txt"][index]] = part
    }
    let snapshot = files
    let parser = RequirementsFileParser { path in
        guard let content = snapshot[path] else { throw MissingFile() }
        return content
    }
    guard let result = try? parser.parse(path: "requirements.txt") else { return 0 }
    for entry in result.entries {
        guard let content = files[entry.file] else { fatalError("Entry from a file never read: \(entry.file)") }
        let lineCount = content.unicodeScalars.count + 1
        guard entry.line >= 1, entry.line <= lineCount else { fatalError("Entry line \(entry.line) outside \(entry.file)") }
        if let requirement = entry.requirement, requirement.url == nil {
            let normalised = requirement.description
            guard let again = try? Requirement(parsing: normalised), again == requirement else {
                fatalError("Requirement from \(entry.text.debugDescription) does not round-trip through \(normalised.debugDescription)")
            }
        }
    }
    return 0
}

struct MissingFile: Error {}
