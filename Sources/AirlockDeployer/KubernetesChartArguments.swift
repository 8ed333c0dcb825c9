import AirlockCore
import Foundation

extension KubernetesDeployTarget {
    /// What `helm upgrade --install RELEASE` is given (and `helm template RELEASE`, in the tests): the
    /// chart, its version, the user's values file as written, then only what a deploy owns, under the
    /// chart's keys (`KubernetesSettings.deployValues`: the official chart's unless mapped). `image` is
    /// `REPOSITORY@DIGEST`.
    static func chartArguments(_ kubernetes: KubernetesSettings, image: String, airflowVersion: String,
                               metadataSecretName: String) throws(AirlockError) -> [String] {
        guard let byDigest = ImageByDigest(image) else { throw .environment("The image `\(image)` is not a reference by digest") }
        var arguments = [kubernetes.chart]
        if let version = kubernetes.chartVersion { arguments += ["--version", version] }
        if let values = kubernetes.valuesFile {
            guard FileManager.default.isReadableFile(atPath: values) else {
                throw .usage("The values file `\(values)` of deployment settings `valuesFile` cannot be read on the server's machine")
            }
            arguments += ["--values", values]
        }
        let owned = try kubernetes.deployValues(imageRepository: byDigest.repository, imageDigest: byDigest.digest,
                                                airflowVersion: airflowVersion, metadataSecretName: metadataSecretName)
        for value in owned {
            switch value.value {
            case .string(let text): arguments += ["--set-string", "\(value.key)=\(text)"]
            case .bool(let flag): arguments += ["--set", "\(value.key)=\(flag)"]
            }
        }
        return arguments
    }
}
