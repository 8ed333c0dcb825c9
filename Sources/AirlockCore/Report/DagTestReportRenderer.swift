/// Everything the DAG-test report pages show, gathered by the caller.
public struct DagTestReportInput: Sendable {
    /// e.g. `Runtime 12.6.0 (Airflow 2.10.5)`.
    public var currentLabel: String
    public var targetLabel: String
    public var generatedAt: String
    public var verdicts: [DagFileVerdict]
    public var lintFindings: [LintFinding]
    public var database: DatabaseCheck?
    /// Parse time on the target per DAG file path, for JUnit's `time`; missing paths read as 0.
    public var parseSeconds: [String: Double]

    public init(currentLabel: String, targetLabel: String, generatedAt: String, verdicts: [DagFileVerdict],
                lintFindings: [LintFinding] = [], database: DatabaseCheck? = nil, parseSeconds: [String: Double] = [:]) {
        self.currentLabel = currentLabel
        self.targetLabel = targetLabel
        self.generatedAt = generatedAt
        self.verdicts = verdicts
        self.lintFindings = lintFindings
        self.database = database
        self.parseSeconds = parseSeconds
    }
}

/// Renders the DAG test as `dag-test-report.html` (for people: one offline file, no scripts) and `junit.xml`
/// (for CI systems that show test results).
public enum DagTestReportRenderer {
    // MARK: - HTML

    public static func html(_ input: DagTestReportInput) -> String {
        let title = "DAG test \(input.currentLabel) → \(input.targetLabel)"
        let groups = Dictionary(grouping: input.verdicts, by: \.status)
        func files(_ status: DagFileStatus) -> [DagFileVerdict] { (groups[status] ?? []).sorted { $0.path < $1.path } }
        let regressions = files(.regression), preexisting = files(.preexisting), exempt = files(.exempt), passed = files(.passed)

        var out: [String] = []
        out.append("<!DOCTYPE html>")
        out.append("<html lang=\"en\"><head><meta charset=\"utf-8\">")
        out.append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        out.append("<title>\(escape(title))</title>")
        out.append("<style>\(css)</style>")
        out.append("</head><body>")
        out.append("<h1>\(escape(title))</h1>")
        out.append("<p class=\"meta\">Generated \(escape(input.generatedAt)) · \(input.verdicts.count) DAG file\(input.verdicts.count == 1 ? "" : "s")</p>")

        out.append("<table class=\"counts\"><tr>")
        for (label, status, count) in [("Regressions", "regression", regressions.count), ("Pre-existing", "preexisting", preexisting.count),
                                       ("Exempt", "exempt", exempt.count), ("Passed", "passed", passed.count)] {
            out.append("<td class=\"\(status)\"><span class=\"count\">\(count)</span> \(label)</td>")
        }
        out.append("</tr></table>")
        out.append(regressions.isEmpty
                   ? "<p class=\"verdict ok\">No regressions: every DAG file that imports today also imports on the target.</p>"
                   : "<p class=\"verdict bad\">\(regressions.count) DAG file\(regressions.count == 1 ? "" : "s") that import today fail on the target.</p>")

        out.append("<h2 id=\"regressions\">Regressions (\(regressions.count))</h2>")
        out.append(regressions.isEmpty ? "<p class=\"none\">None.</p>" : regressions.map(failureSection).joined(separator: "\n"))
        out.append("<h2 id=\"preexisting\">Pre-existing failures (\(preexisting.count))</h2>")
        out.append(preexisting.isEmpty ? "<p class=\"none\">None.</p>"
                   : "<p>These fail today too; the upgrade does not cause them.</p>\n" + preexisting.map(failureSection).joined(separator: "\n"))
        out.append("<h2 id=\"exempt\">Exempt files (\(exempt.count))</h2>")
        out.append(exempt.isEmpty ? "<p class=\"none\">None.</p>"
                   : "<p>Listed in <code>.astro/dag_integrity_exceptions.txt</code>: reported, never failing the run.</p>\n" + exempt.map(failureSection).joined(separator: "\n"))

        out.append("<h2 id=\"passed\">Passed (\(passed.count))</h2>")
        if passed.isEmpty {
            out.append("<p class=\"none\">None.</p>")
        } else {
            out.append("<table><thead><tr><th>File</th><th>DAG ids</th></tr></thead><tbody>")
            for verdict in passed {
                let ids = verdict.dagIds.isEmpty ? "<span class=\"none\">no DAGs</span>" : verdict.dagIds.map { "<code>\(escape($0))</code>" }.joined(separator: " ")
                out.append("<tr><td><code>\(escape(verdict.path))</code></td><td>\(ids)</td></tr>")
            }
            out.append("</tbody></table>")
        }

        let warned = input.verdicts.filter { !$0.warnings.isEmpty }.sorted { $0.path < $1.path }
        out.append("<h2 id=\"warnings\">Warnings on the target (\(warned.reduce(0) { $0 + $1.warnings.count }))</h2>")
        if warned.isEmpty {
            out.append("<p class=\"none\">None.</p>")
        } else {
            for verdict in warned {
                out.append("<h3><code>\(escape(verdict.path))</code></h3><ul class=\"warnings\">")
                out.append(verdict.warnings.map { "<li>\(prose($0))</li>" }.joined(separator: "\n"))
                out.append("</ul>")
            }
        }

        out.append("<h2 id=\"lint\">Lint findings (\(input.lintFindings.count))</h2>")
        if input.lintFindings.isEmpty {
            out.append("<p class=\"none\">None.</p>")
        } else {
            out.append("<table><thead><tr><th>Location</th><th>Rule</th><th>Message</th><th>Fixable</th></tr></thead><tbody>")
            let findings = input.lintFindings.sorted { ($0.file, $0.line, $0.column) < ($1.file, $1.line, $1.column) }
            for finding in findings {
                out.append("<tr><td><code>\(escape(finding.file)):\(finding.line):\(finding.column)</code></td><td><code>\(escape(finding.rule))</code></td>"
                           + "<td>\(prose(finding.message))</td><td>\(finding.fixable ? "yes" : "no")</td></tr>")
            }
            out.append("</tbody></table>")
        }

        out.append("<h2 id=\"database\">Metadata database</h2>")
        out.append(databaseSection(input.database))
        out.append("</body></html>")
        return out.joined(separator: "\n") + "\n"
    }

    private static func failureSection(_ verdict: DagFileVerdict) -> String {
        var rows: [String] = []
        let location = verdict.line.map { " <span class=\"line\">line \($0)</span>" } ?? ""
        rows.append("<section class=\"file \(verdict.status.rawValue)\"><h3><code>\(escape(verdict.path))</code>\(location)</h3><dl>")
        if let error = verdict.error { rows.append("<dt>Error</dt><dd><pre>\(escape(error))</pre></dd>") }
        if let category = verdict.category { rows.append("<dt>Category</dt><dd><code>\(escape(category.rawValue))</code></dd>") }
        if let fix = verdict.fix {
            var parts = ["<p>\(prose(fix.summary))</p>"]
            if let newImport = fix.newImport { parts.append("<p>New import:</p><pre><code>\(escape(newImport))</code></pre>") }
            if let requirement = fix.requirement { parts.append("<p>Add to <code>requirements.txt</code>:</p><pre><code>\(escape(requirement))</code></pre>") }
            rows.append("<dt>Fix</dt><dd>\(parts.joined(separator: "\n"))</dd>")
        }
        if let currentError = verdict.currentError { rows.append("<dt>Today</dt><dd><pre>\(escape(currentError))</pre></dd>") }
        if !verdict.dagIds.isEmpty {
            rows.append("<dt>DAG ids</dt><dd>\(verdict.dagIds.map { "<code>\(escape($0))</code>" }.joined(separator: " "))</dd>")
        }
        if verdict.error == nil, verdict.status == .exempt { rows.append("<dt>Result</dt><dd>Imports on the target.</dd>") }
        rows.append("</dl></section>")
        return rows.joined(separator: "\n")
    }

    private static func databaseSection(_ check: DatabaseCheck?) -> String {
        guard let check else { return "<p class=\"none\">Not checked.</p>" }
        var out: [String] = []
        let direction: String
        switch check.direction {
        case .upgrade: direction = "The schema goes up: <code>airflow db migrate</code> runs \(check.migrations.count) migration\(check.migrations.count == 1 ? "" : "s")."
        case .none: direction = "The schema does not change."
        case .downgrade: direction = "The schema goes down: \(check.migrations.count) migration\(check.migrations.count == 1 ? "" : "s") would be undone."
        }
        out.append("<p>\(direction)</p>")
        out.append("<table><tr><th>Today's head</th><td><code>\(escape(check.currentHead ?? "unknown"))</code></td></tr>"
                   + "<tr><th>Target's head</th><td><code>\(escape(check.targetHead ?? "unknown"))</code></td></tr></table>")
        if !check.migrations.isEmpty {
            out.append("<table><thead><tr><th>Revision</th><th>Description</th><th>Airflow</th></tr></thead><tbody>")
            for migration in check.migrations {
                out.append("<tr><td><code>\(escape(migration.revision))</code></td><td>\(escape(migration.description))</td>"
                           + "<td>\(escape(migration.airflowVersion ?? ""))</td></tr>")
            }
            out.append("</tbody></table>")
        }
        if let warning = check.warning { out.append("<p class=\"warning\">\(prose(warning))</p>") }
        return out.joined(separator: "\n")
    }

    private static let css = """
    body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#1d1d1f}\
    h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1em;margin:.2em 0}\
    code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}pre{white-space:pre-wrap;margin:.2em 0;background:#f5f5f7;padding:.4em .6em}\
    table{border-collapse:collapse;margin:.5em 0}th,td{text-align:left;padding:.25em .7em;border-bottom:1px solid #eee;vertical-align:top}\
    .counts td{border:1px solid #ddd;padding:.5em 1em}.count{font-size:1.4em;font-weight:600}\
    .regression{border-left:4px solid #c62828}.preexisting{border-left:4px solid #ef8f00}.exempt{border-left:4px solid #888}.passed{border-left:4px solid #2e7d32}\
    section.file{padding:.3em 1em;margin:1em 0;background:#fafafa}dt{font-weight:600;margin-top:.3em}dd{margin-left:1em}dd p{margin:.2em 0}\
    .verdict.bad{color:#c62828;font-weight:600}.verdict.ok{color:#2e7d32;font-weight:600}.none,.meta,.line{color:#666}\
    .warning{background:#fff4e5;padding:.5em}
    """

    // MARK: - JUnit

    /// `strict` reports pre-existing failures as failures too (otherwise their error goes to `<system-out>`).
    public static func junit(_ input: DagTestReportInput, strict: Bool = false) -> String {
        let verdicts = input.verdicts.sorted { $0.path < $1.path }
        let failures = verdicts.filter { $0.status == .regression || (strict && $0.status == .preexisting) }.count
        let skipped = verdicts.filter { $0.status == .exempt }.count
        let total = verdicts.reduce(0.0) { $0 + (input.parseSeconds[$1.path] ?? 0) }
        let suite = "dag-import \(input.currentLabel)--\(input.targetLabel)"

        var out = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>"]
        out.append("<testsuites name=\"airlock dag-test\" tests=\"\(verdicts.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\" time=\"\(seconds(total))\">")
        out.append("  <testsuite name=\"\(attribute(suite))\" tests=\"\(verdicts.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\" "
                   + "time=\"\(seconds(total))\">")
        for verdict in verdicts {
            let open = "    <testcase classname=\"dags\" name=\"\(attribute(verdict.path))\" time=\"\(seconds(input.parseSeconds[verdict.path] ?? 0))\""
            switch verdict.status {
            case .passed:
                out.append(open + "/>")
            case .regression, .preexisting:
                out.append(open + ">")
                if verdict.status == .regression || strict {
                    let type = verdict.category?.rawValue ?? FailureCategory.other.rawValue
                    out.append("      <failure message=\"\(attribute(verdict.error ?? "Import failed"))\" type=\"\(attribute(type))\">\(text(failureBody(verdict)))</failure>")
                } else {
                    out.append("      <system-out>\(text("Fails today too (pre-existing):\n" + failureBody(verdict)))</system-out>")
                }
                out.append("    </testcase>")
            case .exempt:
                out.append(open + ">")
                out.append("      <skipped message=\"exempt\"/>")
                if verdict.error != nil { out.append("      <system-out>\(text(failureBody(verdict)))</system-out>") }
                out.append("    </testcase>")
            }
        }
        out.append("  </testsuite>")
        out.append("</testsuites>")
        return out.joined(separator: "\n") + "\n"
    }

    private static func failureBody(_ verdict: DagFileVerdict) -> String {
        var lines: [String] = []
        let location = verdict.line.map { "\(verdict.path):\($0)" } ?? verdict.path
        lines.append("\(location): \(verdict.error ?? "Import failed")")
        if let fix = verdict.fix {
            lines.append("")
            lines.append("Fix: \(fix.summary)")
            if let newImport = fix.newImport { lines.append("New import:\n\(newImport)") }
            if let requirement = fix.requirement { lines.append("Add to requirements.txt:\n\(requirement)") }
        }
        if let currentError = verdict.currentError, verdict.status != .preexisting || currentError != verdict.error {
            lines.append("")
            lines.append("Today: \(currentError)")
        }
        return lines.joined(separator: "\n")
    }

    /// `1.5` → `1.500`, without Foundation's formatting.
    private static func seconds(_ value: Double) -> String {
        let millis = value.isFinite && value > 0 ? Int((value * 1000).rounded()) : 0
        let fraction = String(millis % 1000)
        return "\(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    // MARK: - Escaping

    /// HTML text and attribute escaping (`& < > " '`); control characters that no reader expects are dropped.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if isAllowedInXML(scalar) { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    /// Escaped text with `code spans` (as in fix summaries and ruff messages) shown as `<code>`.
    static func prose(_ text: String) -> String {
        let parts = text.split(separator: "`", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return escape(text) }
        var out = ""
        for (index, part) in parts.enumerated() {
            let isCode = index % 2 == 1 && index < parts.count - 1
            if index % 2 == 1 && !isCode { out += "`" }   // an unpaired backtick stays as is
            out += isCode ? "<code>\(escape(String(part)))</code>" : escape(String(part))
        }
        return out
    }

    /// XML character data: `&`, `<`, `>` escaped, characters XML 1.0 forbids dropped.
    static func text(_ value: String) -> String {
        xmlEscape(value, attribute: false)
    }

    /// An XML attribute value in double quotes; line breaks and tabs as character references so parsers keep them.
    static func attribute(_ value: String) -> String {
        xmlEscape(value, attribute: true)
    }

    private static func xmlEscape(_ value: String, attribute: Bool) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"" where attribute: out += "&quot;"
            case "'" where attribute: out += "&apos;"
            case "\n" where attribute: out += "&#10;"
            case "\r" where attribute: out += "&#13;"
            case "\t" where attribute: out += "&#9;"
            default: if isAllowedInXML(scalar) { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    private static func isAllowedInXML(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD: true
        case 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }
}
