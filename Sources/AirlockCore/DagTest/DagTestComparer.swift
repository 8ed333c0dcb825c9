/// Compares the target's DAG parse with today's, so that only failures the upgrade causes fail the run.
public enum DagTestComparer {
    /// Target parse vs today's (nil when there is no baseline): passed / regression / preexisting / exempt.
    /// `classify` is called for every file that fails on the target. Result sorted: regressions, preexisting, exempt, passed; then by path.
    ///
    /// A target failure is a regression unless the file fails today too; a file missing from the baseline counts as
    /// passing today, and without a baseline every target failure is a regression. Exempt wins regardless of outcome.
    public static func verdicts(target: [DagFileParse], current: [DagFileParse]?, exempt: Set<String>,
                                classify: (DagFileParse) -> (category: FailureCategory, fix: DagFix?)) -> [DagFileVerdict] {
        var today: [String: DagFileParse] = [:]
        for file in current ?? [] where today[key(file.path)] == nil { today[key(file.path)] = file }
        let exempt = Set(exempt.map(key))

        let verdicts = target.map { file -> DagFileVerdict in
            var verdict = DagFileVerdict(path: file.path, status: .passed, dagIds: file.dagIds,
                                         warnings: file.warnings.map(formatWarning))
            let before = today[key(file.path)]
            if let before, before.failed { verdict.currentError = errorSummary(before) }
            if file.failed {
                let (category, fix) = classify(file)
                verdict.category = category
                verdict.fix = fix
                verdict.error = errorSummary(file)
                verdict.line = file.error?.line
                verdict.status = before?.failed == true ? .preexisting : .regression
            }
            if exempt.contains(key(file.path)) { verdict.status = .exempt }
            return verdict
        }
        return verdicts.sorted { lhs, rhs in
            let (left, right) = (rank(lhs.status), rank(rhs.status))
            return left != right ? left < right : lhs.path < rhs.path
        }
    }

    /// How a failure reads in the report: Airflow's `Type: message`, or a sentence for timeouts and crashes.
    public static func errorSummary(_ file: DagFileParse) -> String? {
        switch file.outcome {
        case .ok:
            return nil
        case .timeout:
            if let seconds = file.error.flatMap({ FailureClassifier.word(after: "did not finish within ", in: $0.message) }) {
                return "Timed out after \(seconds) (the parse timeout)"
            }
            return "Timed out after the parse timeout"
        case .crash:
            let message = file.error?.message ?? ""
            if let code = FailureClassifier.word(after: "exited with code ", in: message), code != "None" {
                return "The interpreter exited with status \(code) while importing the file"
            }
            if let signal = FailureClassifier.word(after: "killed by signal ", in: message) {
                return "The interpreter was killed by signal \(signal) while importing the file"
            }
            return "The interpreter exited while importing the file"
        case .error:
            return file.error?.summary ?? "Import failed without an error message"
        }
    }

    /// `<line>: <category>: <message>`, or without the line when the warning came from another file.
    public static func formatWarning(_ warning: DagFileParse.Warning) -> String {
        let text = "\(warning.category): \(warning.message)"
        return warning.line.map { "\($0): \(text)" } ?? text
    }

    private static func rank(_ status: DagFileStatus) -> Int {
        switch status {
        case .regression: 0
        case .preexisting: 1
        case .exempt: 2
        case .passed: 3
        }
    }

    private static func key(_ path: String) -> String { DagIntegrityExceptions.normalizedProjectPath(path) }
}
