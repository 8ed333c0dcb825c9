import PythonPackaging

/// What a project's base image says about its Airflow: an Astro Runtime tag, an Apache Airflow
/// image version, or an image Airlock cannot read a version from.
public enum BaseImage: Hashable, Sendable {
    case astroRuntime(RuntimeTag)
    case apacheAirflow(version: Version, python: String?)
    case other(ImageReference)

    /// Registries that publish Astro Runtime images.
    public static let runtimeRepositories: Set<String> = [
        "quay.io/astronomer/astro-runtime",
        "astrocrpublic.azurecr.io/runtime",
    ]

    public init(_ image: ImageReference) {
        let repository = image.canonicalRepository
        if BaseImage.runtimeRepositories.contains(repository), let tagText = image.tag, let tag = RuntimeTag(tagText) {
            self = .astroRuntime(tag)
            return
        }
        if repository == "apache/airflow", let tagText = image.tag, let parsed = BaseImage.parseApacheTag(tagText) {
            self = .apacheAirflow(version: parsed.version, python: parsed.python)
            return
        }
        self = .other(image)
    }

    /// `2.10.5`, `2.10.5-python3.11`, `slim-2.10.5-python3.11`.
    static func parseApacheTag(_ tag: String) -> (version: Version, python: String?)? {
        var text = Substring(tag)
        if text.hasPrefix("slim-") { text = text.dropFirst(5) }
        var python: String?
        if let range = text.range(of: "-python") {
            python = String(text[range.upperBound...])
            text = text[..<range.lowerBound]
            guard let python, python.split(separator: ".").count == 2 else { return nil }
        }
        guard let version = Version(String(text)), version.release.count >= 2 else { return nil }
        return (version, python)
    }
}
