/// Reads a project's `.env`, so DAG files see the same environment variables at parse time as under `astro dev`.
///
/// Follows what Docker Compose's `env_file` accepts: `KEY=VALUE`, an optional `export ` prefix, single quotes
/// (literal) and double quotes (`\n`, `\t`, `\"`, `\\` escapes; may span lines), whole-line `#` comments and, for
/// unquoted values, inline `#` comments after whitespace. `$VAR` is never expanded. Later keys win. Any line
/// endings (LF, CRLF, CR) and a leading BOM are accepted.
public enum DotEnv {
    public static func parse(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        let characters = Array(UserText.normalized(text))
        var index = 0

        func isBlank(_ character: Character) -> Bool { character == " " || character == "\t" }
        func skipBlanks() { while index < characters.count, isBlank(characters[index]) { index += 1 } }
        func skipLine() {
            while index < characters.count, !characters[index].isNewline { index += 1 }
            index += 1
        }

        while index < characters.count {
            skipBlanks()
            guard index < characters.count else { break }
            if characters[index].isNewline { index += 1; continue }
            if characters[index] == "#" { skipLine(); continue }

            // The key, up to `=`; a line without one is not an assignment.
            let keyStart = index
            while index < characters.count, characters[index] != "=", !characters[index].isNewline { index += 1 }
            guard index < characters.count, characters[index] == "=" else { skipLine(); continue }
            var key = String(characters[keyStart..<index]).trimmingBlanks()
            if key.hasPrefix("export"), let next = key.dropFirst(6).first, isBlank(next) {
                key = String(key.dropFirst(6)).trimmingBlanks()
            }
            index += 1
            skipBlanks()
            guard !key.isEmpty, !key.contains(where: { isBlank($0) }) else { skipLine(); continue }

            if index < characters.count, characters[index] == "'" || characters[index] == "\"",
               let value = quoted(characters, from: &index) {
                result[key] = value
                skipLine()   // anything after the closing quote is ignored
                continue
            }

            // Unquoted: to the end of the line; ` #` starts a comment.
            let valueStart = index
            var valueEnd = index
            while index < characters.count, !characters[index].isNewline {
                if characters[index] == "#", index > valueStart, isBlank(characters[index - 1]) { break }
                index += 1
                valueEnd = index
            }
            result[key] = String(characters[valueStart..<valueEnd]).trimmingBlanks()
            skipLine()
        }
        return result
    }

    /// The quoted value starting at `index` (on the quote), leaving `index` after the closing quote; nil when the
    /// quote is never closed (the value is then read as unquoted).
    private static func quoted(_ characters: [Character], from index: inout Int) -> String? {
        let quote = characters[index]
        var cursor = index + 1
        var value = ""
        while cursor < characters.count {
            let character = characters[cursor]
            if character == quote {
                index = cursor + 1
                return value
            }
            if quote == "\"", character == "\\", cursor + 1 < characters.count {
                let next = characters[cursor + 1]
                switch next {
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "r": value.append("\r")
                case "\"", "\\", "$": value.append(next)
                default: value.append(character); value.append(next)
                }
                cursor += 2
                continue
            }
            value.append(character.isNewline ? "\n" : character)
            cursor += 1
        }
        return nil
    }
}

/// Reads `.astro/dag_integrity_exceptions.txt`: DAG files the Astro CLI's parse test skips, which Airlock reports
/// as exempt instead of failing the run.
public enum DagIntegrityExceptions {
    /// One project-relative path per line (`dags/x.py`); `#` comments and blank lines are skipped, a leading `./`
    /// is dropped.
    public static func parse(_ text: String) -> Set<String> {
        var paths: Set<String> = []
        for rawLine in UserText.normalized(text).split(whereSeparator: \.isNewline) {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#"),
               hash == line.startIndex || line[line.index(before: hash)] == " " || line[line.index(before: hash)] == "\t" {
                line = line[..<hash]
            }
            let path = normalizedProjectPath(String(line).trimmingBlanks())
            if !path.isEmpty { paths.insert(path) }
        }
        return paths
    }

    /// `./dags/x.py` → `dags/x.py`, so the exceptions file and the harness's paths compare equal.
    public static func normalizedProjectPath(_ path: String) -> String {
        var path = Substring(path)
        while path.hasPrefix("./") {
            path = path.dropFirst(2)
            while path.hasPrefix("/") { path = path.dropFirst() }
        }
        return String(path)
    }
}

extension String {
    fileprivate func trimmingBlanks() -> String { String(Substring(self).trimmingWhitespace()) }
}
