// libFuzzer target: PEP 508 requirements and markers (see scripts/fuzz).
// Properties: parsing never crashes or overflows the stack; the normalised text parses back to the
// same value and prints the same; evaluation never crashes.
import PythonPackaging

let environments = ["3.9", "3.12.1"].map { MarkerEnvironment.linux(python: $0).with(extra: "test") }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequirement(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)

    if let requirement = try? Requirement(parsing: text) {
        let normalised = requirement.description
        let again: Requirement
        do {
            again = try Requirement(parsing: normalised)
        } catch {
            fatalError("Requirement(\(normalised.debugDescription)) does not parse back (from \(text.debugDescription)): \(error)")
        }
        guard again == requirement, again.description == normalised, again.name.raw == requirement.name.raw else {
            fatalError("Requirement round trip changed \(text.debugDescription): \(normalised.debugDescription) -> \(again.description.debugDescription)")
        }
        for environment in environments { _ = requirement.applies(in: environment) }
    }
    if let marker = try? Marker(parsing: text) {
        let normalised = marker.description
        let again: Marker
        do {
            again = try Marker(parsing: normalised)
        } catch {
            fatalError("Marker(\(normalised.debugDescription)) does not parse back (from \(text.debugDescription)): \(error)")
        }
        guard again.description == normalised else {
            fatalError("Marker round trip changed \(text.debugDescription): \(normalised.debugDescription) -> \(again.description.debugDescription)")
        }
        for environment in environments {
            guard marker.evaluate(environment) == again.evaluate(environment) else {
                fatalError("Marker \(text.debugDescription) and its normalised form \(normalised.debugDescription) evaluate differently")
            }
        }
        _ = marker.variables
    }
    return 0
}
