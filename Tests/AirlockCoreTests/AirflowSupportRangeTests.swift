import AirlockCore
import PythonPackaging
import Testing

/// The declared range: Airflow 2.3 on (both sides), each release on the Pythons it supports; outside → usage error.
@Suite struct AirflowSupportRangeTests {
    func side(_ airflow: String, python: String) throws -> UpgradeSide {
        UpgradeSide(label: airflow, runtime: nil, airflowVersion: try #require(Version(airflow)), python: python)
    }

    func release(_ version: String, _ requiresPython: String?) -> AirflowRelease {
        AirflowRelease(version: version, releaseDate: "2026-01-01", requiresPython: requiresPython, yanked: false)
    }

    // requires_python as PyPI lists them (airflow_releases_pypi.csv; 3.4.0b2 from PyPI on 2026-12-01).
    @Test(arguments: [("2.3.4", "~=3.7", "3.10"), ("2.6.3", "~=3.7", "3.11"), ("3.3.2", "!=3.15,>=3.10", "3.10"),
                      ("3.3.2", "!=3.15,>=3.10", "3.13"), ("3.4.0b2", "!=3.15,>=3.11", "3.11"), ("2.10.5", "<3.13,>=3.8.1", "3.12")])
    func inRange(airflow: String, requiresPython: String, python: String) throws {
        try AirflowSupportRange.check(try side(airflow, python: python), role: "target", release: release(airflow, requiresPython))
    }

    @Test(arguments: [("2.3.4", "~=3.7", "3.11", "<= 3.10"), ("3.4.0b2", "!=3.15,>=3.11", "3.10", ">=3.11"),
                      ("2.10.5", "<3.13,>=3.8.1", "3.13", "<3.13")])
    func pythonOutsideIsAUsageError(airflow: String, requiresPython: String, python: String, mentions: String) throws {
        let error = #expect(throws: AirlockError.self) {
            try AirflowSupportRange.check(try side(airflow, python: python), role: "current", release: release(airflow, requiresPython))
        }
        #expect(error?.exitCode == 2)
        #expect(error.map { "\($0)" }?.contains("does not run on Python \(python)") == true)
        #expect(error.map { "\($0)" }?.contains(mentions) == true, "\(String(describing: error))")
    }

    @Test func olderThan23IsOutsideTheRange() throws {
        let error = #expect(throws: AirlockError.self) {
            try AirflowSupportRange.check(try side("2.2.5", python: "3.9"), role: "current", release: release("2.2.5", "~=3.6"))
        }
        #expect(error?.exitCode == 2)
        #expect(error.map { "\($0)" }?.contains("2.3 or later") == true)
    }
}
