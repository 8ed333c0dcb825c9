// TEMPORARY compile stub with the contracted API; replaced by the real parser.
public struct RequirementsFileParser: Sendable {
    let readFile: @Sendable (String) throws -> String
    public init(readFile: @escaping @Sendable (String) throws -> String) { self.readFile = readFile }
    public func parse(path: String) throws(RequirementsFileError) -> RequirementsFile {
        let text: String
        do { text = try readFile(path) } catch { throw RequirementsFileError(file: path, line: nil, message: "\(error)") }
        var entries: [RequirementsEntry] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = String(line.prefix(while: { $0 != "#" })).trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            do {
                let r = try Requirement(parsing: t)
                entries.append(RequirementsEntry(kind: .requirement, requirement: r, editable: false, directReference: nil, text: t, perLineOptions: [], file: path, line: i + 1))
            } catch { throw RequirementsFileError(file: path, line: i + 1, message: error.message) }
        }
        return RequirementsFile(entries: entries, options: [], files: [path])
    }
}
public struct RequirementsFile: Sendable, Hashable {
    public var entries: [RequirementsEntry]
    public var options: [RequirementsOption]
    public var files: [String]
}
public struct RequirementsEntry: Sendable, Hashable {
    public enum Kind: String, Sendable { case requirement, constraint }
    public var kind: Kind
    public var requirement: Requirement?
    public var editable: Bool
    public var directReference: String?
    public var text: String
    public var perLineOptions: [String]
    public var file: String
    public var line: Int
}
public struct RequirementsOption: Sendable, Hashable { public var name: String; public var value: String?; public var file: String; public var line: Int }
public struct RequirementsFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String; public var line: Int?; public var message: String
    public var description: String { line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)" }
}
import Foundation
