import Foundation

extension AirflowRelease {
    /// Reads the bundled CSV (`airflow_version,pypi_upload_date,requires_python,yanked`).
    public static func parseCSV(_ text: String) -> [AirflowRelease] {
        var releases: [AirflowRelease] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where index > 0 {
            let fields = CSV.fields(String(line))
            guard fields.count >= 4, !fields[0].isEmpty else { continue }
            releases.append(AirflowRelease(version: fields[0], releaseDate: fields[1].isEmpty ? nil : fields[1],
                                           requiresPython: fields[2].isEmpty ? nil : fields[2],
                                           yanked: fields[3].lowercased() == "true"))
        }
        return releases
    }

    /// Reads PyPI's JSON API answer for `apache-airflow` (`https://pypi.org/pypi/apache-airflow/json`):
    /// the release list with the first upload date, `requires_python` and the yanked flag of each.
    public static func parsePyPIJSON(_ data: Data) throws(AirlockError) -> [AirflowRelease] {
        struct File: Decodable {
            var upload_time_iso_8601: String?
            var upload_time: String?
            var requires_python: String?
            var yanked: Bool?
        }
        struct Project: Decodable { var releases: [String: [File]] }
        let project: Project
        do {
            project = try JSONDecoder().decode(Project.self, from: data)
        } catch {
            throw .environment("The package index answered with an unexpected document for apache-airflow")
        }
        return project.releases.compactMap { version, files in
            guard !files.isEmpty else { return nil }
            let dates = files.compactMap { $0.upload_time_iso_8601 ?? $0.upload_time }.map { String($0.prefix(10)) }
            return AirflowRelease(version: version, releaseDate: dates.min(),
                                  requiresPython: files.compactMap(\.requires_python).first,
                                  yanked: files.allSatisfy { $0.yanked ?? false })
        }
    }
}

extension RuntimeFeed {
    /// The feed snapshot compiled into the binary.
    public static var bundled: RuntimeFeed {
        (try? RuntimeFeed.decode(Data(BundledData.runtimeFeed.utf8))) ?? RuntimeFeed()
    }
}

extension AirflowRelease {
    /// The release list compiled into the binary.
    public static var bundled: [AirflowRelease] {
        parseCSV(BundledData.airflowReleases)
    }
}

extension RuntimeCatalog {
    /// The catalog compiled into the binary: the last fallback, and what `--offline` uses without a cache.
    public static func bundled() -> RuntimeCatalog {
        RuntimeCatalog(feed: .bundled, airflowReleases: AirflowRelease.bundled)
    }
}

/// Calendar days as `YYYY-MM-DD` in UTC: release dates, `--exclude-newer`, end-of-maintenance checks.
public enum CalendarDay {
    private static let formatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter
    }()

    public static func string(from date: Date) -> String {
        formatter.string(from: date)
    }

    /// The day a `YYYY-MM-DD…` text starts with, or nil.
    public static func date(from text: String) -> Date? {
        formatter.date(from: String(text.prefix(10)))
    }
}

/// Minimal CSV field splitting (RFC 4180 quoting) for the bundled tables.
enum CSV {
    static func fields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var inQuotes = false
        var iterator = line.makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if inQuotes {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { inQuotes = false; pending = next }
                    } else {
                        inQuotes = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" {
                inQuotes = true
            } else if character == "," {
                fields.append(current); current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }
}
