import AirlockCore
import Foundation

/// A folder of finished layer blobs (`blobs/<hex>.tar.gz`), plus a key → blob index so a layer
/// whose inputs did not change (the same lock for the environment) is never packed again.
public struct LayerStore: Sendable {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    /// Packs the tree under `folder` into a layer placed at `imagePath` in the image (e.g.
    /// `/opt/airlock/environment`). Symlinks are stored as links; other special files are refused.
    /// - Parameter key: when given and a layer was already packed under it, that layer is returned
    ///   unchanged (callers key the environment layer by the lock's hash and the platform).
    public func folderLayer(_ folder: URL, at imagePath: String, key: String? = nil) throws(AirlockError) -> LayerBlob {
        try layer(key: key) { writer throws(AirlockError) in
            var items = LayerItems(root: imagePath)
            try items.addFolder(folder.standardizedFileURL.path, as: items.rootPath)
            try items.write(to: writer)
        }
    }

    /// Packs `entries` (paths relative to `imagePath`, as `ProjectBundle` produces them) into a layer.
    public func entriesLayer(_ entries: [TarArchive.Entry], at imagePath: String, key: String? = nil) throws(AirlockError) -> LayerBlob {
        try layer(key: key) { writer throws(AirlockError) in
            var items = LayerItems(root: imagePath)
            for entry in entries { items.add(entry) }
            try items.write(to: writer)
        }
    }

    /// The layer recorded under `key`, if its blob is still there.
    public func cached(key: String) -> LayerBlob? {
        guard let data = FileManager.default.contents(atPath: keyFile(key).path),
              let blob = try? JSONDecoder().decode(LayerBlob.self, from: data),
              FileManager.default.fileExists(atPath: blob.file.path) else { return nil }
        return blob
    }

    private func keyFile(_ key: String) -> URL {
        directory.appendingPathComponent("keys").appendingPathComponent(SHA256.hex(key) + ".json")
    }

    private func layer(key: String?, _ body: (LayerTarWriter) throws(AirlockError) -> Void) throws(AirlockError) -> LayerBlob {
        if let key, let blob = cached(key: key) { return blob }
        let blobs = directory.appendingPathComponent("blobs")
        do {
            try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("keys"), withIntermediateDirectories: true)
        } catch {
            throw .environment("Cannot create the layer store `\(directory.path)`: \(error.localizedDescription)")
        }
        let staging = blobs.appendingPathComponent(".staging-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: staging) }
        let writer = try LayerTarWriter(file: staging)
        try body(writer)
        var blob = try writer.finish()
        let final = blobs.appendingPathComponent(String(blob.digest.dropFirst("sha256:".count)) + ".tar.gz")
        // Same digest = same bytes: an existing file is already this layer.
        if !FileManager.default.fileExists(atPath: final.path) {
            guard rename(staging.path, final.path) == 0 else { throw .environment("Cannot move the layer into `\(final.path)`") }
        }
        blob.file = final
        if let key {
            let data = (try? JSONEncoder().encode(blob)) ?? Data()
            try? data.write(to: keyFile(key), options: .atomic)
        }
        return blob
    }
}

/// The entries of one layer before writing: sorted by path bytes, with every parent folder of the
/// layer's root present (owned by root, 0755), so the tar is the same whatever order they came in.
struct LayerItems {
    enum Item {
        case directory(mode: Int)
        case file(mode: Int, source: String, size: Int64)
        case contents(mode: Int, bytes: [UInt8])
        case symlink(target: String)
    }

    /// The layer's root in the image, without leading or trailing slashes (`opt/airflow`).
    let rootPath: String
    private(set) var items: [String: Item] = [:]

    init(root: String) {
        rootPath = root.split(separator: "/").joined(separator: "/")
    }

    mutating func add(_ entry: TarArchive.Entry) {
        let path = rootPath.isEmpty ? entry.path : rootPath + "/" + entry.path
        switch entry.kind {
        case .file: items[path] = .contents(mode: entry.mode, bytes: entry.contents)
        case .directory: items[path] = .directory(mode: entry.mode)
        case .symlink: items[path] = .symlink(target: entry.linkTarget ?? "")
        }
    }

    mutating func addFolder(_ folder: String, as path: String) throws(AirlockError) {
        var info = stat()
        guard lstat(folder, &info) == 0 else { throw .usage("Cannot read the folder `\(folder)`") }
        if !path.isEmpty { items[path] = .directory(mode: Int(info.st_mode) & 0o7777) }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw .usage("Cannot read the folder `\(folder)`: \(error.localizedDescription)")
        }
        for name in names {
            let source = folder + "/" + name
            let entryPath = path.isEmpty ? name : path + "/" + name
            guard lstat(source, &info) == 0 else { throw .usage("Cannot read `\(source)`") }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: try addFolder(source, as: entryPath)
            case S_IFREG: items[entryPath] = .file(mode: Int(info.st_mode) & 0o7777, source: source, size: Int64(info.st_size))
            case S_IFLNK:
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: source) else { throw .usage("Cannot read the link `\(source)`") }
                items[entryPath] = .symlink(target: target)
            default:
                throw .usage("`\(source)` is a device, socket or pipe; image layers hold files, folders and symlinks only")
            }
        }
    }

    func write(to writer: LayerTarWriter) throws(AirlockError) {
        var all = items
        var parent = ""
        for component in rootPath.split(separator: "/") {
            parent = parent.isEmpty ? String(component) : parent + "/" + component
            if all[parent] == nil { all[parent] = .directory(mode: 0o755) }
        }
        // Folders implied by entries (ProjectBundle lists files only).
        for path in items.keys {
            var ancestor = Substring(path)
            while let slash = ancestor.lastIndex(of: "/") {
                ancestor = ancestor[..<slash]
                if all[String(ancestor)] == nil { all[String(ancestor)] = .directory(mode: 0o755) }
            }
        }
        for path in all.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            switch all[path]! {
            case .directory(let mode): try writer.directory(path, mode: mode)
            case .file(let mode, let source, let size): try writer.file(path, mode: mode, from: source, size: size)
            case .contents(let mode, let bytes): try writer.file(path, mode: mode, contents: bytes)
            case .symlink(let target): try writer.symlink(path, target: target)
            }
        }
    }
}
