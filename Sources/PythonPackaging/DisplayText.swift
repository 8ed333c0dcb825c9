/// Text from a user's file made safe to print in a message: control characters (ESC, NUL, CR, …),
/// C1 controls, line and paragraph separators and bidirectional overrides are shown as escapes
/// (`\e` → `\x1B`, `\u{202E}`), so quoting a line can never move the cursor, recolour the terminal,
/// hide text or end a log line early. Long quotes are cut, so a 100 KB line gives a short message.
///
/// Every message that quotes input (a requirement line, a Dockerfile instruction, a `.env` entry, a
/// path from an upload) goes through `DisplayText.escaped`.
public enum DisplayText {
    /// How many characters of input a message quotes by default before cutting with `…`.
    public static let defaultLimit = 200

    /// `text` with every non-printing scalar escaped, cut after `limit` scalars (nil: never cut).
    /// Tabs and newlines are escaped too (`\t`, `\n`): a quoted value stays on one line.
    public static func escaped<S: StringProtocol>(_ text: S, limit: Int? = defaultLimit) -> String {
        var out = String.UnicodeScalarView()
        var count = 0
        for scalar in text.unicodeScalars {
            if let limit, count >= limit {
                out.append("…")
                break
            }
            count += 1
            if !needsEscape(scalar) {
                out.append(scalar)
                continue
            }
            out.append(contentsOf: escape(scalar).unicodeScalars)
        }
        return String(out)
    }

    /// Whether `scalar` must not reach a terminal or log as it is.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true  // C0 and C1 controls, DEL
        case 0x2028, 0x2029: return true  // line and paragraph separators
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true  // bidirectional marks and overrides
        case 0xFEFF: return true  // zero-width no-break space (a stray byte-order mark)
        default: return false
        }
    }

    private static func escape(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\t": return "\\t"
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\0": return "\\0"
        default:
            let hex = String(scalar.value, radix: 16, uppercase: true)
            if scalar.value < 0x100 { return "\\x" + (hex.count < 2 ? "0" + hex : hex) }
            return "\\u{" + hex + "}"
        }
    }
}
