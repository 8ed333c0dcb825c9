import Foundation
import Hummingbird
import NIOCore

/// Reads the JSON body of an API call as the OpenAPI document describes it, or refuses it:
/// - larger than `maximumBytes` → 413 `body_too_large` (read no further than the limit);
/// - not JSON, nested deeper than Foundation's parser allows (512 levels), not an object → 400;
/// - a field the OpenAPI document does not list for the call → 400 (its request schemas say
///   `additionalProperties: false`: a misspelt field is an error, not silently ignored);
/// - a `null` anywhere → 400: no request field is nullable; an optional field is left out instead;
/// - a field of the wrong type or a missing required one → 400 naming the field.
enum JSONRequestBody {
    /// Every request body of the API is a handful of short fields; 64 KiB leaves room for long descriptions.
    static let maximumBytes = 64 * 1024

    /// - Parameters:
    ///   - operation: the call as the OpenAPI document names it (`PATCH /deployments/{name}/settings`).
    ///   - optional: an empty body stands for `{}` (the body of the call is optional).
    static func decode<Body: Decodable>(_ type: Body.Type, from request: Request, operation: String,
                                        optional: Bool = false) async throws -> Body {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBytes)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "body_too_large", "The request body is larger than \(maximumBytes / 1024) KB")
        }
        var data = Data(buffer.readableBytesView)
        if data.isEmpty, optional { data = Data("{}".utf8) }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw invalid("The request body is not JSON (or nests deeper than 512 levels)")
        }
        guard object is [String: Any] else { throw invalid("The request body must be a JSON object") }
        if let shape = OpenAPIDocument.requestShapes[operation], let path = shape.firstUnknownField(in: object, path: "") {
            throw invalid("`\(path)` is not a field of this call (see /api/v1/openapi.json)")
        }
        if let path = firstNull(in: object, path: "") {
            throw invalid("`\(path)` is null; leave a field out instead of sending null")
        }
        do {
            return try JSONDecoder().decode(Body.self, from: data)
        } catch let error as DecodingError {
            throw invalid(describe(error))
        } catch {
            throw invalid("The request body is not valid for this call")
        }
    }

    static func invalid(_ message: String) -> APIError {
        APIError(.badRequest, code: "invalid_body", message)
    }

    /// The path (`git.branch`, `items[2]`) of the first `null` in a parsed JSON value.
    private static func firstNull(in value: Any, path: String) -> String? {
        switch value {
        case is NSNull:
            return path
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                if let found = firstNull(in: object[key]!, path: path.isEmpty ? key : "\(path).\(key)") { return found }
            }
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let found = firstNull(in: element, path: "\(path)[\(index)]") { return found }
            }
        default:
            break
        }
        return nil
    }

    private static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = field(context.codingPath)
            return "`\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)` is required"
        case .typeMismatch(let type, let context):
            return "`\(field(context.codingPath))` must be \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "`\(field(context.codingPath))` must be \(typeName(type))"
        case .dataCorrupted(let context):
            let name = field(context.codingPath)
            return name.isEmpty ? "The request body is not valid JSON" : "`\(name)` has a value this call does not accept"
        @unknown default:
            return "The request body is not valid for this call"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type: "an integer"
        default: "of another type (see /api/v1/openapi.json)"
        }
    }
}

/// The fields a JSON request body may have, as its schema in the OpenAPI document lists them.
struct RequestShape: Sendable {
    /// Each field, with the shape of its value when that is an object with listed properties.
    var properties: [String: RequestShape?]

    /// - Parameter schemas: the document's `components.schemas`, for fields given as a `$ref` to one of them.
    init?(schema: [String: Any], schemas: [String: Any] = [:]) {
        var schema = schema
        if let reference = schema["$ref"] as? String, reference.hasPrefix("#/components/schemas/"),
           let target = schemas[String(reference.dropFirst("#/components/schemas/".count))] as? [String: Any] {
            schema = target
        }
        guard let properties = schema["properties"] as? [String: [String: Any]] else { return nil }
        self.properties = properties.mapValues { RequestShape(schema: $0, schemas: schemas) }
    }

    /// The path of the first key of `value` (recursively) that the schema does not list.
    func firstUnknownField(in value: Any, path: String) -> String? {
        guard let object = value as? [String: Any] else { return nil }
        for key in object.keys.sorted() {
            let field = path.isEmpty ? key : "\(path).\(key)"
            guard let nested = properties[key] else { return field }
            if let nested, let found = nested.firstUnknownField(in: object[key]!, path: field) { return found }
        }
        return nil
    }
}

extension Request {
    /// An integer query parameter: absent → `defaultValue`; repeated, not an integer or outside
    /// `range` → 400 (as the OpenAPI document says).
    func integerQuery(_ name: String, default defaultValue: Int, range: ClosedRange<Int>) throws -> Int {
        let values = uri.queryParameters.getAll(name)
        guard !values.isEmpty else { return defaultValue }
        guard values.count == 1, let value = Int(values[0]), range.contains(value), !values[0].hasPrefix("+") else {
            throw APIError(.badRequest, code: "invalid_request",
                           "`\(name)` must be one integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }
}
