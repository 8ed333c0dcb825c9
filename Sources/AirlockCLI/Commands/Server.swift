import AirlockCore
import AirlockServer
import AirlockStorage
import ArgumentParser
import Foundation
import Hummingbird

extension Airlock {
    /// `airlock server`: the deploy-history REST API (SPEC §4.4), on loopback by default.
    struct Server: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the deploy-history server (REST API under /api/v1).",
            discussion: "On first start it writes an admin API token to DIR/admin-token (mode 0600).")

        @Option(name: .customLong("data-dir"), help: "Folder for the SQLite database and artifacts.")
        var dataDir: String

        @Option(name: .customLong("database-url"), help: "PostgreSQL URL (postgresql://user[:password]@host[:port]/database); default SQLite in --data-dir.")
        var databaseURL: String?

        @Option(name: .customLong("port"), help: "TCP port.")
        var port: Int = 8765

        @Option(name: .customLong("host"), help: "Address to bind (default loopback). Beyond loopback, reads need a token too.")
        var host: String = "127.0.0.1"

        @Flag(name: .customLong("require-token-for-reads"), help: "Reads need an API token too (always so beyond loopback).")
        var requireTokenForReads = false

        @Option(name: .customLong("constraints-source"),
                help: "Folder or URL with Airflow constraints files for every deploy's environment (default: Apache's on GitHub).")
        var constraintsSource: String?

        func run() async throws {
            let folder = URL(fileURLWithPath: dataDir).standardizedFileURL
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw AirlockError.usage("Cannot create the data folder `\(folder.path)`: \(error.localizedDescription)")
            }
            // The server is the store's only writer; counting its writes lets it reuse encoded history pages.
            let store = ChangeCountingStore(try await DeployHistoryStoreOpener.open(databaseURL: databaseURL, dataDirectory: folder))
            if let tokenFile = try await AirlockServerBuilder.ensureAdminToken(store: store, dataDirectory: folder) {
                FileHandle.standardError.write(Data("Wrote an admin API token to \(tokenFile)\n".utf8))
            }
            let constraints = constraintsSource.map { ConstraintsArgument.absolute($0, cwd: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) }
            if let constraints, !constraints.contains("://") {
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: constraints, isDirectory: &isFolder), isFolder.boolValue else {
                    throw AirlockError.usage("--constraints-source `\(constraints)` is not a folder")
                }
            }
            let configuration = ServerConfiguration(host: host, port: port, dataDirectory: folder, requireTokenForReads: requireTokenForReads,
                                                    constraintsSource: constraints)
            let coordinator = AirlockServerBuilder.coordinator(configuration: configuration, store: store)
            // Deployments that ran before this start run again (and an interrupted switch is undone), while the
            // server already serves: /api/v1/health answers 503 `starting` until the repairs have run.
            try await coordinator.beginReconcile()
            let app = AirlockServerBuilder.application(configuration: configuration, store: store, coordinator: coordinator)
            FileHandle.standardError.write(Data("Airlock server on http://\(host):\(port)/ (web UI; API at /api/v1)\n".utf8))
            let ended: (any Error)?
            do { try await app.runService(); ended = nil } catch { ended = error }
            // Airflow stops however the service ended: a graceful stop (SIGTERM) cancels the services,
            // and one that throws `CancellationError` must not leave the deployments running.
            await coordinator.shutdown()
            if let ended, !(ended is CancellationError) { throw ended }
        }
    }
}

/// `airlock server --constraints-source` is read by the server for as long as it runs: local paths go absolute.
enum ConstraintsArgument {
    static func absolute(_ value: String, cwd: URL) -> String {
        value.contains("://") ? value : URL(fileURLWithPath: value, relativeTo: cwd).standardizedFileURL.path
    }
}
