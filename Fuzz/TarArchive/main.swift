// libFuzzer target: the deploy-bundle tar reader (compiled into one module with the AirlockCore
// files it needs; see scripts/fuzz). Properties: reading never crashes; an archive it accepts
// writes back (`bytes()`) to an archive that reads to the same entries.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTarArchive(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = TarArchive.Limits(maxEntries: 1_000, maxTotalBytes: 1 << 20)
    guard let archive = try? TarArchive.read(bytes, limits: limits) else { return 0 }
    for entry in archive.entries {
        guard !entry.path.hasPrefix("/"), !entry.path.split(separator: "/").contains("..") else {
            fatalError("Accepted entry path \(entry.path.debugDescription)")
        }
    }
    let again: TarArchive
    do {
        again = try TarArchive.read(archive.bytes(), limits: limits)
    } catch {
        fatalError("An accepted archive does not read back after bytes(): \(error)")
    }
    guard again.entries.map(\.path) == archive.entries.map(\.path), again.entries.map(\.kind) == archive.entries.map(\.kind),
          again.entries.map(\.contents) == archive.entries.map(\.contents), again.entries.map(\.linkTarget) == archive.entries.map(\.linkTarget) else {
        fatalError("An accepted archive reads back different entries after bytes()")
    }
    return 0
}
