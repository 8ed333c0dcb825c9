/// The error thrown when a version, specifier, requirement or marker does not follow the
/// Python packaging standards. `message` says what is wrong and, for PEP 508 text, where.
public struct PackagingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Human-readable explanation, e.g. "Expected a version after `==` at column 7".
    public var message: String
    /// 1-based column in the parsed text where the problem was found, when known.
    public var column: Int?

    public init(message: String, column: Int? = nil) {
        self.message = message
        self.column = column
    }

    public var description: String { message }
}

// MARK: - Small scanning helpers shared by the parsers (internal)

extension Unicode.Scalar {
    /// Python's `str.isspace()` / regex `\s` for str patterns.
    @inline(__always)
    var isPythonWhitespace: Bool {
        switch value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A,
             0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    @inline(__always)
    var isASCIIDigit: Bool { value >= 0x30 && value <= 0x39 }

    @inline(__always)
    var isASCIILetter: Bool { (value >= 0x41 && value <= 0x5A) || (value >= 0x61 && value <= 0x7A) }

    @inline(__always)
    var isASCIIAlphanumeric: Bool { isASCIIDigit || isASCIILetter }

    /// ASCII lower-casing; other scalars are returned unchanged.
    @inline(__always)
    var asciiLowercased: Unicode.Scalar {
        if value >= 0x41 && value <= 0x5A, let s = Unicode.Scalar(value + 0x20) { return s }
        return self
    }

    /// Python regex `\w` for str patterns (Unicode word character).
    var isPythonWordCharacter: Bool {
        if value < 0x80 { return isASCIIAlphanumeric || value == 0x5F }
        return properties.isAlphabetic || properties.numericType != nil
    }
}

/// Python's `str.strip()` on an array of scalars: the half-open range without surrounding whitespace.
func pythonStrippedRange(_ s: [Unicode.Scalar]) -> Range<Int> {
    var lo = 0
    var hi = s.count
    while lo < hi && s[lo].isPythonWhitespace { lo += 1 }
    while hi > lo && s[hi - 1].isPythonWhitespace { hi -= 1 }
    return lo..<hi
}

/// Python's `str.strip()`.
func pythonStrip(_ text: String) -> String {
    let view = text.unicodeScalars
    guard let first = view.first, let last = view.last else { return text }
    if !first.isPythonWhitespace && !last.isPythonWhitespace { return text }
    let scalars = Array(view)
    let range = pythonStrippedRange(scalars)
    if range.count == scalars.count { return text }
    return makeString(scalars[range])
}

func makeString<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)
}

extension Array where Element == Unicode.Scalar {
    /// Does the text at `index` start with the ASCII `word`, compared case-insensitively?
    func hasASCIIPrefix(_ word: StaticString, at index: Int, caseInsensitive: Bool) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= self.count else { return false }
        var i = 0
        return word.withUTF8Buffer { buffer -> Bool in
            while i < count {
                let expected = buffer[i]
                let actual = self[index + i]
                if caseInsensitive {
                    if actual.asciiLowercased.value != UInt32(expected) { return false }
                } else if actual.value != UInt32(expected) {
                    return false
                }
                i += 1
            }
            return true
        }
    }
}
