import AirlockCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The OCI distribution API, as much of it as pushing and pulling one image needs: manifests,
/// blob existence, monolithic uploads and cross-repository mounts. No authentication (the
/// deployment's registry is reached on loopback or a private network).
///
/// Every unexpected answer is `AirlockError.environment` naming the method, the URL and the status.
public struct RegistryClient: Sendable {
    /// Seconds for one request; uploads of large layers get `timeout * 10`.
    public var timeout: TimeInterval

    public init(timeout: TimeInterval = 60) {
        self.timeout = timeout
    }

    public struct Manifest: Sendable {
        public var bytes: Data
        public var mediaType: String
        /// `sha256:…` of `bytes`.
        public var digest: String
    }

    /// Fetches the manifest `reference` names; an index or manifest list resolves to its linux/amd64 entry.
    public func manifest(_ reference: RegistryReference) async throws(AirlockError) -> (manifest: OCIManifest, raw: Manifest) {
        var raw = try await rawManifest(reference.apiBase + "/manifests/" + reference.manifestReference)
        if raw.mediaType == ImageMediaType.ociIndex || raw.mediaType == ImageMediaType.dockerManifestList {
            guard let index = try? JSONDecoder().decode(OCIIndex.self, from: raw.bytes),
                  let entry = index.manifests.first(where: { $0.platform?.os == "linux" && $0.platform?.architecture == "amd64" }) else {
                throw .environment("The image `\(reference)` has no linux/amd64 manifest")
            }
            raw = try await rawManifest(reference.apiBase + "/manifests/" + entry.digest)
        }
        do {
            return (try JSONDecoder().decode(OCIManifest.self, from: raw.bytes), raw)
        } catch {
            throw .environment("The manifest of `\(reference)` is not an image manifest (\(raw.mediaType)): \(error)")
        }
    }

    private func rawManifest(_ url: String) async throws(AirlockError) -> Manifest {
        let (data, response) = try await send("GET", url, headers: ["Accept": ImageMediaType.acceptedManifests.joined(separator: ", ")], expect: [200])
        let type = response.value(forHTTPHeaderField: "Content-Type")?.split(separator: ";").first.map(String.init)
            ?? (try? JSONDecoder().decode(OCIManifest.self, from: data))?.mediaType ?? ImageMediaType.ociManifest
        return Manifest(bytes: data, mediaType: type, digest: BlobHasher.digest(data))
    }

    /// True when `repository` already has the blob.
    public func hasBlob(_ digest: String, in image: RegistryReference) async throws(AirlockError) -> Bool {
        let (_, response) = try await send("HEAD", image.apiBase + "/blobs/" + digest, expect: [200, 404])
        return response.statusCode == 200
    }

    /// The bytes of a (small) blob: configs.
    public func blob(_ digest: String, in image: RegistryReference) async throws(AirlockError) -> Data {
        let (data, _) = try await send("GET", image.apiBase + "/blobs/" + digest, expect: [200])
        guard BlobHasher.digest(data) == digest else {
            throw .environment("The registry answered `\(image.apiBase)/blobs/\(digest)` with bytes of another digest")
        }
        return data
    }

    /// Downloads a blob into `file` and checks its digest (base layers copied between registries).
    public func downloadBlob(_ digest: String, in image: RegistryReference, to file: URL) async throws(AirlockError) {
        let url = image.apiBase + "/blobs/" + digest
        let session = makeSession(resourceTimeout: timeout * 10)
        defer { session.finishTasksAndInvalidate() }
        let (temporary, response): (URL, URLResponse)
        do { (temporary, response) = try await session.download(for: request("GET", url)) } catch {
            throw .environment("Cannot reach the registry at `\(url)`: \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else { throw .environment("The registry answered GET `\(url)` with HTTP \(status)") }
        try? FileManager.default.removeItem(at: file)
        do { try FileManager.default.moveItem(at: temporary, to: file) } catch {
            throw .environment("Cannot keep the downloaded blob `\(digest)`: \(error.localizedDescription)")
        }
        guard try fileDigest(file) == digest else { throw .environment("The blob `\(url)` does not match its digest") }
    }

    /// Asks the registry to link a blob from another repository of the same registry. True when it
    /// did (201); false when it offered an upload instead (the caller uploads).
    public func mountBlob(_ digest: String, from source: RegistryReference, into target: RegistryReference) async throws(AirlockError) -> Bool {
        let url = target.apiBase + "/blobs/uploads/?mount=\(digest)&from=\(source.repository)"
        let (_, response) = try await send("POST", url, expect: [201, 202])
        if response.statusCode == 202, let location = response.value(forHTTPHeaderField: "Location") {
            // Cancel the upload session the registry opened instead; the caller starts its own.
            _ = try? await send("DELETE", absolute(location, target), expect: [204, 404])
        }
        return response.statusCode == 201
    }

    /// Uploads a blob in one request (POST for a session, then PUT with `?digest=`).
    public func uploadBlob(_ digest: String, file: URL, into target: RegistryReference) async throws(AirlockError) {
        let data: Data
        do { data = try Data(contentsOf: file, options: .alwaysMapped) } catch {
            throw .environment("Cannot read the blob `\(file.path)`: \(error.localizedDescription)")
        }
        try await uploadBlob(digest, data: data, into: target)
    }

    public func uploadBlob(_ digest: String, data: Data, into target: RegistryReference) async throws(AirlockError) {
        let start = target.apiBase + "/blobs/uploads/"
        let (_, response) = try await send("POST", start, expect: [202])
        guard let location = response.value(forHTTPHeaderField: "Location") else {
            throw .environment("The registry answered POST `\(start)` without a Location header")
        }
        var url = absolute(location, target)
        url += (url.contains("?") ? "&" : "?") + "digest=" + digest
        _ = try await send("PUT", url, headers: ["Content-Type": "application/octet-stream"], body: data, expect: [201],
                           resourceTimeout: timeout * 10)
    }

    /// PUTs a manifest under `reference` (a tag, or the digest itself) and returns its digest.
    public func putManifest(_ bytes: Data, mediaType: String, into target: RegistryReference, reference: String) async throws(AirlockError) -> String {
        let digest = BlobHasher.digest(bytes)
        let url = target.apiBase + "/manifests/" + reference
        let (_, response) = try await send("PUT", url, headers: ["Content-Type": mediaType], body: bytes, expect: [201])
        if let answered = response.value(forHTTPHeaderField: "Docker-Content-Digest"), answered != digest {
            throw .environment("The registry stored the manifest at `\(url)` as `\(answered)`, not `\(digest)`")
        }
        return digest
    }

    // MARK: - HTTP

    private func absolute(_ location: String, _ image: RegistryReference) -> String {
        location.hasPrefix("http://") || location.hasPrefix("https://") ? location : "\(image.scheme)://\(image.registry)\(location)"
    }

    private func request(_ method: String, _ url: String, headers: [String: String] = [:]) throws(AirlockError) -> URLRequest {
        guard let parsed = URL(string: url) else { throw .usage("`\(url)` is not a valid registry URL") }
        var request = URLRequest(url: parsed, timeoutInterval: timeout)
        request.httpMethod = method
        request.setValue("airlock/\(AirlockVersion.current)", forHTTPHeaderField: "User-Agent")
        for (key, value) in headers { request.setValue(value, forHTTPHeaderField: key) }
        return request
    }

    private func makeSession(resourceTimeout: TimeInterval) -> URLSession {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = resourceTimeout
        return URLSession(configuration: configuration)
    }

    private func send(_ method: String, _ url: String, headers: [String: String] = [:], body: Data? = nil, expect: Set<Int>,
                      resourceTimeout: TimeInterval? = nil) async throws(AirlockError) -> (Data, HTTPURLResponse) {
        var request = try request(method, url, headers: headers)
        let session = makeSession(resourceTimeout: resourceTimeout ?? timeout * 3)
        defer { session.finishTasksAndInvalidate() }
        let data: Data, response: URLResponse
        do {
            if let body {
                request.setValue(String(body.count), forHTTPHeaderField: "Content-Length")
                (data, response) = try await session.upload(for: request, from: body)
            } else {
                (data, response) = try await session.data(for: request)
            }
        } catch {
            throw .environment("Cannot reach the registry at \(method) `\(url)`: \(error.localizedDescription)",
                               hint: "check that the registry is running and the reference's host and port")
        }
        guard let http = response as? HTTPURLResponse else { throw .environment("The registry at `\(url)` did not answer over HTTP") }
        guard expect.contains(http.statusCode) else {
            let detail = String(decoding: data.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .environment("The registry answered \(method) `\(url)` with HTTP \(http.statusCode)\(detail.isEmpty ? "" : ": " + detail)")
        }
        return (data, http)
    }
}

/// `sha256:…` of a file, read in chunks.
func fileDigest(_ file: URL) throws(AirlockError) -> String {
    guard let handle = FileHandle(forReadingAtPath: file.path) else { throw .environment("Cannot read `\(file.path)`") }
    defer { try? handle.close() }
    let hasher = BlobHasher()
    while true {
        let chunk: Data
        do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() } catch { throw .environment("Cannot read `\(file.path)`: \(error.localizedDescription)") }
        if chunk.isEmpty { break }
        chunk.withUnsafeBytes { hasher.update($0) }
    }
    return hasher.finalize()
}
