import AirlockCore
import Foundation

/// Where deployments, their deploys, audit events and API tokens are kept.
///
/// One contract, several implementations (SQLite now, PostgreSQL next), so the server and the
/// rollback executor never depend on the database in use. Writes that belong together happen
/// in one transaction.
public protocol DeployHistoryStore: Sendable {
}
