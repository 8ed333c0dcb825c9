/// Python programs Airlock runs inside Airflow environments, compiled into the binary from
/// `Python/Resources/` by SwiftPM (`.embedInCode`).
enum EmbeddedPython {
    /// The DAG-parse harness: Airflow's DagBag, one forked child per file, JSON out.
    static let dagParseHarness = String(decoding: PackageResources.dag_parse_harness_py, as: UTF8.self)
}
