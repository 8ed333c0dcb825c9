import AirlockCore
import AirlockStorage
import Foundation
import Hummingbird

/// The environment variables section of Settings (`POST /deployments/{name}/settings/environment`):
/// add, change and remove one variable per form, plain HTML that works without JavaScript. The rules
/// are `EnvironmentVariables` (the API's `PATCH …/settings` uses the same), the change goes through
/// `store.updateSettings`, which writes the `deployment.settings` audit event (names only, never values).
/// Secret values (`EnvironmentVariables.looksSecret`) never leave the server: the page shows the mask,
/// and changing one means typing a new value.
struct EnvironmentVariablesView {
    struct Row {
        var key: String
        /// `nil` for a secret: never sent to the browser.
        var value: String?
        var secret: Bool
        /// What the change form's field holds: the value, or what was typed when a change was refused
        /// (empty for secrets).
        var inputValue: String
    }

    var rows: [Row]
    var hasRows: Bool
    var canEdit: Bool
    var error: String?
    /// The add form's fields after a refused add (a secret value is not sent back).
    var typedKey: String?
    var typedValue: String?
    var maskedValue = EnvironmentVariables.maskedValue
    var maximumKeyLength = EnvironmentVariables.maximumKeyLength
}

/// A refused change, to show again with what was typed.
struct EnvironmentVariablesRefusal {
    var message: String
    var action: String
    var key: String
    /// `nil` when it looks secret.
    var value: String?
}

extension WebUI {
    static func environmentVariablesView(_ settings: DeploymentSettings, canEdit: Bool,
                                         refusal: EnvironmentVariablesRefusal?) -> EnvironmentVariablesView {
        let rows = settings.environmentVariables.sorted { $0.key < $1.key }.map { key, value in
            let secret = EnvironmentVariables.looksSecret(key: key, value: value)
            let typed = refusal.flatMap { $0.action == "change" && $0.key == key ? ($0.value ?? "") : nil }
            return EnvironmentVariablesView.Row(key: key, value: secret ? nil : value, secret: secret,
                                                inputValue: typed ?? (secret ? "" : value))
        }
        let adding = refusal?.action == "add" ? refusal : nil
        return EnvironmentVariablesView(rows: rows, hasRows: !rows.isEmpty, canEdit: canEdit, error: refusal?.message,
                                        typedKey: adding?.key, typedValue: adding?.value)
    }

    func changeEnvironmentVariable(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let form = try await WebForm.read(request)
        let session = try await writer(request, form: form, needs: .admin)
        var deployment = try await deployment(context)
        let action = form["action"] ?? ""
        guard ["add", "change", "remove"].contains(action) else {
            throw WebPageError(.badRequest, "The form says neither add, change nor remove")
        }
        let key = (form["key"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let value = form["value"] ?? ""
        let current = deployment.settings.environmentVariables[key]
        do throws(AirlockError) {
            switch action {
            case "add":
                try EnvironmentVariables.validateKey(key)
                if current != nil { throw .usage("`\(key)` is already set; change its value in the table above") }
                try deployment.settings.setEnvironmentVariable(key, to: value)
            case "change":
                guard let current else { throw .usage("There is no environment variable `\(key)` (it may have been removed meanwhile)") }
                if value.isEmpty, EnvironmentVariables.looksSecret(key: key, value: current) {
                    throw .usage("Type the new value of `\(key)`: a secret's value is never shown, so it cannot be edited in place")
                }
                try deployment.settings.setEnvironmentVariable(key, to: value)
            default:
                guard deployment.settings.removeEnvironmentVariable(key) else {
                    throw .usage("There is no environment variable `\(key)` to remove (it may have been removed meanwhile)")
                }
            }
        } catch {
            let secret = EnvironmentVariables.looksSecret(key: key, value: value) || current.map { EnvironmentVariables.looksSecret(key: key, value: $0) } == true
            let refusal = EnvironmentVariablesRefusal(message: error.message, action: action, key: key, value: secret ? nil : value)
            return try await settingsPage(request, context, saved: false, refusal: refusal, status: .unprocessableContent)
        }
        try await store.updateSettings(deploymentId: deployment.id, settings: deployment.settings, actor: session.tokenName)
        return Response(status: .seeOther, headers: [.location: "/deployments/\(Self.pathSegment(deployment.name))/settings?saved=1#environment"])
    }
}
