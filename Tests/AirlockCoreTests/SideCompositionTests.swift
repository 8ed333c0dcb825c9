import AirlockCore
import Foundation
import PythonPackaging
import Testing

/// How a side is composed like its image: runtime tags newer than the catalog, the image's packages,
/// project pins winning over constraints and image pins.
@Suite struct SideCompositionTests {
    let catalog = RuntimeCatalog.bundled()

    func runtimeCurrent(_ tag: String, override: String? = nil) throws -> TargetSelection {
        let image = try #require(ImageReference("quay.io/astronomer/astro-runtime:\(tag)"))
        return try UpgradeSideResolver.currentSelection(base: BaseImage(image), baseLocation: "Dockerfile:1", airflowOverride: override,
                                                        python: nil, catalog: catalog)
    }

    @Test func runtimeTagsNewerThanTheCatalogResolveByScheme() throws {
        // Real tags the bundled catalog does not know (issue 10): Runtime major → Airflow minor, newest known patch.
        for (tag, airflow, python) in [("12.7.1", "2.10.5", "3.12"), ("12.8.0", "2.10.5", "3.12"), ("11.18.0", "2.9.3", "3.11"),
                                       ("13.1.0", "2.11.2", "3.12"), ("3.1-12", "3.1", "3.12")] {
            let selection = try runtimeCurrent(tag)
            #expect(selection.side.label == tag)
            #expect(selection.side.airflowVersion.description.hasPrefix(airflow))
            #expect(selection.side.python == python)
            #expect(selection.side.runtime?.version.description == tag)
            let warning = try #require(selection.warnings.first)
            #expect(warning.contains("not in the runtime catalog") && warning.contains("--current-airflow-version"))
            #expect(warning.contains("assuming Airflow \(selection.side.airflowVersion)"))
        }
        // Known tags make no assumption.
        #expect(try runtimeCurrent("9.10.0").warnings.isEmpty)
    }

    @Test func overrideKeepsTheRuntimeAndReplacesItsAirflow() throws {
        let selection = try runtimeCurrent("12.7.1-slim", override: "2.10.4")
        #expect(selection.warnings.isEmpty)
        #expect(selection.side.airflowVersion.description == "2.10.4")
        #expect(selection.side.runtime?.version.description == "12.7.1")
        #expect(selection.side.imageVariant == "slim")
        // A tag the scheme cannot place still works with an override.
        #expect(try runtimeCurrent("99.0.0", override: "2.10.5").side.label == "99.0.0")
    }

    @Test func newerTargetTagsResolveWithAWarning() throws {
        let current = try runtimeCurrent("9.10.0").side
        let selection = try UpgradeSideResolver.target(TargetRequest(runtimeVersion: "12.8.0"), current: current, catalog: catalog,
                                                       today: "2026-11-22")
        #expect(selection.side.airflowVersion.description == "2.10.5")
        #expect(selection.warnings.contains { $0.contains("--runtime-version") && $0.contains("-a X.Y.Z") })
    }

    func version(_ text: String) throws -> RuntimeVersion { try #require(RuntimeVersion(text)) }

    @Test func providerReferenceListsTheImagesPackages() throws {
        let table = RuntimeProviderTable.bundled
        let exact = try #require(table.packages(for: version("9.10.0"), slim: false))
        #expect(exact.assumptions.isEmpty)
        #expect(exact.pins[PackageName("apache-airflow-providers-amazon")]?.version == "8.16.0")
        #expect(exact.pins[PackageName("astro-sdk-python")]?.version == "1.8.0")
        // Slim images ship fewer providers.
        let slim = try #require(table.packages(for: version("11.8.0"), slim: true))
        #expect(slim.pins[PackageName("apache-airflow-providers-amazon")] == nil)
        #expect(slim.pins[PackageName("apache-airflow-providers-postgres")]?.version == "5.11.3")
        // A runtime without a list borrows the nearest listed one of its series, and says so.
        let borrowed = try #require(table.packages(for: version("12.7.1"), slim: false))
        #expect(borrowed.pins[PackageName("apache-airflow-providers-postgres")]?.version == "5.14.0")
        #expect(borrowed.assumptions.contains { $0.contains("Runtime 12.8.0") })
        #expect(borrowed.source.contains("12.8.0"))
        // Astronomer's own builds: local labels cut to the public version, epoch rebuilds left out.
        let local = try #require(table.packages(for: version("8.5.0"), slim: false))
        #expect(local.pins[PackageName("apache-airflow-providers-cncf-kubernetes")]?.version == "7.0.0")
        #expect(table.packages(for: try version("99.1.0"), slim: false) == nil)
    }

    @Test func freezeFilesLeaveAirflowToTheSide() {
        let packages = ImagePackages(freezeText: "apache-airflow==2.9.3+astro.1\napache-airflow-task-sdk==1.0.0\nboto3==1.34.0\nfoo==1.0+astro.2\n",
                                     source: "freeze")
        #expect(packages.pins.sorted.map(\.freezeLine) == ["boto3==1.34.0", "foo==1.0"])
    }

    func entries(_ text: String) throws -> [RequirementsEntry] {
        try RequirementsFileParser(readFile: { _ in "" }).parse(text: text, path: "requirements.txt").requirements
    }

    @Test func imagePinsWinOverConstraintsAndProjectPinsWinOverBoth() throws {
        let constraints = PinnedSet(freezeText: "pandas==2.1.4\nnumpy==1.26.4\napache-airflow-providers-postgres==6.0.0\n")
        let image = PinnedSet(freezeText: "apache-airflow-providers-postgres==5.14.0\n")
        let reference = SideComposition.reference(constraints: constraints, image: image)
        #expect(reference[PackageName("apache-airflow-providers-postgres")]?.version == "5.14.0")
        let project = try entries("pandas==1.5.3\nrequests>=2\n")
        let resolved = PinnedSet(freezeText: "pandas==1.5.3\nnumpy==1.26.4\n")
        let given = SideComposition.pinsGivenWay(reference: reference, image: image, resolved: resolved, projectEntries: project)
        #expect(given.map(\.name) == ["apache-airflow-providers-postgres", "pandas"])
        #expect(given[1].text == "pandas 2.1.4 → 1.5.3 (the constraints pin gave way to requirements.txt:1 `pandas==1.5.3`)")
        #expect(given[0].installed == nil && given[0].pinnedBy == "image")
        #expect(SideComposition.constraintsText(reference, dropping: ["pandas"]) == "apache-airflow-providers-postgres==5.14.0\nnumpy==1.26.4\n")
        #expect(SideComposition.imageRequirementLines(image, projectNames: ["pandas"], leftOut: []) == ["apache-airflow-providers-postgres"])
    }

    @Test func relaxedLinesKeepExtrasAndMarkers() throws {
        let project = try entries("pendulum==2.1.2\ncelery[redis]>=5,<6; python_version >= \"3.8\"\nrequests\n")
        #expect(SideComposition.relaxedLine(project[0]) == "pendulum")
        #expect(SideComposition.relaxedLine(project[1]) == "celery[redis]; python_version >= \"3.8\"")
        #expect(SideComposition.relaxedLine(project[2]) == nil)
    }
}
