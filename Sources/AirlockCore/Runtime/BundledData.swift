/// Data compiled into the binary so Airlock works offline and as a last fallback.
///
/// The files live in `Sources/AirlockCore/Resources/` (provenance in its README) and are embedded by
/// SwiftPM (`.embedInCode`), so the binary and its sources cannot disagree.
public enum BundledData {
    /// The runtime feed snapshot (`runtime-feed-snapshot.json`).
    public static let runtimeFeed = text(PackageResources.runtime_feed_snapshot_json)
    /// Packages Astronomer lists per runtime image (`runtime_providers.csv`, the provider package reference).
    public static let runtimeProviders = text(PackageResources.runtime_providers_csv)
    /// Apache Airflow releases from PyPI (`airflow_releases_pypi.csv`).
    public static let airflowReleases = text(PackageResources.airflow_releases_pypi_csv)
    /// Airflow version to alembic head (`airflow_db_revision_heads.csv`).
    public static let databaseHeads = text(PackageResources.airflow_db_revision_heads_csv)
    /// ruff's Airflow 3 rules (AIR3xx): old name to new module, provider and help (`airflow_rules_from_ruff_snapshots.csv`).
    public static let ruffAirflowRules = text(PackageResources.airflow_rules_from_ruff_snapshots_csv)
    /// Airflow 2.10.5's own deprecated-import table (`airflow_shims_2.10.5.csv`).
    public static let airflowShims2105 = text(PackageResources.airflow_shims_2_10_5_csv)
    /// Airflow 3.0.6's own deprecated-import table (`airflow_shims_3.0.6.csv`).
    public static let airflowShims306 = text(PackageResources.airflow_shims_3_0_6_csv)
    /// Airflow 3.1.0's own deprecated-import table (`airflow_shims_3.1.0.csv`).
    public static let airflowShims310 = text(PackageResources.airflow_shims_3_1_0_csv)
    /// Airflow 1.10 to 2.0 class renames from `airflow upgrade_check` (`upgrade_check_1_10_renamed_classes.csv`).
    public static let upgradeCheckRenames = text(PackageResources.upgrade_check_1_10_renamed_classes_csv)

    private static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
