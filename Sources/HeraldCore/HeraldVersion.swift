/// Herald's release version, shown by every executable's `--version` and in the
/// `herald_build_info` metric. Raised with each release (docs/operations.md).
public enum HeraldVersion {
    /// The version of this build.
    public static let current = "0.25.0"
}
