/// The pause before trying again after the `n`th failure in a row: `base` ×
/// 2^(n-1), at most `cap`. A failure that lasts then costs a few tries a second
/// at first and one every `cap` after, instead of a fixed rate forever (which,
/// where a try re-produces effects, multiplies them).
public enum Backoff {
    /// The pause after the `n`th failure in a row (n ≤ 1 gives `base`).
    public static func delay(_ n: Int, base: Duration, cap: Duration) -> Duration {
        min(cap, base * (1 << min(max(n - 1, 0), 20)))
    }
}
