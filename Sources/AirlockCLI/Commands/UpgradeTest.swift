import AirlockCore
import AirlockToolchain
import AirlockUpgradeTest
import ArgumentParser
import Foundation

extension Airlock {
    /// `airlock upgrade-test`: the Astro CLI's `astro dev upgrade-test`, without Docker.
    struct UpgradeTest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "upgrade-test",
            abstract: "Show what changes and what breaks when the project moves to another Airflow or Astro Runtime version.",
            discussion: """
            Resolves the project's packages for the current and the target version with uv under the official \
            constraints, compares them (dependency_compare.txt) and checks the project's requirements against the \
            target (conflicts.txt). Results go to upgrade-test-<current>--<target>/ in the project (or --output). \
            The project's own files are never modified.

            Exit codes: 0 all tests passed, 1 a test found a problem, 2 bad usage or input, 3 a tool or network failure.
            """)

        @Option(name: [.customShort("v"), .customLong("runtime-version")], help: "Target Astro Runtime version (repeatable).")
        var runtimeVersions: [String] = []

        @Option(name: [.customShort("a"), .customLong("airflow-version")], help: "Target Airflow version (repeatable); on Astro projects, the newest runtime that ships it.")
        var airflowVersions: [String] = []

        @Option(name: [.customShort("n"), .customLong("image-name")], help: "Target image, e.g. quay.io/astronomer/astro-runtime:12.0.0 or apache/airflow:3.0.6.")
        var imageName: String?

        @Flag(name: .customLong("version-test"), help: "Run the dependency comparison.")
        var versionTest = false

        @Flag(name: .customLong("conflict-test"), help: "Check the project's requirements against the target's pins and resolver.")
        var conflictTest = false

        @Flag(name: [.customShort("d"), .customLong("dag-test")], help: "Run the DAG import test.")
        var dagTest = false

        @Flag(name: [.customShort("l"), .customLong("lint-test")], help: "Run the ruff Airflow lint.")
        var lintTest = false

        @Flag(name: .customLong("lint-deprecations"), help: "Include deprecation rules (AIR311, AIR312) in the lint.")
        var lintDeprecations = false

        @Flag(name: .customLong("fix"), help: "Write lint fixes to a copy of the project in the report folder.")
        var fix = false

        @Option(name: .customLong("lint-config-file"), help: "Your own ruff configuration for the lint.")
        var lintConfigFile: String?

        @Flag(name: .customLong("in-place"), help: "With --fix: change the project's files themselves.")
        var inPlace = false

        @Flag(name: .customLong("strict"), help: "Fail on any DAG import error, not only on regressions.")
        var strict = false

        @Option(name: .customLong("parse-timeout"), help: "Seconds a DAG file may take to import.")
        var parseTimeout: Int = 30

        @Option(name: .customLong("python"), help: "Python version X.Y for both sides (default: from the image tag or the runtime catalog).")
        var python: String?

        @Option(name: .customLong("current-airflow-version"), help: "The project's current Airflow version, for images Airlock cannot read a version from.")
        var currentAirflowVersion: String?

        @Option(name: .customLong("project"), help: "The Airflow project folder.")
        var project: String = "."

        @Option(name: .customLong("output"), help: "Folder in which upgrade-test-* report folders are created (default: the project).")
        var output: String?

        @Option(name: .customLong("constraints-source"), help: "Folder or URL laid out as constraints-<airflow>/constraints-<python>.txt (default: the Apache Airflow repository).")
        var constraintsSource: String?

        @Option(name: .customLong("runtime-feed"), help: "Runtime feed file or URL to use instead of Astronomer's live feed.")
        var runtimeFeed: String?

        @Option(name: .customLong("runtime-freeze-source"), help: "Folder or URL with Astronomer's runtime-<tag>-python-<py>.txt freeze files, the packages each runtime image ships (default: Astronomer's CDN; without one, the bundled provider reference).")
        var runtimeFreezeSource: String?

        @Flag(name: .customLong("offline"), help: "Use cached and bundled data only.")
        var offline = false

        @Flag(name: .customLong("json"), help: "Print the report as JSON and nothing else.")
        var json = false

        func validate() throws {
            if !runtimeVersions.isEmpty, !airflowVersions.isEmpty {
                throw ValidationError("--runtime-version and --airflow-version cannot be used together")
            }
            if imageName != nil, !(runtimeVersions.isEmpty && airflowVersions.isEmpty) {
                throw ValidationError("--image-name cannot be combined with --runtime-version or --airflow-version")
            }
            if inPlace, !fix {
                throw ValidationError("--in-place only makes sense with --fix")
            }
            if parseTimeout < 1 {
                throw ValidationError("--parse-timeout must be at least 1 second")
            }
            if let python, python.split(separator: ".").count != 2 || python.split(separator: ".").contains(where: { Int($0) == nil }) {
                throw ValidationError("--python expects X.Y, e.g. 3.11")
            }
        }

        func run() async throws {
            let printer = ProgressPrinter(json: json)
            let runAll = !(versionTest || conflictTest || dagTest || lintTest)
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            var options = UpgradeTestOptions(
                project: URL(fileURLWithPath: project, relativeTo: cwd).standardizedFileURL,
                output: output.map { URL(fileURLWithPath: $0, relativeTo: cwd).standardizedFileURL },
                targets: try targets(),
                runVersionTest: runAll || versionTest,
                runConflictTest: runAll || conflictTest,
                python: python, currentAirflowVersion: currentAirflowVersion,
                constraintsSource: constraintsSource, runtimeFeed: runtimeFeed, offline: offline,
                today: CalendarDay.string(from: Date()))
            options.runtimeFreezeSource = runtimeFreezeSource
            options.runDagTest = runAll || dagTest
            options.runDatabaseCheck = runAll || dagTest
            options.runLintTest = lintTest ? true : (runAll ? false : nil)
            options.lintDeprecations = lintDeprecations
            options.lintConfigFile = lintConfigFile.map { URL(fileURLWithPath: $0, relativeTo: options.project).standardizedFileURL }
            options.fix = fix
            options.fixInPlace = inPlace
            options.strict = strict
            options.parseTimeout = parseTimeout
            let outcomes = try await UpgradeTestRunner(options: options, progress: printer.handler).run()
            if json {
                if outcomes.count == 1 {
                    printOut(try ReportWriter.json(outcomes[0].report))
                } else {
                    printOut(try ReportWriter.json(MultiTargetJSON(schemaVersion: UpgradeTestReport.currentSchemaVersion, reports: outcomes.map(\.report))))
                }
            } else {
                printOut(UpgradeTestSummary.render(outcomes, relativeTo: cwd))
            }
            if outcomes.contains(where: { !$0.report.passed }) {
                throw ExitCode(1)
            }
        }

        private func targets() throws(AirlockError) -> [TargetRequest] {
            if let imageName {
                guard let image = ImageReference(imageName) else {
                    throw .usage("--image-name `\(imageName)` is not an image reference")
                }
                switch BaseImage(image) {
                case .astroRuntime(let tag): return [TargetRequest(runtimeVersion: tag.raw)]
                case .apacheAirflow(let version, let python): return [TargetRequest(airflowVersion: version.description, python: python)]
                case .other:
                    throw .usage("--image-name `\(imageName)`: Airlock reads the version from Astro Runtime and apache/airflow images only",
                                 hint: "use --airflow-version with the Airflow version your image ships")
                }
            }
            return runtimeVersions.map { TargetRequest(runtimeVersion: $0) } + airflowVersions.map { TargetRequest(airflowVersion: $0) }
        }
    }
}

struct MultiTargetJSON: Encodable {
    var schemaVersion: Int
    var reports: [UpgradeTestReport]
}
