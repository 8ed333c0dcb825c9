import AirlockCore
import AirlockToolchain
import Foundation

/// Where a deployment keeps its state under the server's data folder, whatever its target:
///
///     deployments/<deployment id>/
///       releases/<deploy id>/ the deploy's project files and DAGs, plus release.json (its lock)
///       backups/<deploy id>.* (+ .json)  the metadata DB as it was just before that deploy changed it
///       operation.json        the journal of the deploy or rollback in progress (crash recovery)
///
/// A target keeps its own state beside these (the local target: `home/`, `ports.json`).
///
/// Every file is written to a temporary name and renamed, so a crash never leaves half a file.
struct DeploymentWorkspace: Sendable {
    var root: URL

    init(dataDirectory: URL, deploymentId: String) {
        root = dataDirectory.appendingPathComponent("deployments").appendingPathComponent(deploymentId)
    }

    func release(_ deployId: String) -> URL { root.appendingPathComponent("releases").appendingPathComponent(deployId) }
    func releaseRecord(_ deployId: String) -> URL { release(deployId).appendingPathComponent(".airlock-release.json") }
    var backups: URL { root.appendingPathComponent("backups") }
    func backupRecord(_ deployId: String) -> URL { backups.appendingPathComponent("\(deployId).json") }
    var journalFile: URL { root.appendingPathComponent("operation.json") }

    /// Every backup of this deployment, newest first.
    func backupList() -> [BackupRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: backups.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }
            .compactMap { Self.read(backups.appendingPathComponent($0)) as BackupRecord? }
            .filter { FileManager.default.fileExists(atPath: backups.appendingPathComponent($0.file).path) }
            .sorted { $0.info.takenAt > $1.info.takenAt }
    }

    static func read<Value: Decodable>(_ file: URL) -> Value? {
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try? decoder.decode(Value.self, from: data)
    }

    static func write<Value: Encodable>(_ value: Value, to file: URL) throws(AirlockError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970
        do {
            try CacheFile.writeAtomically(try encoder.encode(value), to: file)
        } catch {
            throw .environment("Cannot write `\(file.path)`: \(error.localizedDescription)")
        }
    }
}

/// What a release runs, kept beside its files so a rollback or a restart reuses the lock instead of
/// resolving again ("nothing is rebuilt").
struct ReleaseRecord: Codable, Sendable {
    var deployId: String
    var runtimeVersion: String?
    var airflowVersion: String
    var python: String
    var indexOptions: [String]
    /// `pip freeze` text of the resolved lock.
    var lock: String
    var lockHash: String
    /// The alembic head this environment's Airflow migrates to.
    var schemaHead: String
    /// Kubernetes target: the pushed image, `host:port/repo@sha256:…` (what a rollback redeploys).
    var image: String? = nil
    /// Kubernetes target: the artifacts `image` was built from, so a release of the same ones reuses it.
    var imageSource: String? = nil
}

/// A metadata-DB backup taken just before a deploy changed the schema (rule 7).
struct BackupRecord: Codable, Sendable {
    var info: BackupInfo
    /// The deploy whose switch took it.
    var takenBeforeDeployId: String
    /// File name inside `backups/`.
    var file: String
}

/// The journal of the deploy or rollback in progress. Written before anything running is touched
/// (again once the backup exists) and removed once the outcome is recorded; a server that finds one
/// at start knows a switch was cut short and repairs the deployment (restore the backup, run the
/// current deploy again). Whether the switch got as far as being recorded is read from the store.
struct OperationJournal: Codable, Sendable {
    var deployId: String
    /// The deploy that ran before, for whoever reads the file.
    var previousDeployId: String?
    /// Backup taken in this operation (file name in `backups/`), if any.
    var backupFile: String?
}
