// libFuzzer target: the `.env` reader (compiled into one module with the AirlockCore files it
// needs; see scripts/fuzz). Properties: reading never crashes; keys are never empty and never hold
// blanks or `=`; CRLF and LF files read the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDotEnv(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let values = DotEnv.parse(UserText.normalized(text))
    for key in values.keys {
        guard !key.isEmpty, !key.contains(" "), !key.contains("\t"), !key.contains("=") else {
            fatalError(".env key \(key.debugDescription) from \(text.debugDescription)")
        }
    }
    if !text.contains("\r") {
        let crlf = text.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
        guard DotEnv.parse(UserText.normalized(crlf)) == values else {
            fatalError(".env reads differently with CRLF line endings: \(text.debugDescription)")
        }
    }
    return 0
}
