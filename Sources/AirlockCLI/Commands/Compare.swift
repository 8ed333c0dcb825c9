import AirlockCore
import AirlockUpgradeTest
import ArgumentParser
import Foundation

extension Airlock {
    /// `airlock compare`: the version test's comparison for two freeze files you already have.
    struct Compare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two pip freeze / constraints files the way dependency_compare.txt does.")

        @Argument(help: "The current freeze file.")
        var old: String

        @Argument(help: "The target freeze file.")
        var new: String

        @Flag(name: .customLong("json"), help: "Print the changes as JSON.")
        var json = false

        @Option(name: .customLong("repeat"), help: .hidden)
        var repetitions: Int = 1

        func run() async throws {
            let oldText = try Self.read(old), newText = try Self.read(new)
            var diff = DependencyDiff(from: PinnedSet(), to: PinnedSet())
            var timings: [Double] = []
            for _ in 0..<max(1, repetitions) {
                let started = DispatchTime.now().uptimeNanoseconds
                diff = DependencyDiff(from: PinnedSet(freezeText: oldText), to: PinnedSet(freezeText: newText))
                _ = diff.compareText
                timings.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
            }
            if repetitions > 1 {
                let sorted = timings.sorted()
                FileHandle.standardError.write(Data(String(format: "parse+diff+render: median %.3f ms, p99 %.3f ms over %d runs\n",
                                                           sorted[sorted.count / 2], sorted[min(sorted.count - 1, sorted.count * 99 / 100)], sorted.count).utf8))
            }
            if json {
                printOut(try ReportWriter.json(UpgradeTestReport.VersionTest(diff: diff)))
            } else {
                printOut(diff.compareText)
            }
        }

        static func read(_ path: String) throws(AirlockError) -> String {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .usage("Cannot read `\(path)`")
            }
            return String(decoding: data, as: UTF8.self)
        }
    }
}
