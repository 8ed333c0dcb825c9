import AirlockCore
import AirlockStorage
import Foundation
import Hummingbird

/// Deploy History search and paging on the deployment page: the query (`?search=`, the same parameter
/// as `GET /api/v1/deployments/{name}/deploys`) goes to the store, which filters, counts and pages in SQL.
enum WebHistory {
    /// The page's search, if any; a search longer than `DeploySearch.maximumLength` is a 400 page. Read as
    /// an HTML form sends it (`application/x-www-form-urlencoded`: `+` is a space), which the query
    /// parameters of the URI do not decode.
    static func search(_ request: Request) throws -> DeploySearch? {
        do {
            return try DeploySearch(WebForm.parse(request.uri.query ?? "")["search"])
        } catch {
            throw WebPageError(.badRequest, error.message)
        }
    }

    /// A page of the deployment's history: `offset` and the search (percent-encoded) in the query.
    static func href(_ pathName: String, offset: Int, search: DeploySearch?) -> String {
        var items: [String] = []
        if let search { items.append("search=" + queryValue(search.text)) }
        if offset > 0 { items.append("offset=\(offset)") }
        return "/deployments/\(pathName)" + (items.isEmpty ? "" : "?" + items.joined(separator: "&"))
    }

    /// A query-string value: only unreserved characters stay as they are.
    static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? ""
    }
}

extension DeploySearch {
    /// `?search=` as the API and the pages read it: absent or blank is no search; given twice is refused.
    static func query<S: StringProtocol>(_ values: [S]) throws(AirlockError) -> DeploySearch? {
        guard values.count <= 1 else { throw .usage("`search` must be given at most once") }
        return try DeploySearch(values.first.map { String($0) })
    }
}
