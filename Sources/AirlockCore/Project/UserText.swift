/// Text as people write it: files saved on Windows (CRLF), old Mac files (CR) and editors that put a
/// UTF-8 byte-order mark first. Every reader of a project file sees `\n`-only text without a BOM, so a
/// line ending never leaks into a value (`"3.11\r"`) and a BOM never hides the first word (`FROM`).
public enum UserText {
    /// The UTF-8 byte-order mark.
    public static let byteOrderMark: Unicode.Scalar = "\u{FEFF}"

    /// Decodes bytes as UTF-8 (invalid sequences become U+FFFD), then normalises them.
    public static func decode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        normalized(String(decoding: bytes, as: UTF8.self))
    }

    /// `text` without a leading BOM, with CRLF and lone CR turned into LF. Idempotent.
    public static func normalized(_ text: String) -> String {
        var scalars = Substring(text).unicodeScalars
        if scalars.first == byteOrderMark { scalars = scalars.dropFirst() }
        guard scalars.contains("\r") else { return String(scalars) }
        var result = String.UnicodeScalarView()
        result.reserveCapacity(scalars.count)
        var previousWasCR = false
        for scalar in scalars {
            if scalar == "\r" {
                result.append("\n")
                previousWasCR = true
                continue
            }
            if scalar == "\n", previousWasCR {
                previousWasCR = false
                continue
            }
            previousWasCR = false
            result.append(scalar)
        }
        return String(result)
    }
}
