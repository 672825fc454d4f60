/// Counting in a sliding window: how benchmarks and tests check a rate limit.
public enum SlidingWindow {
    /// The most of `times` (sorted ascending) that fall within any `width`
    /// (`[t, t + width)`), e.g. the worst second of sends.
    public static func most(_ times: [Int64], width: Int64) -> Int {
        var worst = 0
        var lo = 0
        for hi in times.indices {
            while times[hi] - times[lo] >= width { lo += 1 }
            worst = max(worst, hi - lo + 1)
        }
        return worst
    }
}
