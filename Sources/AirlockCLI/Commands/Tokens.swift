import AirlockCore
import AirlockStorage
import ArgumentParser
import Foundation
import PythonPackaging

extension Airlock {
    /// `airlock token create|list|revoke`: API tokens, through the server's `/api/v1/tokens` (an admin token).
    struct TokenCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "token", abstract: "Create, list and revoke API tokens (admin).",
                                                        subcommands: [Create.self, List.self, Revoke.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a token; prints its secret once.")
            @Option(name: .customLong("name"), help: "What the token is for (ci-prod, alice laptop).") var name: String
            @Option(name: .customLong("role"), help: "viewer, deployer, rollback-images, rollback-dags or admin.") var role: String
            @OptionGroup var server: ServerOptions

            func validate() throws {
                guard Role(rawValue: role) != nil else {
                    throw ValidationError("`--role \(role)` is not a role; use one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }

            func run() async throws {
                struct Body: Encodable { var name: String; var role: String }
                let data = try await server.client.request("POST", "/tokens", body: Body(name: name, role: role))
                if server.json { printOut(String(decoding: data, as: UTF8.self) + "\n"); return }
                struct Created: Decodable { var secret: String; var token: APIToken }
                let created = try server.client.decode(Created.self, data)
                printOut("""
                    Created token \(DisplayText.escaped(created.token.name)) (\(created.token.role.rawValue)), id \(created.token.id).
                    Its secret is shown only now; keep it (for example as AIRLOCK_TOKEN):
                    \(created.secret)

                    """)
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List tokens, revoked ones included (never their secrets).")
            @OptionGroup var server: ServerOptions

            func run() async throws {
                let data = try await server.client.request("GET", "/tokens")
                if server.json { printOut(String(decoding: data, as: UTF8.self) + "\n"); return }
                struct Page: Decodable { var tokens: [APIToken] }
                let page = try server.client.decode(Page.self, data)
                let time = ISO8601DateFormatter()
                printOut(TextTable.render(["ID", "Name", "Role", "Created", "Last used", "State"], page.tokens.map {
                    [$0.id, DisplayText.escaped($0.name), $0.role.rawValue, time.string(from: $0.createdAt),
                     $0.lastUsedAt.map { time.string(from: $0) } ?? "never", $0.revokedAt.map { "revoked \(time.string(from: $0))" } ?? "active"]
                }))
            }
        }

        struct Revoke: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Revoke a token: API calls with it get 401 at once and its web sessions end.")
            @Argument(help: "The token's id (airlock token list).") var id: String
            @OptionGroup var server: ServerOptions

            func run() async throws {
                let data = try await server.client.request("DELETE", "/tokens/\(APIClient.segment(id))")
                if server.json { printOut(String(decoding: data, as: UTF8.self) + "\n"); return }
                let token = try server.client.decode(APIToken.self, data)
                printOut("Revoked token \(DisplayText.escaped(token.name)) (\(token.role.rawValue)), id \(token.id)\n")
            }
        }
    }
}
