import AirlockCore
import AirlockToolchain
import AirlockUpgradeTest
import ArgumentParser
import Foundation

extension Airlock {
    /// `airlock cache`: what Airlock keeps to be fast (environments, resolutions, tools, feeds).
    struct Cache: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "See and prune Airlock's cache of environments, resolutions and tools.",
            subcommands: [List.self, Prune.self])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List cached environments and the cache's size.")

            @Flag(name: .customLong("json"), help: "Print JSON.")
            var json = false

            func run() async throws {
                let paths = AirlockPaths.fromEnvironment()
                let environments = CacheInventory.environments(paths)
                if json {
                    printOut(try ReportWriter.json(CacheInventory.Listing(root: paths.cacheRoot.path, environments: environments,
                                                                          resolutions: CacheInventory.count(paths.resolutions))))
                    return
                }
                printOut("Cache: \(paths.cacheRoot.path)\n\n")
                printOut(TextTable.render(["Environment", "Python", "Size", "Last used"], environments.map {
                    [$0.root.lastPathComponent, $0.python, CacheInventory.format(bytes: $0.bytes), $0.lastUsed.map(CacheInventory.format(date:)) ?? ""]
                }))
                printOut("\n\(CacheInventory.count(paths.resolutions)) cached resolutions\n")
            }
        }

        struct Prune: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove environments and resolutions not used recently.")

            @Option(name: .customLong("older-than"), help: "Remove what was not used for this many days.")
            var days: Int = 30

            @Flag(name: .customLong("all"), help: "Remove every environment and resolution.")
            var all = false

            func run() async throws {
                let paths = AirlockPaths.fromEnvironment()
                let cutoff = all ? Date.distantFuture : Date().addingTimeInterval(-Double(days) * 86_400)
                let removed = CacheInventory.prune(paths, usedBefore: cutoff)
                printOut("Removed \(removed.environments) environment(s) and \(removed.resolutions) resolution(s), \(CacheInventory.format(bytes: removed.bytes)) freed\n")
            }
        }
    }
}

/// Reading and pruning the cache folders.
enum CacheInventory {
    struct Listing: Encodable {
        var root: String
        var environments: [CachedEnvironment]
        var resolutions: Int
    }

    static func environments(_ paths: AirlockPaths) -> [CachedEnvironment] {
        EnvironmentBuilder.list(paths)
    }

    static func count(_ folder: URL) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".txt") || $0.hasSuffix(".conflict") }.count
    }

    static func prune(_ paths: AirlockPaths, usedBefore cutoff: Date) -> (environments: Int, resolutions: Int, bytes: Int64) {
        var environments = 0, resolutions = 0
        var bytes: Int64 = 0
        for environment in EnvironmentBuilder.list(paths) where (environment.lastUsed ?? .distantPast) < cutoff {
            if (try? FileManager.default.removeItem(at: environment.root)) != nil {
                environments += 1
                bytes += environment.bytes
            }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: paths.resolutions.path)) ?? [] {
            let url = paths.resolutions.appendingPathComponent(name)
            let modified = (try? FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? .distantPast
            if modified < cutoff, (try? FileManager.default.removeItem(at: url)) != nil { resolutions += 1 }
        }
        return (environments, resolutions, bytes)
    }

    static func format(bytes: Int64) -> String {
        ByteCountFormatter.string(fromByteCount: bytes, countStyle: .file)
    }

    static func format(date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}
