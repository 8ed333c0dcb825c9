import Foundation
import PythonPackaging

/// The base image of a project's Dockerfile: the first stage's `FROM`, with `ARG` defaults expanded.
///
/// Only the first stage matters: Astro and Apache images put the runtime there, and later stages
/// of a multi-stage build derive from it or copy out of it.
public struct DockerfileBase: Hashable, Sendable {
    /// The image reference after `ARG` substitution, e.g. `quay.io/astronomer/astro-runtime:9.10.0`.
    public var image: ImageReference
    /// The `FROM` line as written (continuations joined).
    public var text: String
    /// 1-based line of the `FROM` instruction.
    public var line: Int
    public var stage: String?
    public var platform: String?

    /// Parses the first `FROM` of a Dockerfile, written with any line endings and with or without a BOM.
    /// - Throws: `AirlockError.usage` naming `file` and the line when there is no `FROM`, when it has
    ///   no image, or when the image uses an `ARG` without a default.
    public static func parse(_ text: String, file: String) throws(AirlockError) -> DockerfileBase {
        var args: [String: String] = [:]
        for instruction in DockerInstruction.split(UserText.normalized(text)) {
            let words = instruction.words
            guard let keyword = words.first?.uppercased() else { continue }
            switch keyword {
            case "ARG":
                // Only ARGs before the first FROM can be used in FROM.
                for word in words.dropFirst() {
                    if let eq = word.firstIndex(of: "=") {
                        args[String(word[..<eq])] = unquote(String(word[word.index(after: eq)...]))
                    }
                }
            case "FROM":
                var platform: String?
                var rest = Array(words.dropFirst())
                while let flag = rest.first, flag.hasPrefix("--") {
                    if flag.hasPrefix("--platform=") { platform = String(flag.dropFirst("--platform=".count)) }
                    rest.removeFirst()
                }
                guard let imageWord = rest.first else {
                    throw .usage("\(file):\(instruction.line): `FROM` names no image")
                }
                var stage: String?
                if rest.count >= 3, rest[1].uppercased() == "AS" { stage = rest[2] }
                let expanded = try expand(imageWord, args: args, file: file, line: instruction.line)
                guard let image = ImageReference(expanded) else {
                    throw .usage("\(file):\(instruction.line): `\(DisplayText.escaped(expanded))` is not a valid image reference")
                }
                return DockerfileBase(image: image, text: instruction.text, line: instruction.line, stage: stage, platform: platform)
            default:
                continue
            }
        }
        throw .usage("\(file): no `FROM` instruction; Airlock reads the runtime version from the first `FROM`",
                     hint: "add e.g. `FROM quay.io/astronomer/astro-runtime:12.0.0`, or pass --current-airflow-version")
    }

    private static func unquote(_ value: String) -> String {
        if value.count >= 2, let f = value.first, f == value.last, f == "\"" || f == "'" {
            return String(value.dropFirst().dropLast())
        }
        return value
    }

    /// Expands `$NAME`, `${NAME}`, `${NAME:-default}` with pre-`FROM` `ARG` defaults.
    private static func expand(_ word: String, args: [String: String], file: String, line: Int) throws(AirlockError) -> String {
        var output = ""
        var index = word.startIndex
        while index < word.endIndex {
            let character = word[index]
            guard character == "$" else { output.append(character); index = word.index(after: index); continue }
            var cursor = word.index(after: index)
            var name = ""
            var fallback: String?
            if cursor < word.endIndex, word[cursor] == "{" {
                guard let close = word[cursor...].firstIndex(of: "}") else {
                    throw .usage("\(file):\(line): unterminated `${` in `\(DisplayText.escaped(word))`")
                }
                let inner = String(word[word.index(after: cursor)..<close])
                if let sep = inner.range(of: ":-") {
                    name = String(inner[..<sep.lowerBound]); fallback = String(inner[sep.upperBound...])
                } else {
                    name = inner
                }
                cursor = word.index(after: close)
            } else {
                while cursor < word.endIndex, word[cursor].isLetter || word[cursor].isNumber || word[cursor] == "_" {
                    name.append(word[cursor]); cursor = word.index(after: cursor)
                }
            }
            if let value = args[name], !value.isEmpty {
                output += value
            } else if let fallback {
                output += fallback
            } else {
                throw .usage("\(file):\(line): `FROM` uses `$\(DisplayText.escaped(name))`, which has no default value in an `ARG` before it",
                             hint: "give it a default (`ARG \(DisplayText.escaped(name))=…`) or pass --current-airflow-version")
            }
            index = cursor
        }
        return output
    }
}

/// One Dockerfile instruction with continuation lines joined and comments removed.
struct DockerInstruction {
    var text: String
    var line: Int
    var words: [String] { text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }

    /// Splits `\n`-separated text (see `UserText.normalized`: in Swift `\r\n` is one `Character`, so
    /// splitting unnormalised text on `\n` would keep CRLF lines joined).
    static func split(_ source: String) -> [DockerInstruction] {
        var result: [DockerInstruction] = []
        var escape: Character = "\\"
        var current = ""
        var startLine = 0
        var sawInstruction = false
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        for (offset, rawLine) in lines.enumerated() {
            let line = String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !sawInstruction, current.isEmpty, trimmed.hasPrefix("#") {
                // Parser directive such as `# escape=``
                let directive = trimmed.dropFirst().trimmingCharacters(in: .whitespaces).lowercased()
                if directive.hasPrefix("escape="), let value = directive.dropFirst(7).trimmingCharacters(in: .whitespaces).first {
                    escape = value
                }
                continue
            }
            if trimmed.hasPrefix("#") { continue }  // comments, also inside continuations
            if current.isEmpty {
                if trimmed.isEmpty { continue }
                startLine = offset + 1
            }
            sawInstruction = true
            if trimmed.last == escape {
                current += String(trimmed.dropLast()) + " "
            } else {
                current += trimmed
                result.append(DockerInstruction(text: current.trimmingCharacters(in: .whitespaces), line: startLine))
                current = ""
            }
        }
        if !current.isEmpty {
            result.append(DockerInstruction(text: current.trimmingCharacters(in: .whitespaces), line: startLine))
        }
        return result
    }
}

/// A container image reference split into repository, tag and digest.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// Registry host and path, e.g. `quay.io/astronomer/astro-runtime` or `apache/airflow`.
    public var repository: String
    public var tag: String?
    public var digest: String?

    public init?(_ text: String) {
        var rest = Substring(text)
        guard !rest.isEmpty, !rest.contains(" ") else { return nil }
        if let at = rest.firstIndex(of: "@") {
            digest = String(rest[rest.index(after: at)...])
            rest = rest[..<at]
        }
        // A ':' after the last '/' separates the tag; one before it belongs to a registry port.
        let lastSlash = rest.lastIndex(of: "/") ?? rest.startIndex
        if let colon = rest[lastSlash...].lastIndex(of: ":") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { return nil }
        repository = String(rest)
        if tag?.isEmpty == true { return nil }
    }

    /// The repository without the default Docker Hub prefixes, for matching well-known images.
    public var canonicalRepository: String {
        var name = repository
        for prefix in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] where name.hasPrefix(prefix) {
            name = String(name.dropFirst(prefix.count))
        }
        if name.hasPrefix("library/") { name = String(name.dropFirst("library/".count)) }
        return name
    }

    public var description: String {
        var text = repository
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }
}
