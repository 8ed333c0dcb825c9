/// Airlock's own version, printed by `--version` and written into reports.
public enum AirlockVersion {
    public static let current = "0.1.0"
}
