// libFuzzer target: the Dockerfile reader (compiled into one module with the AirlockCore files it
// needs; see scripts/fuzz). Properties: reading never crashes; a found base image names a line
// inside the file and its reference prints and parses back the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDockerfile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = UserText.normalized(String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self))
    guard let base = try? DockerfileBase.parse(text, file: "Dockerfile") else { return 0 }
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
    guard base.line >= 1, base.line <= lines else { fatalError("FROM at line \(base.line) of a \(lines)-line file") }
    guard let again = ImageReference(base.image.description), again == base.image else {
        fatalError("Image reference \(base.image.description.debugDescription) does not parse back to itself")
    }
    return 0
}
