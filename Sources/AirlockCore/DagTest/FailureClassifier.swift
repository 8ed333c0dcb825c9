import Foundation
import PythonPackaging

/// Turns a DAG file's import error on the target into a category and, where it can, a concrete fix (the import to
/// use instead, the requirement to add), so that people fix the upgrade instead of reading tracebacks.
public struct FailureClassifier: Sendable {
    public var relocations: RelocationTable
    /// The packages the target environment has, to leave out requirements that are already satisfied.
    public var targetPins: PinnedSet
    public var targetAirflow: Version

    public init(relocations: RelocationTable = .bundled, targetPins: PinnedSet, targetAirflow: Version) {
        self.relocations = relocations
        self.targetPins = targetPins
        self.targetAirflow = targetAirflow
    }

    public static let timeoutFix = "The file took longer than the parse timeout; move slow work (network, DB) out of top-level code"

    /// `sourceLine` is the text of the DAG file's line `error.line` (the caller reads it), used to find the imported names.
    public func classify(_ file: DagFileParse, sourceLine: String?) -> (category: FailureCategory, fix: DagFix?) {
        switch file.outcome {
        case .timeout: return (.timeout, DagFix(summary: Self.timeoutFix))
        case .crash: return (.crash, nil)
        case .ok: return (.other, nil)
        case .error: break
        }
        guard let error = file.error else { return (.other, nil) }
        if let result = classifyImport(error, sourceLine: sourceLine) { return result }
        if let result = classifySignature(error) { return result }
        return (.other, nil)
    }

    // MARK: - Imports

    private func classifyImport(_ error: DagFileParse.ParseError, sourceLine: String?) -> (FailureCategory, DagFix?)? {
        let message = error.message
        // Airflow 2's deprecation shims: "Could not import `NEW` while trying to import `OLD`."
        if message.hasPrefix("Could not import `"), let names = Self.backticked(message), names.count >= 2 {
            return couldNotImport(names[0], requested: names[1])
        }
        if let module = error.missingModule?.nilIfEmpty ?? Self.quoted(after: "No module named ", in: message) {
            return missingModule(module, sourceLine: sourceLine)
        }
        if let name = Self.quoted(after: "cannot import name ", in: message),
           let module = Self.quoted(after: "' from ", in: message) {
            return missingName(name, in: module, sourceLine: sourceLine)
        }
        return nil
    }

    private func couldNotImport(_ target: String, requested: String) -> (FailureCategory, DagFix?) {
        let (module, name) = Self.splitQualified(target)
        if let provider = RelocationTable.providerPackage(forModule: module), !providerInstalled(provider, minimum: nil) {
            return (.missingDependency, DagFix(summary: "Add `\(provider)` to requirements.txt: `\(requested)` now lives in `\(target)`",
                                               newImport: "from \(module) import \(name)", requirement: provider))
        }
        return (.airflowApiMoved, DagFix(summary: "Import `\(name)` from `\(module)` instead of `\(requested)`",
                                         newImport: "from \(module) import \(name)"))
    }

    private func missingModule(_ missing: String, sourceLine: String?) -> (FailureCategory, DagFix?) {
        let statements = Self.importStatements(sourceLine ?? "").filter {
            $0.module == missing || $0.module.hasPrefix(missing + ".") || missing.hasPrefix($0.module + ".")
        }
        // The most specific module the file asked for: `airflow.providers.apache` may be missing for `…apache.hive.x`.
        let wanted = statements.map(\.module).filter { $0 == missing || $0.hasPrefix(missing + ".") }.max { $0.count < $1.count } ?? missing
        let top = missing.split(separator: ".").first.map(String.init) ?? missing

        if top == "airflow" {
            if let provider = RelocationTable.providerPackage(forModule: wanted), !providerInstalled(provider, minimum: nil) {
                return (.missingDependency, DagFix(summary: "Add `\(provider)` to requirements.txt: `\(wanted)` comes from it",
                                                   requirement: provider))
            }
            let asked = statements.isEmpty ? [ImportStatement(module: missing, names: [])] : statements
            return airflowImports(asked, gone: missing)
        }

        if Self.projectFolders.contains(top) {
            return (.other, DagFix(summary: "`\(wanted)` is not in the project: `\(top)/` is a project folder, not a package to install; check that the file exists"))
        }
        let distribution = Self.distribution(forModule: wanted, names: statements.first { $0.module == wanted }?.names ?? [])
        return (.missingDependency, DagFix(summary: "Add `\(distribution)` to requirements.txt: the target environment has no module `\(missing)`",
                                           requirement: distribution))
    }

    private func missingName(_ name: String, in module: String, sourceLine: String?) -> (FailureCategory, DagFix?)? {
        guard module == "airflow" || module.hasPrefix("airflow.") else { return nil }
        var statements = Self.importStatements(sourceLine ?? "").filter { $0.module == module }
        if statements.isEmpty || !statements.contains(where: { $0.names.contains { $0.name == name } }) {
            statements = [ImportStatement(module: module, names: [ImportedName(name: name, alias: nil)])]
        }
        return airflowImports(statements, gone: "\(module).\(name)")
    }

    /// Looks every imported Airflow name up in the relocation table and builds one fix for the statement(s).
    private func airflowImports(_ statements: [ImportStatement], gone: String) -> (FailureCategory, DagFix?) {
        var moved: [(relocation: Relocation, alias: String?, oldName: String)] = []
        var removed: [Relocation] = []
        var unknown: [String] = []

        for statement in statements {
            let names = statement.names.filter { $0.name != "*" }
            if names.isEmpty {
                // `import airflow.x.y` or `from airflow.x.y import *`: the module itself, or everything under it.
                if let relocation = relocations.relocation(for: statement.module, airflow: targetAirflow) {
                    if relocation.newQualifiedName != nil { moved.append((relocation, nil, statement.module)) } else { removed.append(relocation) }
                    continue
                }
                return wholeModule(statement.module)
            }
            for imported in names {
                guard let relocation = relocations.relocation(for: "\(statement.module).\(imported.name)", airflow: targetAirflow) else {
                    unknown.append("\(statement.module).\(imported.name)")
                    continue
                }
                if relocation.newQualifiedName != nil {
                    moved.append((relocation, imported.alias, imported.name))
                } else {
                    removed.append(relocation)
                }
            }
        }

        let removedNotes = removed.map { relocation in
            relocation.help ?? "`\(relocation.oldName)` was removed in Airflow \(targetAirflow)"
        }
        guard !moved.isEmpty else {
            if !removedNotes.isEmpty { return (.airflowApiRemoved, DagFix(summary: removedNotes.joined(separator: "; "))) }
            return (.airflowApiRemoved, DagFix(summary: "`\(gone)` does not exist in Airflow \(targetAirflow); remove the import or find its replacement in Airflow's release notes"))
        }

        // Group by new module, keeping the order of the source.
        var modules: [String] = []
        var imports: [String: [String]] = [:]
        var sentences: [String] = []
        var requirements: [String] = []
        for (relocation, alias, oldName) in moved {
            guard let module = relocation.newModule, let newName = relocation.newName else { continue }
            // `conf.get` is imported as `conf` and used as `conf.get`.
            let importName = newName.split(separator: ".").first.map(String.init) ?? newName
            if imports[module] == nil { modules.append(module) }
            imports[module, default: []].append(alias.map { "\(importName) as \($0)" } ?? importName)
            let renamed = newName == oldName ? "" : " (was `\(oldName)`)"
            sentences.append("Import `\(newName)`\(renamed) from `\(module)`")
            if let requirement = requirement(for: relocation), !requirements.contains(requirement) {
                requirements.append(requirement)
            }
        }
        var summary = sentences.joined(separator: "; ")
        if !removedNotes.isEmpty { summary += "; " + removedNotes.joined(separator: "; ") }
        if !unknown.isEmpty { summary += "; no known replacement for " + unknown.map { "`\($0)`" }.joined(separator: ", ") }
        let newImport = modules.map { "from \($0) import \(imports[$0, default: []].joined(separator: ", "))" }.joined(separator: "\n")
        return (.airflowApiMoved, DagFix(summary: summary, newImport: newImport,
                                         requirement: requirements.isEmpty ? nil : requirements.joined(separator: "\n")))
    }

    /// `import airflow.x` where `airflow.x` is gone: what lived under it. One destination module is a move; several are
    /// reported as a removal with an example, since no single import replaces it.
    private func wholeModule(_ module: String) -> (FailureCategory, DagFix?) {
        let entries = relocations.relocations(inModule: module, airflow: targetAirflow).filter { $0.newQualifiedName != nil }
        let destinations = Array(Set(entries.compactMap(\.newModule))).sorted()
        guard let example = entries.first, let exampleTarget = example.newQualifiedName else {
            return (.airflowApiRemoved, DagFix(summary: "`\(module)` does not exist in Airflow \(targetAirflow); remove the import or find its replacement in Airflow's release notes"))
        }
        if destinations.count == 1 {
            return (.airflowApiMoved, DagFix(summary: "Import `\(destinations[0])` instead of `\(module)`", newImport: "import \(destinations[0])",
                                             requirement: requirement(for: example)))
        }
        return (.airflowApiRemoved, DagFix(summary: "`\(module)` was removed in Airflow \(targetAirflow); its names moved to \(destinations.count) modules, e.g. `\(example.oldName)` → `\(exampleTarget)`"))
    }

    /// `provider>=min`, or nil when the target already has a version that satisfies it.
    private func requirement(for relocation: Relocation) -> String? {
        guard let provider = relocation.providerPackage else { return nil }
        if providerInstalled(provider, minimum: relocation.minProviderVersion) { return nil }
        return relocation.minProviderVersion.map { "\(provider)>=\($0)" } ?? provider
    }

    private func providerInstalled(_ provider: String, minimum: String?) -> Bool {
        guard let pinned = targetPins[PackageName(provider)] else { return false }
        guard let minimum, let required = Version(minimum), let version = pinned.parsedVersion else { return true }
        return version >= required
    }

    // MARK: - Signatures

    /// Keyword arguments Airflow 3 renamed or dropped (from ruff's AIR301/AIR311 argument rules).
    static let keywordFixes: [String: String] = [
        "schedule_interval": "Replace `schedule_interval=` with `schedule=`",
        "timetable": "Replace `timetable=` with `schedule=`",
        "concurrency": "Replace `concurrency=` with `max_active_tasks=`",
        "task_concurrency": "Replace `task_concurrency=` with `max_active_tis_per_dag=`",
        "fail_stop": "Replace `fail_stop=` with `fail_fast=`",
        "execution_date": "Replace `execution_date=` with `logical_date=`",
        "use_task_execution_day": "Replace `use_task_execution_day=` with `use_task_logical_date=`",
        "default_var": "Replace `default_var=` with `default=`",
        "provide_context": "Remove `provide_context=`: the context is passed to callables that accept `**context`",
        "full_filepath": "Remove `full_filepath=`: Airflow sets it itself",
        "sla": "Remove `sla=`: SLAs were removed in Airflow 3",
        "sla_miss_callback": "Remove `sla_miss_callback=`: SLAs were removed in Airflow 3",
        "default_view": "Remove `default_view=`: the UI no longer takes a default view per DAG",
        "orientation": "Remove `orientation=`: the UI no longer takes a graph orientation per DAG",
        "filename_template": "Remove `filename_template=`: set the log file name in the `[logging]` configuration",
    ]

    /// Only a call the DAG file made can be a signature change of the user's code: an error with no line
    /// in the file (raised by Airflow or Airlock's harness around it) is never blamed on a keyword.
    private func classifySignature(_ error: DagFileParse.ParseError) -> (FailureCategory, DagFix?)? {
        guard error.line != nil else { return nil }
        let message = error.message
        var keywords: [String] = []
        var callee: String?
        if let range = message.range(of: " got an unexpected keyword argument "),
           let keyword = Self.quoted(after: " got an unexpected keyword argument ", in: message) {
            keywords = [keyword]
            var name = String(message[..<range.lowerBound])
            if let lastLine = name.split(whereSeparator: \.isNewline).last { name = String(lastLine) }
            name = name.replacingSuffix("()", with: "").replacingSuffix(".__init__", with: "")
            callee = name.isEmpty || name == "__init__" ? nil : name
        } else if message.contains("Invalid arguments were passed to "), let range = message.range(of: "**kwargs: {") {
            // Airflow's BaseOperator: "Invalid arguments were passed to X (task_id: y). Invalid arguments were:\n**kwargs: {'a': 1}"
            keywords = Self.dictionaryKeys(String(message[range.upperBound...]))
            callee = Self.word(after: "Invalid arguments were passed to ", in: message)
        }
        guard !keywords.isEmpty else { return nil }
        let target = callee.map { "`\($0)`" } ?? "The callable"
        let fixes = keywords.map { keyword in
            Self.keywordFixes[keyword]
                ?? "Remove or rename `\(keyword)=`: \(target) no longer accepts it in Airflow \(targetAirflow)"
        }
        return (.signatureChange, DagFix(summary: fixes.joined(separator: "; ")))
    }

    // MARK: - Distributions

    /// Folders of an Astro project that are on the import path; a module missing under them is not a dependency.
    static let projectFolders: Set<String> = ["include", "plugins", "dags", "tests"]

    /// Import names whose distribution is named differently (`import yaml` comes from `PyYAML`); the longest
    /// matching module prefix wins.
    static let distributions: [String: String] = [
        "snowflake": "snowflake-connector-python", "snowflake.connector": "snowflake-connector-python",
        "snowflake.sqlalchemy": "snowflake-sqlalchemy", "snowflake.snowpark": "snowflake-snowpark-python",
        "yaml": "PyYAML", "sklearn": "scikit-learn", "skimage": "scikit-image", "cv2": "opencv-python", "PIL": "Pillow",
        "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient",
        "jwt": "PyJWT", "dotenv": "python-dotenv", "attr": "attrs", "Crypto": "pycryptodome", "OpenSSL": "pyOpenSSL",
        "git": "GitPython", "docx": "python-docx", "pptx": "python-pptx", "magic": "python-magic", "jose": "python-jose",
        "ldap": "python-ldap", "serial": "pyserial", "zmq": "pyzmq", "dns": "dnspython", "fitz": "PyMuPDF",
        "grpc": "grpcio", "bson": "pymongo", "googleapiclient": "google-api-python-client", "google.auth": "google-auth",
        "google.oauth2": "google-auth", "google.protobuf": "protobuf", "kafka": "kafka-python", "cosmos": "astronomer-cosmos",
        "dbt": "dbt-core", "databricks.sql": "databricks-sql-connector", "databricks.sdk": "databricks-sdk",
        "delta": "delta-spark", "ruamel": "ruamel.yaml", "multipart": "python-multipart", "telegram": "python-telegram-bot",
        "win32api": "pywin32", "Levenshtein": "python-Levenshtein",
    ]

    /// The distribution to install for a missing module: the known table, `google.cloud.X` → `google-cloud-X`,
    /// `azure.x.y` → `azure-x-y`, else the top-level module name.
    public static func distribution(forModule module: String, names: [ImportedName] = []) -> String {
        let parts = module.split(separator: ".").map(String.init)
        if parts.first == "google", parts.count >= 2, parts[1] == "cloud" {
            let product = parts.count >= 3 ? parts[2] : names.first.map(\.name)
            if let product { return "google-cloud-" + product.replacingOccurrences(of: "_", with: "-") }
        }
        if parts.first == "azure", parts.count >= 2 {
            let depth = parts[1] == "storage" || parts[1] == "keyvault" || parts[1] == "mgmt" ? 3 : 2
            return parts.prefix(depth).joined(separator: "-").replacingOccurrences(of: "_", with: "-")
        }
        for length in stride(from: parts.count, through: 1, by: -1) {
            if let known = distributions[parts.prefix(length).joined(separator: ".")] { return known }
        }
        return parts.first ?? module
    }

    // MARK: - Import statements

    /// One name of a `from M import A as B`.
    public struct ImportedName: Hashable, Sendable {
        public var name: String
        public var alias: String?

        public init(name: String, alias: String?) {
            self.name = name
            self.alias = alias
        }
    }

    /// `from M import …` (names) or `import M` (no names).
    public struct ImportStatement: Hashable, Sendable {
        public var module: String
        public var names: [ImportedName]

        public init(module: String, names: [ImportedName]) {
            self.module = module
            self.names = names
        }
    }

    /// The imports on one source line: `from M import A, B as C`, `from M import (A,`, `import M.N as X, O`;
    /// `;`-separated statements and trailing comments are handled, relative imports skipped.
    public static func importStatements(_ line: String) -> [ImportStatement] {
        var text = Substring(line)
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        var statements: [ImportStatement] = []
        for part in text.split(separator: ";") {
            let words = part.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let keyword = words.first else { continue }
            if keyword == "from", words.count >= 3, words[2] == "import" {
                let module = String(words[1])
                guard !module.hasPrefix("."), let importRange = part.range(of: " import ") else { continue }
                let list = part[importRange.upperBound...].filter { $0 != "(" && $0 != ")" && $0 != "\\" }
                let names = list.split(separator: ",").compactMap { item -> ImportedName? in
                    let pieces = item.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                    guard let name = pieces.first else { return nil }
                    return ImportedName(name: name, alias: pieces.count >= 3 && pieces[1] == "as" ? pieces[2] : nil)
                }
                statements.append(ImportStatement(module: module, names: names))
            } else if keyword == "import" {
                let list = part.drop(while: { $0 == " " || $0 == "\t" }).dropFirst(6)
                for item in list.split(separator: ",") {
                    guard let module = item.split(whereSeparator: { $0 == " " || $0 == "\t" }).first,
                          !module.hasPrefix(".") else { continue }
                    statements.append(ImportStatement(module: String(module), names: []))
                }
            }
        }
        return statements
    }

    // MARK: - Message parsing

    /// The text inside the quotes right after `marker`: `No module named 'x'` → `x`.
    static func quoted(after marker: String, in message: String) -> String? {
        guard let range = message.range(of: marker) else { return nil }
        let rest = message[range.upperBound...]
        guard let quote = rest.first, quote == "'" || quote == "\"" else { return nil }
        let body = rest.dropFirst()
        guard let end = body.firstIndex(of: quote) else { return nil }
        return String(body[..<end]).nilIfEmpty
    }

    /// Every backticked span: "Could not import `a` while trying to import `b`." → [a, b].
    static func backticked(_ message: String) -> [String]? {
        let parts = message.split(separator: "`", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        return stride(from: 1, to: parts.count - 1, by: 2).map { String(parts[$0]) }
    }

    static func word(after marker: String, in message: String) -> String? {
        guard let range = message.range(of: marker) else { return nil }
        return message[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "(" || $0.isNewline }).first.map(String.init)
    }

    /// The quoted keys of a Python dict repr: `'a': 1, 'b': 'x'}` → [a, b].
    static func dictionaryKeys(_ text: String) -> [String] {
        var keys: [String] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(where: { $0 == "'" || $0 == "\"" }) {
            let quote = rest[open]
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: quote) else { break }
            let token = String(after[..<close])
            let tail = after[after.index(after: close)...]
            if tail.drop(while: { $0 == " " }).first == ":" { keys.append(token) }
            rest = tail
        }
        return keys
    }

    static func splitQualified(_ name: String) -> (module: String, name: String) {
        guard let dot = name.lastIndex(of: ".") else { return (name, name) }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }

    fileprivate func replacingSuffix(_ suffix: String, with replacement: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + replacement : self
    }
}
