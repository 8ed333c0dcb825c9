import AirlockCore
import AirlockToolchain
import AirlockUpgradeTest
import ArgumentParser
import Foundation

extension Airlock {
    /// `airlock runtimes`: the runtime catalog Airlock selects targets from.
    struct Runtimes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List Astro Runtime versions (or Apache Airflow releases) with their Airflow, Python, dates and flags.")

        @Flag(name: .customLong("latest"), help: "Only the latest stable, non-yanked version.")
        var latest = false

        @Flag(name: .customLong("airflow"), help: "List Apache Airflow releases from the package index instead of runtimes.")
        var airflow = false

        @Option(name: .customLong("runtime-feed"), help: "Runtime feed file or URL to use instead of Astronomer's live feed.")
        var runtimeFeed: String?

        @Flag(name: .customLong("offline"), help: "Use cached and bundled data only.")
        var offline = false

        @Flag(name: .customLong("json"), help: "Print JSON.")
        var json = false

        func run() async throws {
            let loaded = await CatalogLoader(paths: .fromEnvironment(), feedLocation: runtimeFeed, offline: offline).load()
            let printer = ProgressPrinter(json: json)
            for warning in loaded.warnings { printer.handle(.warning(warning)) }
            let catalog = loaded.catalog
            if airflow {
                var releases = catalog.airflowReleases
                if latest { releases = catalog.latestAirflow.map { [$0] } ?? [] }
                if json {
                    printOut(try ReportWriter.json(releases))
                } else {
                    printOut(TextTable.render(["Airflow", "Released", "Requires Python", "Yanked"], releases.map {
                        [$0.version, $0.releaseDate ?? "", $0.requiresPython ?? "", $0.yanked ? "yes" : ""]
                    }))
                    printer.handle(.note("Source: \(loaded.releasesSource)"))
                }
                return
            }
            var runtimes = catalog.runtimes
            if latest {
                guard let newest = catalog.latestRuntime else {
                    throw AirlockError.environment("The runtime catalog has no stable, non-yanked runtime")
                }
                runtimes = [newest]
            }
            if json {
                printOut(try ReportWriter.json(runtimes))
                return
            }
            printOut(TextTable.render(
                ["Runtime", "Airflow", "Python", "Released", "Channel", "End of maint.", "DB migration", "Yanked"],
                runtimes.map {
                    [$0.version.description, $0.airflowVersion, $0.defaultPython, $0.releaseDate ?? "", $0.channel,
                     $0.endOfMaintenance ?? "", $0.databaseMigration.map { $0 ? "yes" : "no" } ?? "?",
                     $0.yanked ? "yes" + ($0.yankedReason.map { ": \($0)" } ?? "") : ""]
                }))
            printer.handle(.note("Source: \(loaded.feedSource)"))
        }
    }
}
